import { SystemFrame } from "./frame.js";
import { OutputTransportMessageUrgentFrame } from "./transport-messages.js";

/**
 * The envelope of every RTVI message, both ways (docs/design/rtvi.md): `label` is always
 * `"rtvi-ai"`; a reply reuses the `id` of the request it answers.
 */
export interface RTVIMessage {
  readonly label: "rtvi-ai";
  readonly type: string;
  readonly id: string;
  readonly data?: unknown;
}

/**
 * An RTVI message on its way to the client, sent by the output transport as soon as it arrives
 * (ahead of queued audio). Unlike a plain `OutputTransportMessageUrgentFrame` it is
 * uninterruptible, so a lane over its bound never drops it: the client protocol must not lose a
 * message whatever the audio traffic (docs/design/rtvi.md).
 */
export class RTVIOutputMessageFrame extends OutputTransportMessageUrgentFrame {
  static override readonly uninterruptible = true;
  declare readonly message: RTVIMessage;
  constructor(message: RTVIMessage) {
    super(message);
  }
}

/**
 * The client said `client-ready` and the bot answered `bot-ready`: output meant for the client may
 * flow. Pushed downstream by the RTVI processor once per session; `RTVIOutputGate` opens on it.
 */
export class RTVIClientReadyFrame extends SystemFrame {
  constructor(
    /** The RTVI protocol version the client declared, e.g. `"2.1.0"`. */
    readonly version: string,
    /** What the client said about itself (`data.about` of `client-ready`), as sent. */
    readonly about: unknown,
  ) {
    super();
  }
}

/**
 * One `client-message` request from the client. It gets exactly one reply: the first of
 * {@link respond}, {@link fail}, or the RTVI processor's `clientMessageTimeoutMs` (an
 * `error-response` saying nobody answered).
 */
export interface RTVIClientRequest {
  /** The request's `id`; the reply carries it. */
  readonly id: string;
  /** The application's message type (`data.t`). */
  readonly type: string;
  /** The application's payload (`data.d`), as sent; `undefined` when absent. */
  readonly data: unknown;
  /** Whether the request has had its reply. */
  readonly answered: boolean;
  /**
   * Replies with `server-response` `{ t, d: data }`. Returns false (and sends nothing) if already
   * answered. `data` goes out as JSON: data JSON cannot hold (a cycle, a BigInt) answers the
   * client with an `error-response` saying so instead, and returns false.
   */
  respond(data?: unknown): boolean;
  /** Replies with `error-response` `{ error }`. Returns false (and sends nothing) if already answered. */
  fail(error: string): boolean;
}

/**
 * A `client-message` from the client, pushed downstream so a processor can answer it (the RTVI
 * processor's `clientMessage` event carries the same request).
 */
export class RTVIClientMessageFrame extends SystemFrame {
  constructor(readonly request: RTVIClientRequest) {
    super();
  }
}

/**
 * Push one (either way, from any processor) to send the client a `server-message` with `data`.
 * The RTVI observer turns it into the message; it never reaches the client as a frame.
 */
export class RTVIServerMessageFrame extends SystemFrame {
  constructor(readonly data: unknown) {
    super();
  }
}
