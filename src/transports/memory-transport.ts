import type { OutputAudioRawFrame } from "../frames/audio.js";
import { BaseInputTransport } from "./base-input-transport.js";
import { BaseOutputTransport } from "./base-output-transport.js";
import { BaseTransport } from "./base-transport.js";
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

/** Output side of {@link MemoryTransport}: records what it writes. */
export class MemoryOutputTransport extends BaseOutputTransport {
  /** Chunks written, oldest first (bounded by `recordLimit`). */
  readonly written: WrittenChunk[] = [];
  /** Messages sent to the "client". */
  readonly messages: Array<{ message: unknown; urgent: boolean }> = [];
  /** Calls of `writeAudioFrame`, whatever their outcome. */
  writeCalls = 0;
  #closed = false;

  constructor(
    params: Partial<TransportParams>,
    private readonly options: MemoryTransportOptions,
    name: string,
  ) {
    super(params, { name });
  }

  /** Makes every later write return false and stops the output now. */
  close(reason = "sink closed"): void {
    this.#closed = true;
    this.sinkClosed(reason);
  }

  protected override async writeAudioFrame(
    frame: OutputAudioRawFrame,
    destination: string | undefined,
  ): Promise<boolean> {
    this.writeCalls++;
    if (this.#closed) return false;
    const limit = this.options.recordLimit ?? 10_000;
    if (limit > 0) {
      if (this.written.length >= limit) this.written.shift();
      this.written.push({ frame, destination, atMs: this.clock.now() });
    }
    return this.options.sink ? this.options.sink(frame, destination) : true;
  }

  protected override sendMessage(message: unknown, urgent: boolean): void {
    if (this.messages.length < 10_000) this.messages.push({ message, urgent });
  }
}

/**
 * A transport that lives in memory: the input is fed by code, the output records what it
 * plays. For tests, examples and embedding voicepipe behind your own I/O.
 *
 * @example
 * const transport = new MemoryTransport({ params: { audioInEnabled: true, audioOutEnabled: true } });
 * const pipeline = new Pipeline([transport.input(), myBot, transport.output()]);
 * await transport.input().pushAudio(micSamples, 16000);
 */
export class MemoryTransport extends BaseTransport {
  readonly #input: MemoryInputTransport;
  readonly #output: MemoryOutputTransport;

  constructor(options: MemoryTransportOptions = {}) {
    super();
    const name = options.name ?? "memory";
    this.#input = new MemoryInputTransport(options.params, { name: `${name}-input` });
    this.#output = new MemoryOutputTransport(options.params ?? {}, options, `${name}-output`);
  }

  input(): MemoryInputTransport {
    return this.#input;
  }

  output(): MemoryOutputTransport {
    return this.#output;
  }

  /** The client went away: later writes return false and the output stops producing now. */
  closeSink(reason?: string): void {
    this.#output.close(reason);
  }
}
