import type { IncomingMessage } from "node:http";
import type { WebSocket } from "ws";
import type { Clock } from "../clock/clock.js";
import { InvalidOptionError, VoicepipeError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { TelephonyProvider } from "../serializers/telephony/telephony-serializer.js";
import type { CallStreamOptions } from "../telephony/stream-url.js";

/** One WebSocket session, as the server sees it. */
export interface DevSession {
  /** Process-unique, increasing from 1; for logs. */
  readonly id: number;
  /**
   * Aborted when the session should end by its normal end path, soon: the server started
   * closing, or the session reached `sessionTimeoutMs`. The reason says which.
   */
  readonly closing: AbortSignal;
  /** Aborted when the grace period after `closing` is over; the socket is closed (1001) at the same moment. */
  readonly cancelled: AbortSignal;
  /**
   * The telephony provider whose media stream this socket is (it came on
   * `/telephony/<provider>/ws`); undefined for a browser session (`/ws`). Give the socket to
   * `answerCall(socket, session.telephony)` (`voicepipe/telephony`).
   */
  readonly telephony?: TelephonyProvider;
  /**
   * What the stream's URL chose, with `telephony` (Exotel's `?sample-rate=`, checked at the
   * upgrade: a rate Exotel does not stream at is refused with 400). Give it to `answerCall(socket,
   * session.telephony, { stream: session.telephonyStream })`, so the call is read and answered at that rate.
   */
  readonly telephonyStream?: CallStreamOptions;
}

/**
 * Runs one session on an upgraded socket (the WebSocket transport plugs in here). The session
 * lasts until the socket has closed and the returned promise (if any) has settled; a handler that
 * throws or rejects is logged and its socket terminated.
 */
export type SessionHandler = (
  socket: WebSocket,
  request: IncomingMessage,
  session: DevSession,
) => void | Promise<void>;

/** Options of {@link startDevServer}. */
export interface DevServerOptions {
  /** Called once per accepted WebSocket on `/ws`. Required unless `workers` is set (then leave it out). */
  onSession?: SessionHandler;
  /**
   * Runs the sessions on worker threads instead of the main thread, each worker with its own
   * WebSocket listener on the same host; the main thread keeps the page and `POST /start`, which
   * names the least-loaded worker's socket URL. @default none: sessions on the main thread
   */
  workers?: DevServerWorkers;
  /** Interface to listen on. @default "127.0.0.1" (loopback only) */
  host?: string;
  /** TCP port; 0 picks a free one. @default 7860 */
  port?: number;
  /** Most sessions at once; further `POST /start` and upgrades get 503. @default 20 */
  maxSessions?: number;
  /** When set, `POST /start` and the upgrade need `Authorization: Bearer <token>` (or `?token=` on the socket); else 401. */
  token?: string;
  /**
   * Origins (`scheme://host:port`) allowed to call `/start` and open the socket, besides the
   * server's own loopback origins. A request without `Origin` (not a browser) is allowed: use
   * `token` to guard those. A browser request from any other origin gets 403.
   */
  allowedOrigins?: readonly string[];
  /** Folder of the built page. @default `<package>/dist/client` */
  clientDir?: string;
  /**
   * Longest a session may last, in ms; then its `closing` aborts, and `sessionGraceMs` later its
   * `cancelled` (and its socket closes). `null`: no limit. @default 1800000 (30 minutes)
   */
  sessionTimeoutMs?: number | null;
  /** How long a session that reached `sessionTimeoutMs` gets to end on its own, in ms. @default 5000 */
  sessionGraceMs?: number;
  /** Largest WebSocket message accepted, in bytes (ws `maxPayload`). @default 262144 (the protobuf serializer's) */
  maxMessageBytes?: number;
  /**
   * Phone calls: each provider's answer route and media-stream socket (`/telephony/<provider>`,
   * `/telephony/<provider>/ws`), their signatures and tickets (docs/design/dev-server.md, "Phone
   * calls"). `false` turns the routes off (404). With `workers` they answer 503: a tunnel reaches
   * one port, and sessions would be on the workers' own. @default {} (on, no secrets: open unless `token` is set)
   */
  telephony?: DevServerTelephony | false;
  /** Clock for the close deadlines, the session time limit and the telephony tickets (session workers use a SystemClock each). @default a new SystemClock */
  clock?: Clock;
  /** @default silentLogger */
  logger?: Logger;
}

/**
 * Phone calls on the development server. Each provider's secret, when given, makes its answer
 * route check the provider's signature and its stream URL carry a single-use ticket
 * (docs/design/dev-server.md, "Phone calls").
 */
export interface DevServerTelephony {
  /**
   * Where providers reach this server (a tunnel's `https://host`, an origin with no path): answer
   * documents name it, and signatures are checked against it. `runDevServer` reads
   * `--public-url` or `VOICEPIPE_PUBLIC_URL`. @default the request's own: `X-Forwarded-Proto` and
   * `X-Forwarded-Host` (what a tunnel sets), else the `Host` header and whether the connection is TLS
   */
  publicUrl?: string;
  /** Twilio's Auth Token (`TWILIO_AUTH_TOKEN`): `POST /telephony/twilio` then needs a valid `X-Twilio-Signature`. */
  twilio?: { authToken?: string };
  /** Telnyx's account public key (`TELNYX_PUBLIC_KEY`, base64 or PEM): `POST /telephony/telnyx` then needs a valid, fresh `telnyx-signature-ed25519`. */
  telnyx?: { publicKey?: string };
  /** Plivo's Auth Token (`PLIVO_AUTH_TOKEN`): `POST /telephony/plivo` then needs a valid `X-Plivo-Signature-V3`. */
  plivo?: { authToken?: string };
  /**
   * Vonage's signature secret (`VONAGE_SIGNATURE_SECRET`; dashboard, API settings): the answer route
   * then needs a valid, fresh `Authorization: Bearer` JWT whose `payload_hash` fits the request.
   */
  vonage?: { signatureSecret?: string };
  /** Largest message on a telephony socket, in bytes (ws `maxPayload`). @default 131072 (the telephony serializers') */
  maxMessageBytes?: number;
  /** How long the stream URL of an answer document stays valid, in ms (the provider connects within a second or two). @default 60000 */
  ticketTtlMs?: number;
}

/** One provider's route, as {@link DevServer.telephonyEndpoints} lists it: what to paste where. */
export interface DevServerTelephonyEndpoint {
  readonly provider: TelephonyProvider;
  /** Where it goes in the provider's console. */
  readonly where: string;
  /** `POST`/`GET` for an answer route; `WebSocket` for Exotel, whose applet takes the stream URL itself. */
  readonly method: "POST" | "GET" | "WebSocket";
  /** The URL, on `publicUrl` when set, else on the server's own address (which a provider cannot reach without a tunnel). */
  readonly url: string;
  /**
   * What guards it: the provider's `signature`; the server's `token` (append `?token=<token>` to
   * the URL); or nothing (`open`).
   */
  readonly guard: "signature" | "token" | "open";
}

/**
 * Session workers of the development server (docs/design/dev-server.md, "Sessions on worker
 * threads"). A function cannot cross to a worker thread, so the handler comes from a module each
 * worker imports: it exports `createSessionHandler(context)` (a {@link CreateSessionHandler}).
 */
export interface DevServerWorkers {
  /** Worker threads, an integer ≥ 1. */
  count: number;
  /** The module (a path or a `file:` URL) exporting `createSessionHandler`. A `.ts` module needs tsx installed. */
  module: string | URL;
  /** Given to `createSessionHandler` in every worker; anything `structuredClone` copies. */
  data?: unknown;
  /** How long a worker may take to import the module, make its handler and listen, in ms. @default 30000 */
  startTimeoutMs?: number;
  /** After its sessions have closed, how long a worker gets to exit before it is terminated, in ms. @default 2000 */
  exitTimeoutMs?: number;
  /**
   * Most memory for the young generation of each worker's heap, in MB (Node's
   * `resourceLimits.maxYoungGenerationSizeMb`), from 6 to 1024; `null` leaves V8's own. A small one
   * collects often and briefly: a scavenge copies what is alive, so its pause grows with the space,
   * and each pause delays every session's audio on that worker. With 100 echo sessions on two
   * workers, the p99 write lateness stayed under 20 ms in 7 runs of 8 with 6 MB against 8 of 14
   * with V8's own, for 3–5 % more of the worker's time in the collector (docs/design/dev-server.md,
   * "Garbage collection on session workers"). @default 6
   */
  youngGenerationMb?: number | null;
}

/** What `createSessionHandler` gets in a session worker. */
export interface SessionWorkerContext {
  /** The worker's index, 0 to `count − 1` (a replacement keeps the index of the worker it replaces). */
  readonly index: number;
  /** `workers.data`. */
  readonly data: unknown;
  /** Writes to the server's logger on the main thread. */
  readonly logger: Logger;
}

/** The export `createSessionHandler` of a session-worker module: called once per worker thread. */
export type CreateSessionHandler = (
  context: SessionWorkerContext,
) => SessionHandler | Promise<SessionHandler>;

/** A session worker, as {@link DevServer.workers} lists it. */
export interface DevServerWorkerInfo {
  readonly index: number;
  /** The port of its WebSocket listener. */
  readonly port: number;
  /** Its live sessions. */
  readonly sessions: number;
}

/** Options of {@link DevServer.close}. */
export interface DevServerCloseOptions {
  /** How long sessions get to end on their own after `closing` aborts, in ms. @default 5000 */
  graceMs?: number;
  /** After the grace period, how long cancelled sessions get to finish, in ms, before they are abandoned. @default 2000 */
  cancelTimeoutMs?: number;
}

/** How {@link DevServer.close} went. */
export interface DevServerCloseReport {
  /** Sessions that ended within the grace period. */
  readonly ended: number;
  /** Sessions cancelled after the grace period whose handler then settled (a socket whose client did not answer the close frame is destroyed). */
  readonly cancelled: number;
  /** Sessions whose handler had still not settled `cancelTimeoutMs` after cancel (their sockets were terminated). */
  readonly abandoned: number;
}

/** A running development server. */
export interface DevServer {
  /** The page's URL, e.g. `http://127.0.0.1:7860/`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Sessions in progress (over every worker, with `workers`). */
  readonly sessions: number;
  /** The running session workers (empty without `workers`). */
  readonly workers: readonly DevServerWorkerInfo[];
  /** Session workers that crashed (or exited on their own) since the server started. */
  readonly workerCrashes: number;
  /** Sessions lost with a crashed worker since the server started. */
  readonly lostSessions: number;
  /** The telephony routes to paste into each provider's console (empty when `telephony` is off or with `workers`). */
  readonly telephonyEndpoints: readonly DevServerTelephonyEndpoint[];
  /**
   * Stops accepting (listener closed, `/start` and upgrades refused), aborts every session's
   * `closing`, waits up to `graceMs` for them to end, then aborts `cancelled`, closes their
   * sockets and waits up to `cancelTimeoutMs`; then drops every HTTP connection.
   * Guarantees: resolves within about `graceMs + cancelTimeoutMs`; nothing is left listening.
   * Idempotent: a second call returns the first call's promise. Throws `InvalidOptionError`
   * (before anything stops) when `graceMs` or `cancelTimeoutMs` is not a finite number ≥ 0.
   */
  close(options?: DevServerCloseOptions): Promise<DevServerCloseReport>;
}

/** The server could not listen (port in use, no such interface). */
export class DevServerListenError extends VoicepipeError {
  readonly code = "VP_DEV_SERVER_LISTEN";
}

/** A session worker did not start (its module failed to load, its handler failed, it could not listen, or it took too long). */
export class DevServerWorkerError extends VoicepipeError {
  readonly code = "VP_DEV_SERVER_WORKER";
}

/** Checks a session duration option of startDevServer. @internal */
export function checkDuration(
  key: string,
  value: number | null | undefined,
  how: { nullable?: boolean } = {},
): void {
  if (value === undefined || (value === null && how.nullable)) return;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 1) {
    const orNull = how.nullable ? ", or null for no limit" : "";
    throw new InvalidOptionError(
      `startDevServer: ${key} must be a number of ms ≥ 1${orNull} (got ${String(value)}); leave it out for the default`,
    );
  }
}

/** Checks a duration option of DevServer.close. @internal */
export function checkCloseDuration(key: string, value: number | undefined): void {
  if (value === undefined) return;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new InvalidOptionError(
      `DevServer.close: ${key} must be a finite number of ms ≥ 0 (got ${String(value)}); nothing was closed, call close() again with a valid value or leave it out for the default`,
    );
  }
}
