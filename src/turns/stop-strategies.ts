import type { TimerHandle } from "../clock/clock.js";
import type { InputAudioRawFrame } from "../frames/audio.js";
import { type TurnInput, TurnStrategy, checkMs } from "./turn-strategy.js";

/**
 * Decides when the user's turn ends. Every stop strategy sees every input (in a turn or not)
 * and, when it decides, calls `host.endTurn`; the first to decide ends the turn. The processor
 * calls {@link onTurnStarted} and {@link onTurnEnded} around each turn, whoever started or
 * ended it, so timers never outlive their turn.
 */
export abstract class UserTurnStopStrategy extends TurnStrategy {
  /**
   * Longest this strategy waits, after the user's last sign of speech, before it ends a turn
   * (ms). The processor's watchdog (`userTurnStopTimeoutMs`) must be longer. @default 0
   */
  get maxWaitMs(): number {
    return 0;
  }
  /** Whether the strategy wants every downstream audio frame ({@link onAudio}). @default false */
  get wantsAudio(): boolean {
    return false;
  }
  /** A user turn started. @default nothing */
  onTurnStarted(): void {}
  /** Something happened (see {@link TurnInput}); the host's state is already updated. @default nothing */
  onInput(_input: TurnInput): void {}
  /** A downstream audio frame (only if {@link wantsAudio}). @default nothing */
  onAudio(_frame: InputAudioRawFrame): void | Promise<void> {}
  /** The user turn ended (by this strategy or another): cancel what waits. @default nothing */
  onTurnEnded(): void {}
}

/** The VAD hearing the user stop ends the turn at once (today's behaviour, the default). */
export class VADStopStrategy extends UserTurnStopStrategy {
  override onInput(input: TurnInput): void {
    if (input.kind === "vad-stopped") this.host.endTurn(this.name, "the VAD heard the user stop");
  }
}

/** Options of {@link SpeechTimeoutStopStrategy}. */
export interface SpeechTimeoutOptions {
  /** Silence after the VAD stop and the last transcript that ends the turn, in ms. 0 … 10000. @default 600 */
  timeoutMs?: number;
}

/**
 * The turn ends `timeoutMs` after the user stopped, counted from the later of the VAD stop and
 * the last transcript (interim or final) that arrived while the VAD heard nothing:
 *
 * - the VAD stop starts the clock; a transcript while the VAD is silent starts it again from
 *   that transcript (the STT is still delivering the user's words);
 * - a VAD start stops the clock; transcripts while the VAD hears speech never start it;
 * - a turn that starts while the VAD is silent (started by a transcript) starts the clock at once.
 *
 * The VAD state is the processor's, read on each input and never reset by a turn boundary, so a
 * turn that starts mid-speech (a transcript or min-words start) cannot be ended by a transcript
 * while the user is still talking (the peer bug where a reset cleared the VAD state).
 */
export class SpeechTimeoutStopStrategy extends UserTurnStopStrategy {
  readonly timeoutMs: number;
  #timer: TimerHandle | undefined;

  constructor(options: SpeechTimeoutOptions = {}) {
    super();
    this.timeoutMs = checkMs("SpeechTimeoutStopStrategy", "timeoutMs", options.timeoutMs ?? 600, 0, 10_000);
  }

  override get maxWaitMs(): number {
    return this.timeoutMs;
  }

  override onTurnStarted(): void {
    if (!this.host.vadSpeaking) this.#arm();
  }

  override onInput(input: TurnInput): void {
    if (!this.host.inTurn) return;
    if (input.kind === "vad-started") this.#cancel();
    else if (input.kind === "vad-stopped") this.#arm();
    else if (input.kind === "transcript" && !this.host.vadSpeaking) this.#arm();
  }

  override onTurnEnded(): void {
    this.#cancel();
  }

  override stop(): void {
    this.#cancel();
  }

  #arm(): void {
    this.#cancel();
    this.#timer = this.host.clock.setTimer(() => {
      this.#timer = undefined;
      this.host.endTurn(this.name, `no speech or transcript for ${this.timeoutMs} ms`);
    }, this.timeoutMs);
  }

  #cancel(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }
}

/**
 * The speech-to-text provider's own end-of-turn (`STTEndOfTurnFrame`, e.g. Deepgram
 * `speech_final` / `UtteranceEnd`) ends the turn. The provider proposes; this strategy decides,
 * with the local VAD:
 *
 * - the VAD hears nothing: the turn ends now;
 * - the VAD still hears the user (a provider endpointing faster than the VAD's `stopMs`, the usual
 *   case): the turn ends at the VAD stop, unless words were transcribed after the provider's end
 *   of turn (the user went on: the turn waits for the provider's next decision, another
 *   strategy, or the watchdog).
 */
export class STTEndOfTurnStopStrategy extends UserTurnStopStrategy {
  /** The provider said the utterance ended while the VAD still heard the user. */
  #pending = false;

  override onInput(input: TurnInput): void {
    if (!this.host.inTurn) return;
    if (input.kind === "stt-end-of-turn") {
      if (!this.host.vadSpeaking) this.#end(input.cause);
      else this.#pending = true;
    } else if (input.kind === "transcript" && input.text.trim() !== "") {
      this.#pending = false;
    } else if (input.kind === "vad-stopped" && this.#pending) {
      this.#end("at the VAD stop");
    }
  }

  override onTurnEnded(): void {
    this.#pending = false;
  }

  #end(cause: string): void {
    this.#pending = false;
    this.host.endTurn(this.name, `the speech-to-text provider ended the utterance (${cause})`);
  }
}
