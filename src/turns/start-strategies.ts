import { InvalidOptionError } from "../errors.js";
import { type TurnInput, TurnStrategy, countWords } from "./turn-strategy.js";

/**
 * Decides when the user's turn starts. The processor asks every start strategy about each
 * input while no turn is in progress and the user is not muted; the first that says yes starts
 * the turn (and, with interruptions on, interrupts the bot).
 */
export abstract class UserTurnStartStrategy extends TurnStrategy {
  /** Whether `input` starts the user's turn. */
  abstract shouldStart(input: TurnInput): boolean;
  /** A turn started or ended (by any strategy): forget what was counted. @default nothing */
  reset(): void {}
}

/** The VAD hearing the user start a turn (today's behaviour, the default). */
export class VADStartStrategy extends UserTurnStartStrategy {
  override shouldStart(input: TurnInput): boolean {
    return input.kind === "vad-started";
  }
}

/** Options of {@link TranscriptionStartStrategy}. */
export interface TranscriptionStartOptions {
  /** Interim transcripts start a turn too (else only finals). @default true */
  interim?: boolean;
}

/**
 * A transcript starts the turn: for speech the STT hears and the VAD missed (quiet or distant
 * speech, a VAD tuned strict). Empty transcripts start nothing. Use it beside
 * {@link VADStartStrategy}, with a stop strategy that works without a VAD stop (the speech
 * timeout): a turn started while the VAD is silent gets no VAD stop.
 */
export class TranscriptionStartStrategy extends UserTurnStartStrategy {
  readonly interim: boolean;
  constructor(options: TranscriptionStartOptions = {}) {
    super();
    this.interim = options.interim ?? true;
  }
  override shouldStart(input: TurnInput): boolean {
    return input.kind === "transcript" && (input.final || this.interim) && input.text.trim() !== "";
  }
}

/** Options of {@link MinWordsStartStrategy}. */
export interface MinWordsStartOptions {
  /** Words the user must say, while the bot speaks, before their turn starts. 1 … 100. */
  minWords: number;
}

/**
 * While the bot speaks, the user's turn (and so the interruption) starts only once `minWords`
 * words are transcribed: a cough, "uh-huh" or "right" does not cut the bot off. While the bot
 * is silent there is nothing to protect, and a VAD start (or any transcript) is enough.
 *
 * Words are counted per stretch of speech: from a VAD start, the words of final transcripts
 * add up and the latest interim counts on top (an interim is replaced by the next one); a new
 * VAD start begins a new count. So backchannels spread over the bot's answer never add up to an
 * interruption. Use it instead of {@link VADStartStrategy}, not beside it (the VAD strategy
 * would start the turn at once).
 */
export class MinWordsStartStrategy extends UserTurnStartStrategy {
  readonly minWords: number;
  #finalWords = 0;
  #interimWords = 0;

  constructor(options: MinWordsStartOptions) {
    super();
    const n = options?.minWords;
    if (!Number.isInteger(n) || n < 1 || n > 100) {
      throw new InvalidOptionError(
        `MinWordsStartStrategy: minWords must be a whole number of words from 1 to 100 (got ${String(n)})`,
      );
    }
    this.minWords = n;
  }

  override shouldStart(input: TurnInput): boolean {
    if (input.kind === "vad-started") {
      this.reset();
      return !this.host.botSpeaking;
    }
    if (input.kind !== "transcript") return false;
    const words = countWords(input.text);
    if (input.final) {
      this.#finalWords += words;
      this.#interimWords = 0;
    } else {
      this.#interimWords = words;
    }
    if (!this.host.botSpeaking) return words > 0;
    return this.#finalWords + this.#interimWords >= this.minWords;
  }

  override reset(): void {
    this.#finalWords = 0;
    this.#interimWords = 0;
  }
}
