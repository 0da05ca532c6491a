import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import type { Clock, TimerHandle } from "../clock/clock.js";
import { DeadlineExceededError, deadline } from "../clock/deadline.js";
import type { Logger } from "../logger.js";
import type { TelephonyProvider } from "../serializers/telephony/telephony-serializer.js";
import type { CallStreamOptions } from "../telephony/stream-url.js";
import type { DevServerCloseReport, SessionHandler } from "./dev-server-options.js";
import {
  BAD_TARGET,
  type ErrorBody,
  edgeRefusal,
  refuseUpgrade,
  requestUrl,
  sessionLimit,
} from "./http-edge.js";
import type { SessionSlots } from "./session-slots.js";
import { telephonyTarget } from "./telephony-paths.js";

/** What a {@link SessionHost} asks before it accepts a telephony media-stream socket. */
export interface TelephonySocketGate {
  /** Largest message on a telephony socket, in bytes (ws `maxPayload`). */
  readonly maxMessageBytes: number;
  /** Why the socket is refused (no valid ticket, no token), or undefined; uses the ticket up. */
  admit(
    provider: TelephonyProvider,
    ticket: string | undefined,
    req: IncomingMessage,
    url: URL,
  ): { status: number; body: ErrorBody } | undefined;
  /** What the stream's URL chose (Exotel's `?sample-rate=`), or why it is refused (asked after {@link admit}). */
  stream(
    provider: TelephonyProvider,
    url: URL,
  ): { options: CallStreamOptions } | { refused: { status: number; body: ErrorBody } };
}

/** What a {@link SessionHost} needs: the application's handler and the server's edges. */
export interface SessionHostOptions {
  onSession: SessionHandler;
  slots: SessionSlots;
  /** The allowed `Origin`s (known once the page's listener has its port). */
  origins: () => ReadonlySet<string>;
  token: string | undefined;
  maxSessions: number;
  /** `null`: no limit. */
  sessionTimeoutMs: number | null;
  sessionGraceMs: number;
  maxMessageBytes: number;
  /** Accepts telephony streams on `/telephony/<provider>/ws` when given; else those paths are 404. */
  telephony?: TelephonySocketGate;
  clock: Clock;
  logger: Logger;
}

interface LiveSession {
  readonly id: number;
  readonly socket: WebSocket;
  /** The handler's promise has settled (the session may still wait for its socket to close). */
  handlerSettled: boolean;
  readonly closing: AbortController;
  readonly cancelled: AbortController;
  readonly done: Promise<void>;
}

/**
 * The sessions of one thread: checks and accepts WebSocket upgrades on `/ws` (and, with a
 * telephony gate, on `/telephony/<provider>/ws`), runs the
 * application's handler for each, ends a session at its time limit, and closes them all with a
 * grace period. The development server has one on its main thread, or one in each session worker
 * (docs/design/dev-server.md); the listener belongs to the caller, which closes it.
 */
export class SessionHost {
  readonly #options: SessionHostOptions;
  readonly #wss: WebSocketServer;
  /** Telephony streams: their own message limit. */
  readonly #telephonyWss: WebSocketServer | undefined;
  readonly #live = new Set<LiveSession>();
  #closing = false;

