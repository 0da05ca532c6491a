import type { Clock } from "../../clock/clock.js";
import { InvalidOptionError } from "../../errors.js";
import type { Logger } from "../../logger.js";
import type { BackoffOptions } from "./backoff.js";
import { DEFAULT_PERMANENT_CLOSE_CODES, type ProviderSocketError } from "./provider-socket-error.js";

/** Something the socket can send: a string goes as a text frame, bytes as a binary frame. */
export type SocketData = string | Buffer | ArrayBuffer | ArrayBufferView;

/** A message, or a function that makes one when it is due (`undefined`: send nothing this time). */
export type SocketMessage = SocketData | (() => SocketData | undefined);

/** What {@link ProviderSocketOptions.onOpen} is told. */
export interface OpenInfo {
  /** False for the first connection, true for every one after a drop. */
  readonly reconnected: boolean;
}

/** What {@link ProviderSocketOptions.onDisconnect} is told. */
export interface DisconnectInfo {
  /** The WebSocket close code (1006: the connection dropped with no close frame). */
  readonly code: number;
  readonly reason: string;
  /** True when the socket will try again; false when it gives up (`onFailure` follows). */
  readonly willReconnect: boolean;
}

/**
 * Options of {@link ProviderSocket}: where to connect and the provider's few verbs; every
 * duration in ms of `clock`. See docs/design/provider-socket.md for the choices behind the defaults.
 */
export interface ProviderSocketOptions {
  /** The service that owns the socket (`"DeepgramSTTService"`): starts every message and log line. */
  readonly service: string;
  /** The task's clock (the service's `this.clock`). */
  readonly clock: Clock;
  /** Where transient problems are said once and counted (the service's `this.logger`). */
  readonly logger: Logger;
  /** `ws://` or `wss://` URL, query included. A function is called before every attempt. */
  readonly url: string | (() => string);
  /** Headers of the upgrade request (auth, version). A function is called before every attempt. */
  readonly headers?: Record<string, string> | (() => Record<string, string>);
  /** The env variable holding the API key (`"DEEPGRAM_API_KEY"`), named by the 401/403 message. */
  readonly apiKeyEnv?: string;
  /** The env variable holding the base URL (`"DEEPGRAM_BASE_URL"`), named by the 404/unreachable message. */
  readonly baseUrlEnv?: string;
  /** Longest wait for one attempt's upgrade (TCP, TLS, HTTP answer). @default 10000 */
  readonly connectTimeoutMs?: number;
  /** Reconnect waits and the give-up limit. */
  readonly backoff?: BackoffOptions;
  /**
   * A connection that stayed open this long resets the count of failed attempts; one that dropped
   * sooner counts as a failed attempt (a server that accepts and hangs up at once is given up on).
   * @default 5000
   */
  readonly stableAfterMs?: number;
  /**
   * The provider's keep-alive message, sent when nothing was sent for `intervalMs` (Deepgram STT:
   * `'{"type":"KeepAlive"}'` every 5000 ms; a string is a text frame). Off by default.
   */
  readonly keepAlive?: { readonly message: SocketMessage; readonly intervalMs: number };
  /**
   * WebSocket pings that find a dead server: when nothing came for `intervalMs`, ping, and treat
   * the connection as dropped when no pong or message comes within `timeoutMs`. `false` turns it
   * off. @default { intervalMs: 5000, timeoutMs: 5000 }
   */
  readonly ping?: false | { readonly intervalMs?: number; readonly timeoutMs?: number };
  /**
   * Sent by {@link ProviderSocket.close} before it waits for the server to close (Deepgram STT
   * `'{"type":"CloseStream"}'`, ElevenLabs `'{"close_socket":true}'`). Without it, close() starts
   * the close handshake itself.
   */
  readonly endOfStream?: SocketMessage;
  /** Longest wait in close() for the server's close, then the socket is destroyed. @default 1000 */
  readonly closeTimeoutMs?: number;
  /** Close codes from the server that mean retrying cannot help. @default [1002, 1003, 1007, 1008] */
  readonly permanentCloseCodes?: readonly number[];
  /** Sends are dropped (and counted) while this many bytes wait unsent: a stalled provider cannot grow memory. @default 4 MiB */
  readonly maxBufferedBytes?: number;
  /** Largest message accepted from the provider; a bigger one closes the connection (1009). @default 16 MiB */
  readonly maxMessageBytes?: number;
  /** Every message from the provider, in order; a text message's bytes are UTF-8. Must not throw (a throw is said once, counted). */
  readonly onMessage: (data: Buffer, isBinary: boolean) => void;
  /** Each connection opened, before its first message (re-send per-connection setup here). */
  readonly onOpen?: (info: OpenInfo) => void | Promise<void>;
  /** An open connection ended while running (never for the close() the owner asked for). */
  readonly onDisconnect?: (info: DisconnectInfo) => void;
  /** The socket gave up for good; called once. Without it, the error is logged once. */
  readonly onFailure?: (error: ProviderSocketError) => void;
}

