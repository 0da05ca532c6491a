/**
 * What a segmented STT pushes, scripted on the VirtualClock in front of a UserTurnProcessor and an
 * LLMUserAggregator: order and timing of transcription results, turn stops and starts, all
 * deterministic.
 *
 * Why frames and not the service itself: `SegmentedSTTService` waits on each request with
 * `deadline(…, { io: true })` (docs/design/clock.md), so a virtual clock fires no timer, the stop
 * strategy's included, while a transcription is in flight: on it the turn could never stop before
 * an answer. The service's own frames are checked in test/services/stt/segmented-stt-service.test.ts,
 * and the whole chain on loopback servers and the real clock in segmented-stt-turns.test.ts; here
 * the frames are the ones it pushes, in its order: the pending frame just before the VAD stop it
 * handles, the transcript (if any words) just before its settled frame.
 */
import {
  type Frame,
  type FrameDirection,
  FrameProcessor,
  LLMContext,
  LLMContextFrame,
  LLMUserAggregator,
  type LLMUserAggregatorOptions,
  SpeechTimeoutStopStrategy,
  TranscriptionFrame,
  TranscriptionPendingFrame,
  TranscriptionSettledFrame,
  UserTurnProcessor,
  VADUserStartedSpeakingFrame,
  VADUserStoppedSpeakingFrame,
} from "../../../src/index.js";
import { started } from "./support.js";

export type Event =
  | { kind: "start"; atMs: number }
  | { kind: "stop"; atMs: number }
  | { kind: "commit"; atMs: number; text: string }
  | { kind: "empty"; atMs: number }
  | { kind: "answer"; atMs: number; n: number; text: string };

/** Drops the first `count` TranscriptionSettledFrames it sees: a settled frame lost on its way. */
export class SettledDropper extends FrameProcessor {
  constructor(private count: number) {
    super({ name: "settled-dropper", direct: true });
  }
  override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
    if (frame instanceof TranscriptionSettledFrame && this.count > 0) {
      this.count--;
      return;
    }
    return super.processFrame(frame, direction);
  }
}

export interface SegmentedTurnsOptions {
  /** The stop strategy's speech timeout, in ms. @default 200 */
  speechTimeoutMs?: number;
  aggregator?: LLMUserAggregatorOptions;
  /** Processors between the (scripted) STT and the turn processor. */
  between?: FrameProcessor[];
}

const SOURCE_ID = 9_001;
const SOURCE = "scripted-stt";

/** [scripted STT frames] → UserTurnProcessor (speech timeout) → LLMUserAggregator, on a VirtualClock. */
export async function segmentedTurns(options: SegmentedTurnsOptions = {}) {
  const events: Event[] = [];
  const turns = new UserTurnProcessor({
    stopStrategies: [new SpeechTimeoutStopStrategy({ timeoutMs: options.speechTimeoutMs ?? 200 })],
  });
  const context = new LLMContext({ messages: [] });
  const user = new LLMUserAggregator(context, options.aggregator);
  const s = await started(...(options.between ?? []), turns, user);
  const now = () => s.clock.now();
  turns.on("userTurnStarted", () => void events.push({ kind: "start", atMs: now() }));
  turns.on("userTurnStopped", () => void events.push({ kind: "stop", atMs: now() }));
  user.on("userTurnCommitted", (text) => void events.push({ kind: "commit", atMs: now(), text }));
  user.on("userTurnEmpty", () => void events.push({ kind: "empty", atMs: now() }));
  let requested = 0;
  let settled = 0;
  return {
    ...s,
    turns,
    user,
    context,
    events,
    /** The VAD hears the user: `VADUserStartedSpeakingFrame`. */
    startSpeech: () => s.send(new VADUserStartedSpeakingFrame()),
    /** The VAD stop, with the request the STT sends for the segment just before it; its number. */
    async stopSpeech(): Promise<number> {
      const n = ++requested;
      await s.send(
        new TranscriptionPendingFrame(SOURCE_ID, SOURCE, requested, settled),
        new VADUserStoppedSpeakingFrame(),
      );
      return n;
    },
    /** One VAD segment of `ms`; the number of its request. */
    async speak(ms: number): Promise<number> {
      await s.send(new VADUserStartedSpeakingFrame());
      await s.clock.advance(ms);
      return this.stopSpeech();
    },
    /** Request `n` is answered with `text` (`""`: nothing heard; an error answers the same way). */
    async answer(n: number, text: string): Promise<void> {
      settled++;
      events.push({ kind: "answer", atMs: now(), n, text });
      const frames: Frame[] = [];
      if (text.trim() !== "") frames.push(new TranscriptionFrame(text, "user", now()));
      frames.push(new TranscriptionSettledFrame(SOURCE_ID, SOURCE, requested, settled));
      await s.send(...frames);
    },
    /** Silence: `ms` of virtual time. */
    pause: (ms: number) => s.clock.advance(ms),
    of: <K extends Event["kind"]>(kind: K) =>
      events.filter((e): e is Extract<Event, { kind: K }> => e.kind === kind),
    /** LLM runs asked for: `LLMContextFrame`s that left the aggregator. */
    runs: () => s.down.ofType(LLMContextFrame).length,
    async finish(): Promise<void> {
      void s.task.stopWhenDone();
      await s.clock.runUntil(s.done, { maxMs: 60_000 });
    },
  };
}
