import type { RawData } from "ws";
import { describe } from "../../errors.js";
import { InputAudioRawFrame } from "../../frames/audio.js";
import { FrameDirection } from "../../frames/frame.js";
import { ErrorFrame } from "../../frames/error.js";
import { CancelTaskFrame, EndTaskFrame } from "../../frames/lifecycle.js";
import type { Logger } from "../../logger.js";
import { deserializeGuarded } from "../../serializers/frame-serializer.js";
import { BaseInputTransport } from "../base-input-transport.js";
import type { ConnectionLease } from "../transport-connection.js";
import type { TransportParams } from "../transport-params.js";
import {
  type ClientDisconnectAction,
  MAX_EARLY_BYTES,
  MAX_EARLY_MESSAGES,
  type RefusedMessageReason,
} from "./websocket-options.js";
import type { WebSocketTransport } from "./websocket-transport.js";

/** Input side of {@link WebSocketTransport}: turns the client's messages into frames. */
export class WebSocketInputTransport extends BaseInputTransport {
  readonly #transport: WebSocketTransport;
  #lease: ConnectionLease | undefined;
  #endRequested = false;
  #closed = false;

  constructor(
    transport: WebSocketTransport,
    params: Partial<TransportParams> | undefined,
    options: { name: string },
  ) {
    super(params, options);
    this.#transport = transport;
  }

  protected override open(): void {
    this.#lease = this.#transport.connection.acquire(this.name);
    this.#transport.opened(this.clock);
  }

  protected override async close(): Promise<void> {
    // The task is ending already: a disconnect from here on needs no request of its own, and
    // what the client still sends (its microphone runs until it hears of the end) is not news.
    this.#endRequested = true;
    this.#closed = true;
    await this.#lease?.release(`${this.name} closed`);
  }

  /** The task is done with this transport: a socket no side ever took (cancelled before it started) is closed here. */
  protected override async dispose(): Promise<void> {
    this.#endRequested = true;
    await this.#transport.disposed();
  }

  /**
   * @internal One message from the socket. Never throws. `admitted`: held since before the
   * pipeline started, it is not counted against the rate limit (the client sent it over time).
   */
  receive(data: RawData, isBinary: boolean, options: { admitted?: boolean } = {}): void {
    if (this.#closed) return;
    const transport = this.#transport;
    if (!options.admitted && !transport.admit()) {
      this.#refuse(
        "rate-limited",
        `more than maxMessagesPerSecond messages in a second; the excess is dropped (raise maxMessagesPerSecond if the client is right to send that many)`,
      );
      return;
    }
    const bytes = toBytes(data);
    const message = isBinary ? bytes : bytes.toString("utf8");
    const result = deserializeGuarded(transport.serializer, message);
    if (!result.ok) {
      this.#refuse(result.error.reason, result.error.message);
      return;
    }
    for (const frame of result.frames) {
      if (frame instanceof EndTaskFrame || frame instanceof CancelTaskFrame || frame instanceof ErrorFrame) {
        this.#toTask(frame);
        continue;
      }
      try {
        const pushed =
          frame instanceof InputAudioRawFrame
            ? this.pushAudio(frame.audio, frame.sampleRate, frame.numChannels)
            : this.pushInput(frame);
        pushed.catch((error: unknown) =>
          this.logger.error(`${this.name}: pushing ${frame.name} failed: ${describe(error)}`),
        );
      } catch (error) {
        this.#refuse("invalid", `${frame.name} cannot be pushed: ${describe(error)}`);
      }
    }
  }

  /**
   * A frame for the task from the serializer (a telephony stream's `stop`, a media format it
   * cannot decode): pushed upstream, to the task, not through the pipeline. A request to end
   * counts as the end request, so the socket closing next does not also cancel. It also means
   * the client ended its stream and plays nothing more: the connection closes for the output,
   * which stops at once (as when the socket closes) instead of sending what is still queued
   * into a stream that is over; the socket itself closes when the task ends.
   */
  #toTask(frame: EndTaskFrame | CancelTaskFrame | ErrorFrame): void {
    if (frame instanceof ErrorFrame) {
      const say = frame.fatal ? "error" : "warn";
      this.logger[say](`${this.name}: ${frame.error.message}`, { processor: this.name });
    } else {
      if (this.#endRequested) return;
      this.#endRequested = true;
      this.#transport.clientEnded();
      this.#transport.connection.close(`the client ended its stream (${frame.reason ?? frame.name})`);
    }
    Promise.resolve()
      .then(() => this.pushFrame(frame, FrameDirection.UPSTREAM))
      .catch((error: unknown) =>
        this.logger.error(`${this.name}: pushing ${frame.name} failed: ${describe(error)}`),
      );
  }

  /** @internal Says once how many messages that came before the pipeline started were too many to hold. */
  saidEarlyOverflow(count: number): void {
    this.logger.warn(
      `${this.name}: ${count} message(s) from the client were dropped: more than ${MAX_EARLY_MESSAGES} messages ` +
        `(or ${MAX_EARLY_BYTES} bytes) came before the pipeline started. Start the pipeline sooner (load models ` +
        "before sessions start); the count is in WebSocketTransport.refusedMessages",
      { processor: this.name },
    );
  }

  /** @internal The client is gone: ask the task to end as configured (once). */
  requestEnd(action: ClientDisconnectAction, reason: string): void {
    if (action === "none" || this.#endRequested) return;
    this.#endRequested = true;
    const frame = action === "cancel" ? new CancelTaskFrame(reason) : new EndTaskFrame(reason);
    Promise.resolve()
      .then(() => this.pushFrame(frame, FrameDirection.UPSTREAM))
      .catch((error: unknown) =>
        this.logger.error(`${this.name}: asking the task to end failed: ${describe(error)}`),
      );
  }

  #refuse(reason: RefusedMessageReason, message: string): void {
    if (!this.#transport.refuse(reason)) return;
    const logger: Logger = this.logger;
    logger.warn(
      `${this.name}: a message from the client was dropped: ${message}. Later ${reason} messages are dropped ` +
        "without a log line and counted (WebSocketTransport.refusedMessages)",
      { processor: this.name },
    );
  }
}

/** The bytes of one ws message, whatever form ws delivered it in. */
export function toBytes(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
