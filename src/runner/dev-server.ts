import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import type { Clock, TimerHandle } from "../clock/clock.js";
import { DeadlineExceededError, deadline } from "../clock/deadline.js";
import { SystemClock } from "../clock/system-clock.js";
import { InvalidOptionError } from "../errors.js";
import { type Logger, silentLogger } from "../logger.js";
import { DEFAULT_MAX_MESSAGE_BYTES } from "../serializers/protobuf/serializer.js";
import { loadClientPage, type PageFile } from "./client-page.js";
import {
  BAD_TARGET,
  type ErrorBody,
  plainHost,
  refuseUpgrade,
  requestToken,
  requestUrl,
  sendJson,
  tokensEqual,
} from "./http-edge.js";
import {
  type DevServer,
  type DevServerCloseOptions,
  type DevServerCloseReport,
  DevServerListenError,
  type DevServerOptions,
  checkCloseDuration,
  checkDuration,
} from "./dev-server-options.js";

export { DevServerListenError } from "./dev-server-options.js";
export type {
  DevServer,
  DevServerCloseOptions,
  DevServerCloseReport,
  DevServerOptions,
  DevSession,
  SessionHandler,
} from "./dev-server-options.js";

const START_BODY_LIMIT_BYTES = 65_536;

function refusal(status: number, error: string, detail: string): { status: number; body: ErrorBody } {
  return { status, body: { error, detail } };
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
 * Starts the development server: `GET /` the page, `POST /start` → `{ wsUrl }` (plus `token` when
 * one is configured), WebSocket upgrades on `/ws` handed to `onSession`. See
 * docs/design/dev-server.md for the edges (token, origins, session cap) and shutdown.
 *
 * @example
 * const server = await startDevServer({ onSession: (socket) => runBot(socket) });
 * console.log(`open ${server.url}`);
 * process.once("SIGINT", () => void server.close({ graceMs: 3000 }));
 */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? 7860;
  const maxSessions = options.maxSessions ?? 20;
  if (typeof options.onSession !== "function")
    throw new InvalidOptionError(
      "startDevServer: onSession must be a function (socket, request, session) => …",
    );
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new InvalidOptionError(`startDevServer: port must be an integer 0–65535 (got ${String(port)})`);
  if (!Number.isInteger(maxSessions) || maxSessions < 1)
    throw new InvalidOptionError(
      `startDevServer: maxSessions must be an integer ≥ 1 (got ${String(maxSessions)})`,
    );
  checkDuration("sessionTimeoutMs", options.sessionTimeoutMs, { nullable: true });
  checkDuration("sessionGraceMs", options.sessionGraceMs);
  if (options.token !== undefined && (typeof options.token !== "string" || options.token.length === 0)) {
    throw new InvalidOptionError(
      "startDevServer: token must be a non-empty string, or left out to allow anyone on the network to start sessions",
    );
  }
  const page = await loadClientPage(options.clientDir);
  const server = new DevServerImpl(options, host, maxSessions, page);
  await server.listen(port);
  return server;
}

class DevServerImpl implements DevServer {
  readonly host: string;
  port = 0;
  readonly #options: DevServerOptions;
  readonly #maxSessions: number;
  readonly #page: ReadonlyMap<string, PageFile>;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  readonly #live = new Set<LiveSession>();
  #origins = new Set<string>();
  #nextId = 1;
  #closing: Promise<DevServerCloseReport> | undefined;