/** Where a `ProviderSocket` is in its life. */
export type ProviderSocketState =
  /** Made, `start()` not called yet. */
  | "idle"
  /** An attempt to open is in flight. */
  | "connecting"
  /** Open: `send()` goes out. */
  | "open"
  /** Waiting (backoff) before the next attempt. */
  | "waiting"
  /** `close()` was called and is under way. */
  | "closing"
  /** `close()` finished. */
  | "closed"
  /** Gave up for good; `ProviderSocket.failure` says why. */
  | "failed";

/** Counters of a `ProviderSocket`, for tests, metrics and "why was this dropped?". */
export interface ProviderSocketStats {
  /** Attempts to open a connection. */
  attempts: number;
  /** Attempts that failed (refused, an HTTP error, timed out), plus connections that dropped before `stableAfterMs`. */
  failedAttempts: number;
  /** Connections opened. */
  opens: number;
  /** Connections opened after a drop. */
  reconnects: number;
  /** Open connections that ended while running (not by `close()`). */
  disconnects: number;
  /** Messages handed to the socket by `send()`. */
  sent: number;
  /** Messages `send()` refused (not open, or too much unsent). */
  droppedSends: number;
  /** Keep-alive messages sent. */
  keepAlivesSent: number;
  /** WebSocket pings sent. */
  pingsSent: number;
  /** Messages received. */
  received: number;
  /** Throws from `onMessage` or `onOpen`. */
  handlerErrors: number;
  /** Connections destroyed because the server did not close in time at `close()`. */
  terminatedAtClose: number;
}

/** The options with defaults applied and checked. */
export interface ResolvedSocketOptions {
  readonly connectTimeoutMs: number;
  readonly closeTimeoutMs: number;
  readonly stableAfterMs: number;
  readonly keepAliveIntervalMs: number | undefined;
  readonly ping: { readonly intervalMs: number; readonly timeoutMs: number } | undefined;
  readonly permanentCloseCodes: ReadonlySet<number>;
  readonly maxBufferedBytes: number;
  readonly maxMessageBytes: number;
}

/** Applies defaults and refuses a bad setting with an {@link InvalidOptionError} naming it. */
export function resolveSocketOptions(options: ProviderSocketOptions): ResolvedSocketOptions {
  const owner = options.service;
  if (typeof owner !== "string" || owner === "") {
    throw new InvalidOptionError(
      'ProviderSocket: service must name the owning service (e.g. "DeepgramSTTService")',
    );
  }
  if (typeof options.onMessage !== "function") {
    throw new InvalidOptionError(`${owner}: ProviderSocket needs an onMessage function`);
  }
  if (typeof options.url !== "string" && typeof options.url !== "function") {
    throw new InvalidOptionError(`${owner}: url must be a ws:// or wss:// URL or a function returning one`);
  }
  const ms = (setting: string, value: number | undefined, fallback: number): number => {
    const v = value ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
      throw new InvalidOptionError(
        `${owner}: ${setting} must be a finite number of ms above 0 (got ${String(v)})`,
      );
    }
    return v;
  };
  const bytes = (setting: string, value: number | undefined, fallback: number): number => {
    const v = value ?? fallback;
    if (!Number.isInteger(v) || v <= 0) {
      throw new InvalidOptionError(
        `${owner}: ${setting} must be a whole number of bytes above 0 (got ${String(v)})`,
      );
    }
    return v;
  };
  const ping =
    options.ping === false
      ? undefined
      : {
          intervalMs: ms("ping.intervalMs", options.ping?.intervalMs, 5_000),
          timeoutMs: ms("ping.timeoutMs", options.ping?.timeoutMs, 5_000),
        };
  return {
    connectTimeoutMs: ms("connectTimeoutMs", options.connectTimeoutMs, 10_000),
    closeTimeoutMs: ms("closeTimeoutMs", options.closeTimeoutMs, 1_000),
    stableAfterMs: ms("stableAfterMs", options.stableAfterMs, 5_000),
    keepAliveIntervalMs: options.keepAlive
      ? ms("keepAlive.intervalMs", options.keepAlive.intervalMs, Number.NaN)
      : undefined,
    ping,
    permanentCloseCodes: new Set(options.permanentCloseCodes ?? DEFAULT_PERMANENT_CLOSE_CODES),
    maxBufferedBytes: bytes("maxBufferedBytes", options.maxBufferedBytes, 4 * 1024 * 1024),
    maxMessageBytes: bytes("maxMessageBytes", options.maxMessageBytes, 16 * 1024 * 1024),
  };
}
