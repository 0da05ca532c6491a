import type { OutputAudioRawFrame } from "../frames/audio.js";
import type { Frame } from "../frames/frame.js";
import {
  OutputTransportMessageFrame,
  OutputTransportMessageUrgentFrame,
} from "../frames/transport-messages.js";
import { BaseInputTransport } from "./base-input-transport.js";
import { BaseOutputTransport } from "./base-output-transport.js";
import { BaseTransport } from "./base-transport.js";
import type { PacerFactory } from "./pacer.js";
import { TransportConnection } from "./transport-connection.js";
import type { TransportParams } from "./transport-params.js";

/** A chunk the memory transport's output wrote. */
export interface WrittenChunk {
  readonly frame: OutputAudioRawFrame;
  readonly destination: string | undefined;
  /** Task-clock time of the write, in ms. */
  readonly atMs: number;
}

/** Options of {@link MemoryTransport}. */
export interface MemoryTransportOptions {
  params?: Partial<TransportParams>;
  /**
   * Where written audio goes, after it is recorded. Return false for a closed sink. May be
   * async, may throw, may never settle: the output copes with each.
   * @default accepts everything until `closeSink()`
   */
  sink?: (frame: OutputAudioRawFrame, destination: string | undefined) => boolean | Promise<boolean>;
  /**
   * Makes each destination's pacer: a sink with its own media clock (e.g. one standing in for a
   * WebRTC track) paces the output instead of the task clock. Bounded by a `PaceLimiter`.
   * @default the shared clock ticker
   */
  pacer?: PacerFactory;
  /** Keep at most this many written chunks in `output().written` (the oldest go first). 0 keeps none. @default 10000 */
  recordLimit?: number;
  /** Name prefix for the two processors. @default "memory" */
  name?: string;
}

/**
 * Input side of {@link MemoryTransport}: call `pushAudio()` (audio) or `pushInput()` (any
 * frame) to feed the pipeline, in order.
 */
export class MemoryInputTransport extends BaseInputTransport {}

/** Most messages `MemoryOutputTransport.messages` keeps. */
const MESSAGE_LIMIT = 10_000;

/** Output side of {@link MemoryTransport}: records what it writes. */
export class MemoryOutputTransport extends BaseOutputTransport {
  /** Chunks written, oldest first (bounded by `recordLimit`). */
  readonly written: WrittenChunk[] = [];
  /** Messages sent to the "client" (at most 10,000). */
  readonly messages: Array<{ message: unknown; urgent: boolean }> = [];
  /** Calls of `writeAudio`, whatever their outcome. */
  writeCalls = 0;
  /** Times the client was told to clear its buffer (interruptions), per destination ("" is the default). */
  readonly clears = new Map<string, number>();

  constructor(
    params: Partial<TransportParams>,
    private readonly options: MemoryTransportOptions,
    name: string,
    connection?: TransportConnection,
  ) {
    super(params, { name, connection, pacer: options.pacer });
  }

  protected override async writeAudio(
    frame: OutputAudioRawFrame,
    destination: string | undefined,
  ): Promise<boolean> {
    this.writeCalls++;
    if (this.sinkClosed) return false;
    const limit = this.options.recordLimit ?? 10_000;
    if (limit > 0) {
      if (this.written.length >= limit) this.written.shift();
      this.written.push({ frame, destination, atMs: this.clock.now() });
    }
    return this.options.sink ? this.options.sink(frame, destination) : true;
  }

  protected override writeFrame(frame: Frame): void {
    if (this.messages.length >= MESSAGE_LIMIT) return;
    if (frame instanceof OutputTransportMessageUrgentFrame)
      this.messages.push({ message: frame.message, urgent: true });
    else if (frame instanceof OutputTransportMessageFrame)
      this.messages.push({ message: frame.message, urgent: false });
  }

  protected override clearClientBuffer(destination: string | undefined): void {
    const key = destination ?? "";
    this.clears.set(key, (this.clears.get(key) ?? 0) + 1);
  }
}

/**
 * A transport that lives in memory: the input is fed by code, the output records what it
 * plays. For tests, examples and embedding voicepipe behind your own I/O. Both sides share one
 * {@link TransportConnection}; `closeSink()` closes it, as a client hanging up would.
 *
 * @example
 * const transport = new MemoryTransport({ params: { audioInEnabled: true, audioOutEnabled: true } });
 * const pipeline = new Pipeline([transport.input(), myBot, transport.output()]);
 * await transport.input().pushAudio(micSamples, 16000);
 */
export class MemoryTransport extends BaseTransport {
  /** The connection both sides share. */
  readonly connection: TransportConnection;
  readonly #input: MemoryInputTransport;
  readonly #output: MemoryOutputTransport;

  constructor(options: MemoryTransportOptions = {}) {
    super();
    const name = options.name ?? "memory";
    this.connection = new TransportConnection({ name });
    this.#input = new MemoryInputTransport(options.params, { name: `${name}-input` });
    this.#output = new MemoryOutputTransport(
      options.params ?? {},
      options,
      `${name}-output`,
      this.connection,
    );
  }

  input(): MemoryInputTransport {
    return this.#input;
  }

  output(): MemoryOutputTransport {
    return this.#output;
  }

  /** The client went away: the connection closes, later writes return false and the output stops producing now. */
  closeSink(reason = "sink closed"): void {
    this.connection.close(reason);
  }
}