  constructor(options: SessionHostOptions) {
    this.#options = options;
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: options.maxMessageBytes });
    if (options.telephony)
      this.#telephonyWss = new WebSocketServer({
        noServer: true,
        maxPayload: options.telephony.maxMessageBytes,
      });
  }

  /** Sessions in progress on this thread. */
  get sessions(): number {
    return this.#live.size;
  }

  /** Why a request (`/start` or an upgrade) is refused, or undefined; `authorize` replaces the token check (telephony). */
  refusal(
    req: IncomingMessage,
    url: URL,
    authorize?: () => { status: number; body: ErrorBody } | undefined,
  ): { status: number; body: ErrorBody } | undefined {
    const { slots, token, maxSessions } = this.#options;
    return edgeRefusal(req, url, {
      closing: this.#closing || slots.closing,
      origins: this.#options.origins(),
      token,
      ...(authorize ? { authorize } : {}),
      live: slots.live,
      maxSessions,
    });
  }

  /** An upgrade request: refused with a status and a JSON body, or a session started on it. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const { logger, slots, telephony } = this.#options;
    socket.on("error", (error) => logger.debug(`dev-server: upgrade socket error: ${error.message}`));
    const url = requestUrl(req);
    if (!url) return refuseUpgrade(socket, 400, BAD_TARGET);
    const target = telephonyTarget(url.pathname);
    let refused: { status: number; body: ErrorBody } | undefined;
    let call: { provider: TelephonyProvider; stream: CallStreamOptions } | undefined;
    if (url.pathname === "/ws") refused = this.refusal(req, url);
    else if (target?.kind === "socket" && telephony) {
      const { provider, ticket } = target;
      refused = this.refusal(req, url, () => {
        const denied = telephony.admit(provider, ticket, req, url);
        if (denied) return denied;
        const stream = telephony.stream(provider, url);
        if ("refused" in stream) return stream.refused;
        call = { provider, stream: stream.options };
        return undefined;
      });
    } else
      return refuseUpgrade(socket, 404, {
        error: "not-found",
        detail:
          target?.kind === "unknown"
            ? target.detail
            : `no WebSocket at ${url.pathname}; connect to /ws${telephony ? " (phone calls: /telephony/<provider>/ws)" : ""}`,
      });
    if (refused) return refuseUpgrade(socket, refused.status, refused.body);
    // The cap is checked above and taken here: between two threads only the atomic take is exact.
    if (!slots.tryTake(this.#options.maxSessions))
      return refuseUpgrade(socket, 503, sessionLimit(this.#options.maxSessions));
    let held = true;
    const wss = call === undefined ? this.#wss : this.#telephonyWss!;
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (!held) return void ws.terminate();
      held = false;
      this.#start(ws, req, call);
    });
    // ws answers a handshake it cannot complete itself and never calls back: the slot goes back.
    if (held) {
      held = false;
      slots.release();
    }
  }

  /**
   * Aborts every session's `closing`, waits up to `graceMs` for them to end, then aborts
   * `cancelled`, closes their sockets (1001) and waits up to `cancelTimeoutMs`; sockets still
   * open after that are destroyed. Upgrades are refused from the first call.
   */
  async close(graceMs: number, cancelTimeoutMs: number): Promise<DevServerCloseReport> {
    this.#closing = true;
    const { logger } = this.#options;
    const all = [...this.#live];
    for (const session of all) session.closing.abort(new Error("development server closing"));
    const ended = await this.#waitFor(all, graceMs, "sessions ending after the server began to close");
    const left = all.filter((s) => this.#live.has(s));
    for (const session of left) {
      session.cancelled.abort(new Error("development server closed: grace period over"));
      session.socket.close(1001, "server shutting down");
    }
    await this.#waitFor(left, cancelTimeoutMs, "cancelled sessions finishing");
    // A handler that settled on a socket whose client never answered the close frame is the
    // client's fault, not the application's: its socket is destroyed and it counts as cancelled.
    const abandoned = left.filter((s) => this.#live.has(s) && !s.handlerSettled);
    for (const session of left) if (this.#live.has(session)) session.socket.terminate();
    const finished = left.length - abandoned.length;
    if (abandoned.length > 0)
      logger.warn(
        `dev-server: the handler of ${abandoned.length} session(s) had not settled ${cancelTimeoutMs} ms (cancelTimeoutMs) ` +
          "after its session was cancelled; abandoned (its socket is destroyed): make onSession end when `cancelled` aborts",
      );
    this.#wss.close();
    this.#telephonyWss?.close();
    return { ended, cancelled: finished, abandoned: abandoned.length };
  }

  /** Waits up to `timeoutMs` for `sessions` to end; returns how many did. */
  async #waitFor(sessions: readonly LiveSession[], timeoutMs: number, what: string): Promise<number> {
    if (sessions.length === 0) return 0;
    try {
      await deadline(this.#options.clock, Promise.all(sessions.map((s) => s.done)), timeoutMs, what, {
        io: true,
      });
    } catch (error) {
      if (!(error instanceof DeadlineExceededError)) throw error;
    }
    return sessions.filter((s) => !this.#live.has(s)).length;
  }

  #start(
    socket: WebSocket,
    req: IncomingMessage,
    call: { provider: TelephonyProvider; stream: CallStreamOptions } | undefined,
  ): void {
    const { logger, slots } = this.#options;
    // An upgrade checked before close() began can complete after it: that session never starts.
    if (this.#closing || slots.closing) {
      slots.release();
      return void socket.terminate();
    }
    const id = slots.nextId();
    const closing = new AbortController();
    const cancelled = new AbortController();
    const socketClosed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    socket.on("error", (error) => logger.debug(`dev-server: session ${id} socket error: ${error.message}`));
    let handled: Promise<void>;
    try {
      handled = Promise.resolve(
        this.#options.onSession(socket, req, {
          id,
          closing: closing.signal,
          cancelled: cancelled.signal,
          ...(call ? { telephony: call.provider, telephonyStream: call.stream } : {}),
        }),
      );
    } catch (error) {
      handled = Promise.reject(error);
    }
    handled = handled.catch((error: unknown) => {
      logger.error(`dev-server: session ${id} handler failed; closing its socket`, { error });
      socket.terminate();
    });
    const session: LiveSession = {
      id,
      socket,
      handlerSettled: false,
      closing,
      cancelled,
      done: Promise.all([socketClosed, handled]).then(() => undefined),
    };
    void handled.then(() => (session.handlerSettled = true));
    this.#live.add(session);
    const timeout = this.#sessionTimer(session);
    void session.done.then(() => {
      timeout?.cancel();
      this.#live.delete(session);
      slots.release();
    });
  }

  /** Ends `session` when it reaches `sessionTimeoutMs`: closing, then after `sessionGraceMs` cancelled. */
  #sessionTimer(session: LiveSession): TimerHandle | undefined {
    const { sessionTimeoutMs: limitMs, sessionGraceMs: graceMs, clock, logger } = this.#options;
    if (limitMs === null) return undefined;
    let timer = clock.setTimer(() => {
      logger.info(`dev-server: session ${session.id} reached sessionTimeoutMs (${limitMs} ms); ending it`);
      session.closing.abort(new Error(`session reached its time limit of ${limitMs} ms (sessionTimeoutMs)`));
      timer = clock.setTimer(() => {
        session.cancelled.abort(new Error("session did not end within sessionGraceMs after its time limit"));
        session.socket.close(1001, "session time limit");
      }, graceMs);
    }, limitMs);
    return { cancel: () => timer.cancel() };
  }
}
