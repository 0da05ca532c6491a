import type { FrameProcessor } from "../../src/index.js";
import {
  type Frame,
  FrameDirection,
  InputTransportMessageFrame,
  type Logger,
  MemoryOutputTransport,
  type MemoryTransportOptions,
  MemoryInputTransport,
  OutputTransportMessageFrame,
  OutputTransportMessageUrgentFrame,
  type PipelineTaskOptions,
  type TransportParams,
} from "../../src/index.js";
import type { RTVIMessage } from "../../src/frames/rtvi.js";
import { RTVIProcessor, type RTVIProcessorOptions } from "../../src/processors/rtvi/index.js";
import { FrameRecorder } from "../../src/testing/index.js";
import { startTask } from "../support/task.js";

/** 2026-11-30T12:00:00.000Z: the wall clock the RTVI tests run on. */
export const WALL_MS = Date.UTC(2026, 10, 30, 12, 0, 0);

/** An output transport that also records when (task clock) each message left. */
export class TimedMessageOutput extends MemoryOutputTransport {
  readonly sent: Array<{ message: RTVIMessage; urgent: boolean; atMs: number }> = [];
  constructor(params: Partial<TransportParams> = {}, options: MemoryTransportOptions = {}) {
    super(params, options, "test-output");
  }
  protected override writeFrame(frame: Frame): void {
    if (!(frame instanceof OutputTransportMessageFrame || frame instanceof OutputTransportMessageUrgentFrame))
      return;
    const urgent = frame instanceof OutputTransportMessageUrgentFrame;
    this.sent.push({ message: frame.message as RTVIMessage, urgent, atMs: this.clock.now() });
  }
}

/** A logger that keeps every line. */
export function recordingLogger(): Logger & { lines: Array<{ level: string; message: string }> } {
  const lines: Array<{ level: string; message: string }> = [];
  const at = (level: string) => (message: string) => void lines.push({ level, message });
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

export interface RtviHarnessOptions {
  rtvi?: RTVIProcessorOptions;
  /** Processors between the RTVI processor and the output transport. */
  middle?: FrameProcessor[];
  output?: Partial<TransportParams>;
  task?: Partial<PipelineTaskOptions>;
}

/**
 * A real PipelineTask on a VirtualClock: memory input → upstream recorder → RTVIProcessor →
 * downstream recorder → `middle` → output transport that records messages, with the RTVI
 * observer added to the task.
 */
export function startRtvi(options: RtviHarnessOptions = {}) {
  const rtvi = new RTVIProcessor({ wallClockMs: () => WALL_MS, ...options.rtvi });
  const up = new FrameRecorder(FrameDirection.UPSTREAM, { name: "up" });
  const down = new FrameRecorder(FrameDirection.DOWNSTREAM, { name: "down" });
  const output = new TimedMessageOutput(options.output);
  const input = new MemoryInputTransport({}, { name: "test-input" });
  const running = startTask([input, up, rtvi, down, ...(options.middle ?? []), output], {
    ...options.task,
    observers: [rtvi.observer, ...(options.task?.observers ?? [])],
  });
  const { task, clock } = running;
  let nextId = 1;
  return {
    ...running,
    rtvi,
    up,
    down,
    output,
    /** Messages that reached the output transport, in order. */
    messages: (): RTVIMessage[] => output.sent.map((s) => s.message),
    /** Messages of one type. */
    ofType: (type: string): RTVIMessage[] => output.sent.map((s) => s.message).filter((m) => m.type === type),
    /** Queues a client message (as the transport would) and lets it flow. */
    async send(message: unknown): Promise<void> {
      task.queueFrame(new InputTransportMessageFrame(message));
      await clock.settle();
    },
    /** Builds an RTVI client message with a fresh id. */
    client(type: string, data?: unknown, id = `c${nextId++}`): RTVIMessage {
      return data === undefined ? { label: "rtvi-ai", type, id } : { label: "rtvi-ai", type, id, data };
    },
    async ready(id = "ready-1"): Promise<void> {
      task.queueFrame(
        new InputTransportMessageFrame({
          label: "rtvi-ai",
          type: "client-ready",
          id,
          data: { version: "2.1.0", about: { library: "@pipecat-ai/client-js", library_version: "1.13.1" } },
        }),
      );
      await clock.settle();
    },
    /** Ends the task gracefully, moving virtual time until it has finished. */
    async end() {
      return clock.runUntil(task.stopWhenDone(), { maxMs: 30_000 });
    },
    async queue(...frames: Frame[]): Promise<void> {
      task.queueFrames(frames);
      await clock.settle();
    },
  };
}
