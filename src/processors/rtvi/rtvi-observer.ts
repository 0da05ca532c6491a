import { ErrorFrame } from "../../frames/error.js";
import type { Frame } from "../../frames/frame.js";
import { FrameDirection } from "../../frames/frame.js";
import type { FramePushedEvent, ObservedFrameClass, Observer } from "../../observers/observer.js";
import { BaseOutputTransport } from "../../transports/base-output-transport.js";
import type { RTVIServerEventType, RTVIServerMessageData } from "./protocol.js";
import {
  RTVI_FRAME_TYPES,
  type ServerMessageContext,
  describeFrame,
  reportedAtOutput,
} from "./server-messages.js";

/** Where the observer sends the messages it makes: the RTVI processor. @internal */
export interface RTVIMessageSink extends ServerMessageContext {
  sendEvent<T extends RTVIServerEventType>(type: T, data: RTVIServerMessageData[T]): void | Promise<void>;
}

/** Options of the RTVI observer. */
export interface RTVIObserverOptions {
  /** Message types not to send (e.g. `["bot-llm-text"]` to keep unspoken LLM text from the client). @default none */
  skip?: readonly RTVIServerEventType[];
}

/**
 * Tells the client what happens in the pipeline: turns pipeline frames into RTVI messages
 * (docs/design/rtvi.md has the table) and hands them to its RTVI processor, which sends them.
 * Get it from `RTVIProcessor.observer` and add it to the task's `observers`.
 *
 * Guarantees: lossless (it declares `frameTypes`, so none of its frames is ever dropped and audio
 * traffic never reaches it); each frame is reported once, however many processors pass it on,
 * and only the downstream twin of a broadcast; `bot-tts-text` and `bot-output` are reported where
 * the output transport releases them, in step with the audio heard; a fatal error is left to the
 * RTVI processor, which says it in the last words of the cancel it causes. Its bookkeeping is a
 * `WeakSet` of frames seen, so it holds nothing for frames that are gone: memory does not grow
 * with the length of a session.
 */
export class RTVIObserver implements Observer {
  readonly name = "RTVIObserver";
  readonly frameTypes: readonly ObservedFrameClass[] = RTVI_FRAME_TYPES;
  /** Frames already reported; weak, so a frame leaves it when it is collected. */
  readonly #seen = new WeakSet<Frame>();
  readonly #skip: ReadonlySet<string>;
  readonly #sink: RTVIMessageSink;

  /** @internal Created by the RTVI processor. */
  constructor(sink: RTVIMessageSink, options: RTVIObserverOptions = {}) {
    this.#sink = sink;
    this.#skip = new Set(options.skip ?? []);
  }

  /** @internal Whether messages of `type` are sent (not in the `skip` option). */
  reports(type: RTVIServerEventType): boolean {
    return !this.#skip.has(type);
  }

  onPushFrame(event: FramePushedEvent): void | Promise<void> {
    const { frame } = event;
    // A fatal error cancels the task: the RTVI processor says it in the cancel's last words,
    // the one path that reaches the client whatever state the pipeline is in.
    if (frame instanceof ErrorFrame && frame.fatal) return;
    // A broadcast sends twins both ways: report the one going downstream.
    if (event.direction === FrameDirection.UPSTREAM && frame.broadcastSiblingId !== undefined) return;
    if (reportedAtOutput(frame) && !(event.source instanceof BaseOutputTransport)) return;
    if (this.#seen.has(frame)) return;
    this.#seen.add(frame);
    let pending: Array<Promise<void>> | undefined;
    describeFrame(frame, this.#sink, (type, data) => {
      if (this.#skip.has(type)) return;
      const sent = this.#sink.sendEvent(type, data);
      if (sent) (pending ??= []).push(sent);
    });
    if (pending) return Promise.all(pending).then(() => undefined);
  }
}
