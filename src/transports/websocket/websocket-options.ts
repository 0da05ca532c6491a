import { InvalidOptionError } from "../../errors.js";
import type { DeserializeErrorReason, FrameSerializer } from "../../serializers/frame-serializer.js";
import type { TransportParams } from "../transport-params.js";

/**
 * Why a received message was dropped: the serializer's reasons, the per-connection rate limit, or
 * too many messages before the pipeline started.
 */
export type RefusedMessageReason = DeserializeErrorReason | "rate-limited" | "early-overflow";

/** What the transport does to the task when the client goes away. */
export type ClientDisconnectAction = "cancel" | "end" | "none";

/** Options of {@link WebSocketTransport}. Every duration is in ms of the task clock. */
export interface WebSocketTransportOptions {
  /** The wire format; one serializer per connection (it may hold per-connection state). */
  serializer: FrameSerializer;
  params?: Partial<TransportParams>;
  /** Name prefix for the two processors and the logs. @default "ws" */
  name?: string;
  /**
   * After the server's close frame, how long the client gets to answer before the socket is
   * destroyed. @default 500
   */
  closeHandshakeMs?: number;
  /** Time between pings. @default 5000 */
  pingIntervalMs?: number;
  /**
   * Pings in a row the client may leave unanswered (no pong, no message) before the socket is
   * destroyed as half-open. Detection takes at most `(maxMissedPongs + 1) × pingIntervalMs`.
   * @default 2
   */
  maxMissedPongs?: number;
  /**
   * Most messages taken from the client per second (a fixed one-second window of the task
   * clock); the rest are dropped and counted as `rate-limited`. The Pipecat web client sends
   * about 31 audio messages a second. @default 200
   */
  maxMessagesPerSecond?: number;
  /**
   * What the task is asked to do when the client goes away (socket closed or found half-open):
   * `"cancel"` pushes a `CancelTaskFrame` (nothing can reach the client any more, so nothing is
   * worth draining), `"end"` an `EndTaskFrame` (processors that record or bill finish their
   * work), `"none"` leaves it to a `clientDisconnected` handler. @default "cancel"
   */
  onClientDisconnect?: ClientDisconnectAction;
  /**
   * Messages the socket delivered before the transport existed (a telephony call's first
   * messages, read to learn who is calling), in order: they are handled first, as if they had
   * just arrived. At most {@link MAX_EARLY_MESSAGES} of them and {@link MAX_EARLY_BYTES} bytes.
   * They do not count against the caps of the messages that come on the socket before the
   * pipeline starts: those get the full caps of their own.
   */
  receivedMessages?: readonly ReceivedMessage[];
}

/** A message read from a socket: its data, and whether it came as a binary message. */
export interface ReceivedMessage {
  readonly data: Uint8Array | string;
  readonly isBinary: boolean;
}

/** Most messages held between the socket opening and the pipeline starting (about 16 s of the web client's audio). */
export const MAX_EARLY_MESSAGES = 512;
/** Most bytes held between the socket opening and the pipeline starting. */
export const MAX_EARLY_BYTES = 1 << 20;

export function positiveMs(owner: string, key: string, value: number | undefined, fallback: number): number {
  const ms = value ?? fallback;
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms <= 0) {
    throw new InvalidOptionError(
      `${owner}: ${key} must be a number of ms > 0 (got ${String(value)}); leave it out for ${fallback}`,
    );
  }
  return ms;
}

export function positiveInt(owner: string, key: string, value: number | undefined, fallback: number): number {
  const n = value ?? fallback;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidOptionError(
      `${owner}: ${key} must be a whole number ≥ 1 (got ${String(value)}); leave it out for ${fallback}`,
    );
  }
  return n;
}