  constructor(
    options: DevServerOptions,
    host: string,
    maxSessions: number,
    page: ReadonlyMap<string, PageFile>,
  ) {
    this.#options = options;
    this.host = host;
    this.#maxSessions = maxSessions;
    this.#page = page;
    this.#clock = options.clock ?? new SystemClock();
    this.#logger = options.logger ?? silentLogger;
    this.#http = createServer({ headersTimeout: 10_000, requestTimeout: 15_000 }, (req, res) =>
      this.#onRequest(req, res),
    );
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    });
    this.#http.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.#onUpgrade(req, socket, head),
    );
    this.#http.on("clientError", (_error, socket) => socket.destroy());
  }

  get url(): string {
    return `http://${this.#urlHost()}/`;
  }

  get sessions(): number {
    return this.#live.size;
  }

  async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => {
        const hint =
          error.code === "EADDRINUSE" ? `port ${port} is in use; pass --port N or set PORT` : error.message;
        reject(
          new DevServerListenError(`development server cannot listen on ${this.host}:${port}: ${hint}`, {
            cause: error,
          }),
        );
      };
      this.#http.once("error", onError);
      this.#http.listen(port, this.host, () => {
        this.#http.off("error", onError);
        resolve();
      });
    });
    this.port = (this.#http.address() as AddressInfo).port;
    const own = ["127.0.0.1", "localhost", "[::1]"];
    if (!["0.0.0.0", "::"].includes(this.host))
      own.push(this.host.includes(":") ? `[${this.host}]` : this.host);
    this.#origins = new Set([
      ...own.map((h) => `http://${h}:${this.port}`),
      ...(this.#options.allowedOrigins ?? []),
    ]);
  }

  close(options: DevServerCloseOptions = {}): Promise<DevServerCloseReport> {
    if (this.#closing) return this.#closing;
    // Checked before anything stops: a bad value refuses the call and leaves the server as it
    // was, so a corrected call can still close it.
    checkCloseDuration("graceMs", options.graceMs);
    checkCloseDuration("cancelTimeoutMs", options.cancelTimeoutMs);
    this.#closing = this.#close(options.graceMs ?? 5000, options.cancelTimeoutMs ?? 2000);
    return this.#closing;
  }

  async #close(graceMs: number, cancelTimeoutMs: number): Promise<DevServerCloseReport> {
    const stopped = new Promise<void>((resolve) => this.#http.close(() => resolve()));
    this.#http.closeIdleConnections();
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
      this.#logger.warn(
        `dev-server: the handler of ${abandoned.length} session(s) had not settled ${cancelTimeoutMs} ms (cancelTimeoutMs) ` +
          "after its session was cancelled; abandoned (its socket is destroyed): make onSession end when `cancelled` aborts",
      );
    this.#http.closeAllConnections();
    this.#wss.close();
    try {
      await deadline(this.#clock, stopped, 1000, "the HTTP listener closing", { io: true });
    } catch (error) {
      if (!(error instanceof DeadlineExceededError)) throw error;
      this.#logger.warn(`dev-server: ${error.message}; a connection is still open`);
    }
    return { ended, cancelled: finished, abandoned: abandoned.length };
  }

  /** Waits up to `timeoutMs` for `sessions` to end; returns how many did. */
  async #waitFor(sessions: readonly LiveSession[], timeoutMs: number, what: string): Promise<number> {
    if (sessions.length === 0) return 0;
    try {
      await deadline(this.#clock, Promise.all(sessions.map((s) => s.done)), timeoutMs, what, { io: true });
    } catch (error) {
      if (!(error instanceof DeadlineExceededError)) throw error;
    }
    return sessions.filter((s) => !this.#live.has(s)).length;
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = requestUrl(req);
    if (!url) return sendJson(res, 400, BAD_TARGET, { Connection: "close" });
    const path = url.pathname === "/index.html" ? "/" : url.pathname;
    if (path === "/start") return this.#onStart(req, res, url);
    const file = this.#page.get(path);
    if (!file)
      return sendJson(res, 404, {
        error: "not-found",
        detail: `no such path: ${url.pathname}; the page is at / and sessions start with POST /start`,
      });
    if (req.method !== "GET" && req.method !== "HEAD")
      return sendJson(
        res,
        405,
        { error: "method-not-allowed", detail: `${req.method} ${path} is not allowed; use GET` },
        { Allow: "GET, HEAD" },
      );
    res.writeHead(200, {
      "Content-Type": file.type,
      "Content-Length": file.body.length,
      "Cache-Control": "no-cache",
      "X-Content-Type-Options": "nosniff",
    });
    res.end(req.method === "HEAD" ? undefined : file.body);
  }

  #onStart(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const origin = req.headers.origin;
    const cors: Record<string, string> =
      origin !== undefined && this.#origins.has(origin)
        ? { "Access-Control-Allow-Origin": origin, Vary: "Origin" }
        : {};
    const refusal = this.#refusal(req, url);
    if (refusal) return sendJson(res, refusal.status, refusal.body, cors);
    if (req.method === "OPTIONS") {
      res.writeHead(204, {
        ...cors,
        "Access-Control-Allow-Methods": "POST",
        "Access-Control-Allow-Headers": "Authorization, Content-Type",
        "Access-Control-Max-Age": "600",
      });
      return void res.end();
    }
    if (req.method !== "POST")
      return sendJson(
        res,
        405,
        { error: "method-not-allowed", detail: `${req.method} /start is not allowed; use POST` },
        { ...cors, Allow: "POST, OPTIONS" },
      );
    if (Number(req.headers["content-length"] ?? 0) > START_BODY_LIMIT_BYTES) {
      return sendJson(
        res,
        413,
        {
          error: "body-too-large",
          detail: `the /start body is over ${START_BODY_LIMIT_BYTES} bytes; send none`,
        },
        { ...cors, Connection: "close" },
      );
    }
    // The official client takes exactly { wsUrl } (and token): any other key makes connect() reject.
    const reply: { wsUrl: string; token?: string } = { wsUrl: `ws://${this.#urlHost(req)}/ws` };
    if (this.#options.token !== undefined) reply.token = this.#options.token;
    // The body (the official client sends none) is not read; Node discards it after the reply.
    sendJson(res, 200, reply, cors);
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", (error) => this.#logger.debug(`dev-server: upgrade socket error: ${error.message}`));
    const url = requestUrl(req);
    if (!url) return refuseUpgrade(socket, 400, BAD_TARGET);
    if (url.pathname !== "/ws")
      return refuseUpgrade(socket, 404, {
        error: "not-found",
        detail: `no WebSocket at ${url.pathname}; connect to /ws`,
      });
    const refusal = this.#refusal(req, url);
    if (refusal) return refuseUpgrade(socket, refusal.status, refusal.body);
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#startSession(ws, req));
  }

  /** Why a `/start` or an upgrade is refused (closing, origin, token, cap), or undefined. */
  #refusal(req: IncomingMessage, url: URL): { status: number; body: ErrorBody } | undefined {
    if (this.#closing) return refusal(503, "shutting-down", "the server is shutting down; no new sessions");
    const origin = req.headers.origin;
    if (origin !== undefined && !this.#origins.has(origin)) {
      const allowed = [...this.#origins].join(", ");
      return refusal(
        403,
        "origin-not-allowed",
        `origin ${origin} is not allowed; add it to allowedOrigins (allowed: ${allowed})`,
      );
    }
    const token = this.#options.token;
    if (token !== undefined && !tokensEqual(requestToken(req, url), token)) {
      return refusal(
        401,
        "unauthorized",
        "a valid bearer token is required: send Authorization: Bearer <token> (the page takes it as #token=<token>)",
      );
    }
    if (this.#live.size >= this.#maxSessions) {
      const why = `the server is at its limit of ${this.#maxSessions} concurrent sessions (maxSessions); try again when one ends`;
      return refusal(503, "session-limit", why);
    }
    return undefined;
  }

  #startSession(socket: WebSocket, req: IncomingMessage): void {
    // An upgrade checked before close() began can complete after it: that session never starts.
    if (this.#closing) return void socket.terminate();
    const id = this.#nextId++;
    const closing = new AbortController();
    const cancelled = new AbortController();
    const socketClosed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    socket.on("error", (error) =>
      this.#logger.debug(`dev-server: session ${id} socket error: ${error.message}`),
    );
    let handled: Promise<void>;
    try {
      handled = Promise.resolve(
        this.#options.onSession(socket, req, { id, closing: closing.signal, cancelled: cancelled.signal }),
      );
    } catch (error) {
      handled = Promise.reject(error);
    }
    handled = handled.catch((error: unknown) => {
      this.#logger.error(`dev-server: session ${id} handler failed; closing its socket`, { error });
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
    });
  }

  /** Ends `session` when it reaches `sessionTimeoutMs`: closing, then after `sessionGraceMs` cancelled. */
  #sessionTimer(session: LiveSession): TimerHandle | undefined {
    const limitMs = this.#options.sessionTimeoutMs === undefined ? 1_800_000 : this.#options.sessionTimeoutMs;
    if (limitMs === null) return undefined;
    const graceMs = this.#options.sessionGraceMs ?? 5000;
    let timer = this.#clock.setTimer(() => {
      this.#logger.info(
        `dev-server: session ${session.id} reached sessionTimeoutMs (${limitMs} ms); ending it`,
      );
      session.closing.abort(new Error(`session reached its time limit of ${limitMs} ms (sessionTimeoutMs)`));
      timer = this.#clock.setTimer(() => {
        session.cancelled.abort(new Error("session did not end within sessionGraceMs after its time limit"));
        session.socket.close(1001, "session time limit");
      }, graceMs);
    }, limitMs);
    return { cancel: () => timer.cancel() };
  }

  /** `host:port` for URLs: the request's Host when it names an allowed origin, else the listening address. */
  #urlHost(req?: IncomingMessage): string {
    const fromRequest = plainHost(req?.headers.host);
    if (fromRequest !== undefined && this.#origins.has(`http://${fromRequest}`)) return fromRequest;
    const host = ["0.0.0.0", "::"].includes(this.host)
      ? "127.0.0.1"
      : this.host.includes(":")
        ? `[${this.host}]`
        : this.host;
    return `${host}:${this.port}`;
  }
}
