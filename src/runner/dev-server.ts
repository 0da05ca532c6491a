import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { Clock } from "../clock/clock.js";
import { DeadlineExceededError, deadline } from "../clock/deadline.js";
import { SystemClock } from "../clock/system-clock.js";
import { InvalidOptionError } from "../errors.js";
import { type Logger, silentLogger } from "../logger.js";
import { DEFAULT_MAX_MESSAGE_BYTES } from "../serializers/protobuf/serializer.js";
import { loadClientPage, type PageFile } from "./client-page.js";
import {
  BAD_TARGET,
  type ErrorBody,
  edgeRefusal,
  plainHost,
  refuseUpgrade,
  requestUrl,
  sendJson,
} from "./http-edge.js";
import { SessionHost } from "./session-host.js";
import { LocalSessionSlots, type SessionSlots, SharedSessionSlots } from "./session-slots.js";
import { telephonyTarget } from "./telephony-paths.js";
import { TelephonyRoutes } from "./telephony-routes.js";
import { WorkerPool, checkWorkers } from "./worker-pool.js";
import {
  type DevServer,
  type DevServerCloseOptions,
  type DevServerCloseReport,
  DevServerListenError,
  type DevServerTelephonyEndpoint,
  type DevServerWorkerInfo,
  type DevServerOptions,
  checkCloseDuration,
  checkDuration,
} from "./dev-server-options.js";

export { DevServerListenError, DevServerWorkerError } from "./dev-server-options.js";
export type {
  CreateSessionHandler,
  DevServerWorkerInfo,
  DevServerWorkers,
  SessionWorkerContext,
  DevServer,
  DevServerCloseOptions,
  DevServerCloseReport,
  DevServerOptions,
  DevServerTelephony,
  DevServerTelephonyEndpoint,
  DevSession,
  SessionHandler,
} from "./dev-server-options.js";

const START_BODY_LIMIT_BYTES = 65_536;

/** Why the telephony routes answer 503 on a server with session workers. */
const TELEPHONY_ON_WORKERS: ErrorBody = {
  error: "telephony-unavailable",
  detail:
    "phone calls are not answered by a server with session workers (a tunnel reaches one port; the workers listen on their own): run it without workers to take calls",
};

