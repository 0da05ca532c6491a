import { type OutputAudioRawFrame } from "../../frames/audio.js";
import { type Frame } from "../../frames/frame.js";
import { InterruptionFrame } from "../../frames/lifecycle.js";
import {
  BaseOutputTransport,
  type OutputCloseReason,
  type OutputOpenInfo,
} from "../base-output-transport.js";
import type { SerializedMessage } from "../../serializers/frame-serializer.js";
import type { TransportConnection } from "../transport-connection.js";
import type { TransportParams } from "../transport-params.js";
import type { WebSocketTransport } from "./websocket-transport.js";

const WRITTEN = Promise.resolve(true);
const NOT_WRITTEN = Promise.resolve(false);

/** Output side of {@link WebSocketTransport}: writes frames through the serializer. */
export class WebSocketOutputTransport extends BaseOutputTransport {
  readonly #transport: WebSocketTransport;

  constructor(
    transport: WebSocketTransport,
    params: Partial<TransportParams>,
    options: { name: string; connection: TransportConnection },
  ) {
    super(params, options);
    this.#transport = transport;
  }

  protected override async open(_info: OutputOpenInfo): Promise<void> {
    this.#transport.setClock(this.clock);
    await this.#transport.serializer.setup?.({
      audioInSampleRate: this.#transport.input().pipelineSampleRate,
      audioOutSampleRate: this.sampleRate,
    });
  }

  /** At the end (everything played), the transport's `beforeEndClose` hooks run before the socket closes. */
  protected override async close(reason: OutputCloseReason): Promise<void> {
    if (reason === "end") await this.#transport.endingByServer(this.clock, this.params.closeTimeoutMs);
  }

  // Not `async`: a chunk goes out dozens of times a second per session, and an async function
  // that only forwards a promise costs promises and microtask turns of its own. The sender's
  // writer takes a synchronous throw (from the serializer) as it takes a rejection.
  protected override writeAudio(frame: OutputAudioRawFrame): Promise<boolean> {
    if (this.sinkClosed) return NOT_WRITTEN;
    return this.#send(this.#transport.serializer.serialize(frame));
  }

  protected override async writeFrame(frame: Frame): Promise<void> {
    if (this.sinkClosed) return;
    await this.#send(this.#transport.serializer.serialize(frame));
  }

  protected override async clearClientBuffer(): Promise<void> {
    if (this.sinkClosed) return;
    // The serializer decides whether this client understands an interruption message.
    const data = this.#transport.serializer.serialize(new InterruptionFrame());
    if (data === undefined) return;
    if (await this.#send(data)) this.#transport.clearsSent++;
  }

  /** Sends what the serializer made, in order; false when a send failed (the socket is gone). */
  #send(data: SerializedMessage | readonly SerializedMessage[] | undefined): Promise<boolean> {
    if (data === undefined) return WRITTEN;
    if (!Array.isArray(data)) return this.clock.track(this.#transport.send(data as SerializedMessage));
    return this.#sendAll(data as readonly SerializedMessage[]);
  }

  async #sendAll(data: readonly SerializedMessage[]): Promise<boolean> {
    for (const message of data) {
      if (!(await this.clock.track(this.#transport.send(message)))) return false;
    }
    return true;
  }
}
