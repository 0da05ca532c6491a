import { TTSAudioRawFrame } from "../frames/audio.js";
import {
  BotStartedSpeakingFrame,
  UserStartedSpeakingFrame,
  UserStoppedSpeakingFrame,
  VADUserStartedSpeakingFrame,
  VADUserStoppedSpeakingFrame,
} from "../frames/speaking.js";
import { LLMTextFrame, TranscriptionFrame } from "../frames/text.js";
import { type EventMap, TypedEvents } from "../events.js";
import { type Logger, createConsoleLogger } from "../logger.js";
import type { FramePushedEvent, ObservedFrameClass, Observer } from "./observer.js";

/**
 * Where the time of one user turn went, from the user's last word to the first bot audio
 * written to the client (docs/design/metrics.md). Times are ms on the task clock; a stage that
 * did not happen (no VAD in the pipeline, an answer without text) is `undefined`.
 */
export interface TurnLatency {
  /** 1 for the session's first user turn, then 2, … */
  readonly turn: number;
  /** How the turn ended: the bot answered, the user spoke again first, or the session ended first. */
  readonly outcome: "answered" | "interrupted" | "unfinished";
  /**
   * When the user really went quiet: the VAD's stop time minus its stop delay (`stopMs`); the
   * VAD only says "stopped" once it has heard `stopMs` of silence.
   */
  readonly userQuietMs: number | undefined;
  /** When the VAD said the user stopped (`VADUserStoppedSpeakingFrame`). */
  readonly vadStoppedMs: number | undefined;
  /** When the turn strategies ended the user's turn (`UserStoppedSpeakingFrame`). */
  readonly userTurnEndMs: number;
  /** The last final transcript of the turn (before the answer's first text). */
  readonly transcriptMs: number | undefined;
  /** The answer's first LLM text. */
  readonly llmFirstTextMs: number | undefined;
  /** The answer's first TTS audio. */
  readonly ttsFirstAudioMs: number | undefined;
  /** The first bot audio written to the client (`BotStartedSpeakingFrame` of the output transport). */
  readonly botStartedMs: number | undefined;
  /**
   * Turn detection: user quiet → end of the user's turn (the VAD's stop delay, the speech
   * timeout, a turn model). Without a VAD stop time: undefined.
   */
  readonly turnDetectionMs: number | undefined;
  /** Everything else: end of the user's turn → first bot audio written (STT, LLM, TTS, transport). */
  readonly responseMs: number | undefined;
  /** User quiet (or, without a VAD, end of turn) → first bot audio written. */
  readonly totalMs: number | undefined;
}

/** Events of a {@link TurnLatencyObserver}. */
export interface TurnLatencyEvents extends EventMap {
  /** One user turn is over (answered, interrupted, or cut by the end of the session). */
  turnLatency: (record: TurnLatency) => void;
}

/** Options of a {@link TurnLatencyObserver}. */
export interface TurnLatencyObserverOptions {
  /** Where the line per turn goes (info level). @default a console logger at info */
  logger?: Logger;
  /** Log one line per turn. @default true */
  log?: boolean;
}

/** The turn being measured; times of its stages as they come. */
interface OpenTurn {
  vadStoppedMs: number | undefined;
  userQuietMs: number | undefined;
  userTurnEndMs: number | undefined;
  transcriptMs: number | undefined;
  llmFirstTextMs: number | undefined;
  ttsFirstAudioMs: number | undefined;
}

/**
 * Measures each user turn: user quiet → end of turn → final transcript → first LLM text →
 * first TTS audio → first bot audio written, split into turn detection and everything else
 * (docs/design/metrics.md). Emits a {@link TurnLatency} per turn (`turnLatency` event) and logs
 * one line per turn. Add it to the task's `observers`.
 *
 * Times are those of the pushes themselves (the event's `timestampMs`, taken on the frame path),
 * so the observer's own delay changes nothing. Lossless: it declares the few frame classes it
 * needs; TTS audio is among them, but only the first chunk of an answer is looked at, and the
 * rest cost a check each. It holds one turn's times and a counter: nothing grows with the
 * session.
 */
export class TurnLatencyObserver implements Observer {
  readonly name = "TurnLatencyObserver";
  readonly frameTypes: readonly ObservedFrameClass[] = [
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
    TranscriptionFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
    BotStartedSpeakingFrame,
  ];
  readonly #events: TypedEvents<TurnLatencyEvents>;
  readonly #logger: Logger;
  readonly #log: boolean;
  #turns = 0;
  /** Between the user's start and the bot's first audio (or the next start). */
  #open: OpenTurn | undefined;
  /** The latest VAD stop, kept until a turn ends (it may come before the turn's start is seen). */
  #lastVadStop: { stoppedMs: number; quietMs: number } | undefined;

  constructor(options: TurnLatencyObserverOptions = {}) {
    this.#logger = options.logger ?? createConsoleLogger("info");
    this.#log = options.log ?? true;
    this.#events = new TypedEvents<TurnLatencyEvents>(this.name, () => this.#logger);
  }

  /** Adds a handler; returns a function that removes it. */
  on<K extends keyof TurnLatencyEvents>(event: K, handler: TurnLatencyEvents[K]): () => void {
    return this.#events.on(event, handler);
  }

