import { VirtualClock } from "../../src/clock/virtual-clock.js";
import { type Frame, FrameDirection } from "../../src/frames/frame.js";
import { FunctionCallsStartedFrame, type FunctionCallInfo } from "../../src/frames/function-calls.js";
import { StartFrame } from "../../src/frames/lifecycle.js";
import { UserStartedSpeakingFrame, UserStoppedSpeakingFrame } from "../../src/frames/speaking.js";
import { InterimTranscriptionFrame, TranscriptionFrame } from "../../src/frames/text.js";
import { UserMuteStartedFrame, UserMuteStoppedFrame } from "../../src/frames/user-mute.js";
import { Pipeline } from "../../src/pipeline/pipeline.js";
import { PipelineTask } from "../../src/pipeline/task.js";
import type { FrameProcessor } from "../../src/processors/frame-processor.js";
import {
  type UserTurnEvent,
  UserTurnProcessor,
  type UserTurnProcessorOptions,
} from "../../src/processors/user-turn-processor.js";
import { FrameRecorder } from "../../src/testing/frame-recorder.js";
import { type LoggedLine, memoryLogger } from "../support/logger.js";

/** A UserTurnProcessor in a running PipelineTask on a VirtualClock, between two recorders. */
export interface TurnHarness {
  readonly turns: UserTurnProcessor;
  readonly clock: VirtualClock;
  readonly task: PipelineTask;
  readonly down: FrameRecorder;
  readonly up: FrameRecorder;
  readonly lines: LoggedLine[];
  /** Turn starts and stops as the processor's events saw them, with the clock time. */
  readonly events: Array<{ kind: "start" | "stop"; atMs: number } & UserTurnEvent>;
  /** Queues frames (downstream unless said) and lets them be handled. */
  send(...frames: Array<Frame | [Frame, FrameDirection]>): Promise<void>;
  /** Moves virtual time. */
  advance(ms: number): Promise<void>;
  /** Ends the task and waits for it. */
  finish(): Promise<void>;
}

/** Starts a harness: [up recorder, ...before, UserTurnProcessor, down recorder]. */
export async function turnHarness(
  options: UserTurnProcessorOptions = {},
  before: FrameProcessor[] = [],
  clock = new VirtualClock(),
): Promise<TurnHarness> {
  const { logger, lines } = memoryLogger();
  const turns = new UserTurnProcessor(options);
  const up = new FrameRecorder(FrameDirection.UPSTREAM, { name: "up" });
  const down = new FrameRecorder(FrameDirection.DOWNSTREAM, { name: "down" });
  const task = new PipelineTask(new Pipeline([up, ...before, turns, down]), {
    clock,
    logger,
    idleTimeoutMs: null,
  });
  const events: TurnHarness["events"] = [];
  turns.on("userTurnStarted", (e) => void events.push({ kind: "start", atMs: clock.now(), ...e }));
  turns.on("userTurnStopped", (e) => void events.push({ kind: "stop", atMs: clock.now(), ...e }));
  let started = false;
  task.on("pipelineStarted", () => {
    started = true;
  });
  const done = task.run();
  await clock.runUntil(() => started, { maxMs: 60_000 });
  return {
    turns,
    clock,
    task,
    down,
    up,
    lines,
    events,
    async send(...frames) {
      for (const f of frames) {
        if (Array.isArray(f)) task.queueFrame(f[0], f[1]);
        else task.queueFrame(f);
      }
      await clock.settle();
    },
    advance: (ms) => clock.advance(ms),
    async finish() {
      void task.stopWhenDone();
      await clock.runUntil(done, { maxMs: 60_000 });
    },
  };
}

export const final = (text: string): TranscriptionFrame => new TranscriptionFrame(text, "user", 0);
export const interim = (text: string): InterimTranscriptionFrame =>
  new InterimTranscriptionFrame(text, "user", 0);
export const up = (frame: Frame): [Frame, FrameDirection] => [frame, FrameDirection.UPSTREAM];

export function call(id: string): FunctionCallInfo {
  return { functionName: "get_time", toolCallId: id, arguments: {} };
}
export const callsStarted = (...ids: string[]): FunctionCallsStartedFrame =>
  new FunctionCallsStartedFrame(ids.map(call));

/** Names of the frames of the given kinds, in order (class names). */
export function kinds(
  frames: readonly Frame[],
  ...types: Array<abstract new (...a: never[]) => Frame>
): string[] {
  return frames.filter((f) => types.some((t) => f instanceof t)).map((f) => f.constructor.name);
}

/** The user-turn and mute frames of a recorder, in order, as short names. */
export function turnFrames(frames: readonly Frame[]): string[] {
  return frames
    .filter((f) => !(f instanceof StartFrame))
    .map((f) =>
      f instanceof UserStartedSpeakingFrame
        ? "start"
        : f instanceof UserStoppedSpeakingFrame
          ? "stop"
          : f instanceof UserMuteStartedFrame
            ? "mute"
            : f instanceof UserMuteStoppedFrame
              ? "unmute"
              : "",
    )
    .filter((s) => s !== "");
}