/**
 * Starts the development server: `GET /` the page, `POST /start` → `{ wsUrl }` (plus `token` when
 * one is configured), WebSocket upgrades on `/ws` handed to `onSession` (or, with `workers`, to
 * session workers, each on its own port: `/start` names the least-loaded one). Phone calls: each
 * provider's answer route (`POST /telephony/twilio`, … `GET /telephony/vonage/answer`) points the
 * call at `/telephony/<provider>/ws`, whose sockets reach `onSession` with `session.telephony`
 * set. See docs/design/dev-server.md for the edges (token, origins, session cap, signatures,
 * tickets), shutdown and the workers.
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
  if (options.workers === undefined && typeof options.onSession !== "function")
    throw new InvalidOptionError(
      "startDevServer: onSession must be a function (socket, request, session) => …",
    );
  if (options.workers !== undefined && options.onSession !== undefined)
    throw new InvalidOptionError(
      "startDevServer: give onSession or workers, not both: with workers the handler comes from workers.module (its createSessionHandler)",
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
  try {
    await server.startWorkers();
  } catch (error) {
    await server.close({ graceMs: 0, cancelTimeoutMs: 0 });
    throw error;
  }
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
  readonly #slots: SessionSlots;
  /** Sessions on this thread (no workers). */
  readonly #host: SessionHost | undefined;
  /** Sessions on worker threads. */
  readonly #pool: WorkerPool | undefined;
  /** The telephony routes (none when `telephony: false` or with workers). */
  readonly #telephony: TelephonyRoutes | undefined;
  #origins = new Set<string>();
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
    this.#telephony =
      options.telephony === false || options.workers
        ? undefined
        : new TelephonyRoutes({
            config: options.telephony ?? {},
            token: options.token,
            clock: this.#clock,
            logger: this.#logger,
            edge: (req, url) =>
              edgeRefusal(req, url, {
                closing: this.#closing !== undefined,
                origins: this.#origins,
                token: undefined,
                authorize: () => undefined,
                live: this.#slots.live,
                maxSessions: this.#maxSessions,
              }),
            listeningHost: () => this.#urlHost(),
          });
    if (options.workers) {
      const workers = checkWorkers(options.workers); // before the counters are sized by its count
      const shared = SharedSessionSlots.create(workers.count);
      this.#slots = shared;
      this.#pool = new WorkerPool(workers, shared, this.#clock, this.#logger);
    } else {
      this.#slots = new LocalSessionSlots();
      this.#host = new SessionHost({
        onSession: options.onSession!,
        slots: this.#slots,
        origins: () => this.#origins,
        token: options.token,
        maxSessions,
        sessionTimeoutMs: this.#sessionTimeoutMs(),
        sessionGraceMs: options.sessionGraceMs ?? 5000,
        maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
        ...(this.#telephony ? { telephony: this.#telephony } : {}),
        clock: this.#clock,
        logger: this.#logger,
      });
    }
    this.#http = createServer({ headersTimeout: 10_000, requestTimeout: 15_000 }, (req, res) =>
      this.#onRequest(req, res),
    );
    this.#http.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.#onUpgrade(req, socket, head),
    );
    this.#http.on("clientError", (_error, socket) => socket.destroy());
  }

  get url(): string {
    return `http://${this.#urlHost()}/`;
  }

  get sessions(): number {
    return this.#host ? this.#host.sessions : this.#slots.live;
  }

  get workers(): readonly DevServerWorkerInfo[] {
    return this.#pool?.info ?? [];
  }

  get workerCrashes(): number {
    return this.#pool?.crashes ?? 0;
  }

  get lostSessions(): number {
    return this.#pool?.lostSessions ?? 0;
  }

  get telephonyEndpoints(): readonly DevServerTelephonyEndpoint[] {
    return this.#telephony?.endpoints(this.url) ?? [];
  }

  async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => {
        const hint =
          error.code === "EADDRINUSE"
            ? `port ${port} is in use; pass --port N or set PORT`
            : error.code === "ENOTFOUND" || error.code === "EAI_AGAIN" || error.code === "EADDRNOTAVAIL"
              ? `${error.message}; --host takes an address of this machine (127.0.0.1, or 0.0.0.0 for every interface) or a name for one, without http://`
              : error.message;
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

  /** Starts the session workers, once the page's port (and so the allowed origins) is known. */
  async startWorkers(): Promise<void> {
    await this.#pool?.start({
      host: this.host,
      pageUrl: this.url,
      origins: [...this.#origins],
      token: this.#options.token,
      maxSessions: this.#maxSessions,
      sessionTimeoutMs: this.#sessionTimeoutMs(),
      sessionGraceMs: this.#options.sessionGraceMs ?? 5000,
      maxMessageBytes: this.#options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    });
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
    if (this.#slots instanceof SharedSessionSlots) this.#slots.setClosing();
    const stopped = new Promise<void>((resolve) => this.#http.close(() => resolve()));
    this.#http.closeIdleConnections();
    const report = this.#host
      ? await this.#host.close(graceMs, cancelTimeoutMs)
      : await this.#pool!.close(graceMs, cancelTimeoutMs);
    this.#http.closeAllConnections();
    try {
      await deadline(this.#clock, stopped, 1000, "the HTTP listener closing", { io: true });
    } catch (error) {
      if (!(error instanceof DeadlineExceededError)) throw error;
      this.#logger.warn(`dev-server: ${error.message}; a connection is still open`);
    }
    return report;
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = requestUrl(req);
    if (!url) return sendJson(res, 400, BAD_TARGET, { Connection: "close" });
    const path = url.pathname === "/index.html" ? "/" : url.pathname;
    if (path === "/start") return this.#onStart(req, res, url);
    const call = this.#options.telephony === false ? undefined : telephonyTarget(path);
    if (call !== undefined) {
      if (this.#telephony) return this.#telephony.handle(req, res, url, call);
      return sendJson(res, 503, TELEPHONY_ON_WORKERS);
    }
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
    let wsUrl = `ws://${this.#urlHost(req)}/ws`;
    if (this.#pool) {
      const port = this.#pool.pick();
      if (port === undefined)
        return sendJson(
          res,
          503,
          {
            error: "no-worker",
            detail:
              "no session worker is running (a replacement for a crashed one is starting); try again in a few seconds",
          },
          cors,
        );
      wsUrl = `ws://${hostWithPort(this.#urlHost(req), port)}/ws`;
    }
    // The official client takes exactly { wsUrl } (and token): any other key makes connect() reject.
    const reply: { wsUrl: string; token?: string } = { wsUrl };
    if (this.#options.token !== undefined) reply.token = this.#options.token;
    // The body (the official client sends none) is not read; Node discards it after the reply.
    sendJson(res, 200, reply, cors);
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#host) return this.#host.upgrade(req, socket, head);
    socket.on("error", (error) => this.#logger.debug(`dev-server: upgrade socket error: ${error.message}`));
    const url = requestUrl(req);
    if (!url) return refuseUpgrade(socket, 400, BAD_TARGET);
    if (this.#options.telephony !== false && telephonyTarget(url.pathname) !== undefined)
      return refuseUpgrade(socket, 503, TELEPHONY_ON_WORKERS);
    refuseUpgrade(socket, 404, {
      error: "not-found",
      detail: "sessions run on worker threads, each on its own port: POST /start for the socket's URL",
    });
  }

  /** Why a `/start` is refused (closing, origin, token, cap), or undefined. */
  #refusal(req: IncomingMessage, url: URL): { status: number; body: ErrorBody } | undefined {
    return edgeRefusal(req, url, {
      closing: this.#closing !== undefined,
      origins: this.#origins,
      token: this.#options.token,
      live: this.#slots.live,
      maxSessions: this.#maxSessions,
    });
  }

  #sessionTimeoutMs(): number | null {
    return this.#options.sessionTimeoutMs === undefined ? 1_800_000 : this.#options.sessionTimeoutMs;
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

/** `host:port` with its port replaced (an IPv6 literal keeps its brackets). */
function hostWithPort(hostPort: string, port: number): string {
  return `${hostPort.replace(/:\d+$/, "")}:${port}`;
}