  /** User turns measured so far. */
  get turns(): number {
    return this.#turns;
  }

  onPushFrame(event: FramePushedEvent): void {
    const { frame, timestampMs: at } = event;
    if (frame instanceof TTSAudioRawFrame) {
      const open = this.#open;
      if (open?.userTurnEndMs !== undefined && open.ttsFirstAudioMs === undefined) open.ttsFirstAudioMs = at;
      return;
    }
    if (frame instanceof VADUserStoppedSpeakingFrame) {
      // The VAD's own times, not the push's: every twin and forward carries the same ones.
      this.#lastVadStop = { stoppedMs: frame.timestampMs, quietMs: frame.timestampMs - frame.stopMs };
    } else if (frame instanceof VADUserStartedSpeakingFrame) {
      this.#lastVadStop = undefined; // the user spoke again: that quiet was a pause
    } else if (frame instanceof UserStartedSpeakingFrame) {
      if (this.#open?.userTurnEndMs !== undefined) this.#close("interrupted", undefined);
      this.#open ??= emptyTurn();
    } else if (frame instanceof UserStoppedSpeakingFrame) {
      const open = (this.#open ??= emptyTurn());
      if (open.userTurnEndMs !== undefined) return; // its twin, or a forward
      open.userTurnEndMs = at;
      const vad = this.#lastVadStop;
      if (vad !== undefined && vad.stoppedMs <= at) {
        open.vadStoppedMs = vad.stoppedMs;
        open.userQuietMs = vad.quietMs;
      }
    } else if (frame instanceof TranscriptionFrame) {
      const open = this.#open;
      if (open !== undefined && open.llmFirstTextMs === undefined) open.transcriptMs = at;
    } else if (frame instanceof LLMTextFrame) {
      const open = this.#open;
      if (open?.userTurnEndMs !== undefined && open.llmFirstTextMs === undefined) open.llmFirstTextMs = at;
    } else if (frame instanceof BotStartedSpeakingFrame) {
      if (this.#open?.userTurnEndMs !== undefined) this.#close("answered", at);
    }
  }

  onPipelineFinished(): void {
    if (this.#open?.userTurnEndMs !== undefined) this.#close("unfinished", undefined);
    this.#open = undefined;
  }

  #close(outcome: TurnLatency["outcome"], botStartedMs: number | undefined): void {
    const open = this.#open!;
    this.#open = undefined;
    this.#lastVadStop = undefined;
    const userTurnEndMs = open.userTurnEndMs!;
    const from = open.userQuietMs ?? userTurnEndMs;
    const record: TurnLatency = {
      turn: ++this.#turns,
      outcome,
      userQuietMs: open.userQuietMs,
      vadStoppedMs: open.vadStoppedMs,
      userTurnEndMs,
      transcriptMs: open.transcriptMs,
      llmFirstTextMs: open.llmFirstTextMs,
      ttsFirstAudioMs: open.ttsFirstAudioMs,
      botStartedMs,
      turnDetectionMs: open.userQuietMs === undefined ? undefined : userTurnEndMs - open.userQuietMs,
      responseMs: botStartedMs === undefined ? undefined : botStartedMs - userTurnEndMs,
      totalMs: botStartedMs === undefined ? undefined : botStartedMs - from,
    };
    if (this.#log) this.#logger.info(describeTurn(record), { observer: this.name, turn: record.turn });
    this.#events.emit("turnLatency", record);
  }
}

function emptyTurn(): OpenTurn {
  return {
    vadStoppedMs: undefined,
    userQuietMs: undefined,
    userTurnEndMs: undefined,
    transcriptMs: undefined,
    llmFirstTextMs: undefined,
    ttsFirstAudioMs: undefined,
  };
}

/**
 * One line: `turn 3: 812 ms to first audio = turn detection 700 ms + response 112 ms
 * (transcript +20, LLM +60, TTS +90, written +112)`, offsets from the end of the user's turn.
 */
export function describeTurn(t: TurnLatency): string {
  const offset = (ms: number | undefined): string =>
    ms === undefined
      ? "–"
      : `${Math.round(ms - t.userTurnEndMs) >= 0 ? "+" : ""}${Math.round(ms - t.userTurnEndMs)}`;
  const stages = `transcript ${offset(t.transcriptMs)}, LLM ${offset(t.llmFirstTextMs)}, TTS ${offset(t.ttsFirstAudioMs)}, written ${offset(t.botStartedMs)} ms after the turn ended`;
  const detection =
    t.turnDetectionMs === undefined
      ? "turn detection ?"
      : `turn detection ${Math.round(t.turnDetectionMs)} ms`;
  if (t.outcome !== "answered") {
    const why =
      t.outcome === "interrupted"
        ? "the user spoke again before the bot"
        : "the session ended before the bot";
    return `turn ${t.turn}: no bot audio (${why}); ${detection}; ${stages}`;
  }
  return `turn ${t.turn}: ${Math.round(t.totalMs!)} ms to first bot audio = ${detection} + response ${Math.round(t.responseMs!)} ms (${stages})`;
}
