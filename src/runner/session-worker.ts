import { describe } from "../errors.js";
/**
 * The entry of a development-server session worker (a worker thread; `worker-pool.ts` starts it).
 * It imports the application's module, makes its session handler, listens for WebSocket upgrades
 * on its own port and runs its sessions with a {@link SessionHost}, as the main thread does without
 * workers. It answers the main thread's `close` with its close report, and exits when told.
 * docs/design/dev-server.md, "Sessions on worker threads".
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { type MessagePort, parentPort, workerData } from "node:worker_threads";
import { DeadlineExceededError, deadline } from "../clock/deadline.js";
import { SystemClock } from "../clock/system-clock.js";
import type { Logger } from "../logger.js";
import type { CreateSessionHandler } from "./dev-server-options.js";
import { BAD_TARGET, requestUrl, sendJson } from "./http-edge.js";
import { SessionHost } from "./session-host.js";
import { SharedSessionSlots } from "./session-slots.js";
import type { MainToWorker, SessionWorkerInit, WorkerToMain } from "./worker-messages.js";

const init = workerData as SessionWorkerInit;
const port = parentPort as MessagePort;
const post = (message: WorkerToMain): void => port.postMessage(message);

/** Lines go to the server's logger on the main thread (a logger cannot cross threads). */
function forwardingLogger(): Logger {
  const line =
    (level: "debug" | "info" | "warn" | "error") =>
    (message: string, fields?: Record<string, unknown>): void => {
      const error = fields?.error;
      post({
        type: "log",
        level,
        message: `${message}${error === undefined ? "" : `: ${describe(error)}`}`,
      });
    };
  return { debug: line("debug"), info: line("info"), warn: line("warn"), error: line("error") };
}

const logger = forwardingLogger();
const module = (await import(init.module)) as { createSessionHandler?: CreateSessionHandler };
if (typeof module.createSessionHandler !== "function")
  throw new TypeError(
    `workers.module ${init.module} exports no createSessionHandler function; export createSessionHandler(context) returning the session handler`,
  );
const onSession = await module.createSessionHandler({ index: init.index, data: init.data, logger });
if (typeof onSession !== "function")
  throw new TypeError(
    `createSessionHandler of ${init.module} returned ${typeof onSession}; it must return (or resolve to) the session handler (socket, request, session) => …`,
  );

const clock = new SystemClock();
const origins = new Set(init.origins);
const host = new SessionHost({
  onSession,
  slots: new SharedSessionSlots(init.slots, init.index),
  origins: () => origins,
  token: init.token,
  maxSessions: init.maxSessions,
  sessionTimeoutMs: init.sessionTimeoutMs,
  sessionGraceMs: init.sessionGraceMs,
  maxMessageBytes: init.maxMessageBytes,
  clock,
  logger,
});
const http = createServer({ headersTimeout: 10_000, requestTimeout: 15_000 }, (req, res) => {
  if (!requestUrl(req)) return sendJson(res, 400, BAD_TARGET, { Connection: "close" });
  sendJson(res, 404, {
    error: "not-found",
    detail: `this port takes only WebSocket upgrades on /ws (a session worker); the page is at ${init.pageUrl}`,
  });
});
http.on("upgrade", (req, socket, head: Buffer) => host.upgrade(req, socket, head));
http.on("clientError", (_error, socket) => socket.destroy());
await new Promise<void>((resolve, reject) => {
  http.once("error", reject);
  http.listen(0, init.host, () => {
    http.off("error", reject);
    resolve();
  });
});
post({ type: "listening", port: (http.address() as AddressInfo).port });

async function close(graceMs: number, cancelTimeoutMs: number): Promise<void> {
  const stopped = new Promise<void>((resolve) => http.close(() => resolve()));
  http.closeIdleConnections();
  const report = await host.close(graceMs, cancelTimeoutMs);
  http.closeAllConnections();
  try {
    await deadline(clock, stopped, 1000, "a session worker's listener closing", { io: true });
  } catch (error) {
    if (!(error instanceof DeadlineExceededError)) throw error;
    logger.warn(`dev-server: worker ${init.index}: ${error.message}; a connection is still open`);
  }
  post({ type: "closed", report });
}

port.on("message", (message: MainToWorker) => {
  if (message.type === "close") void close(message.graceMs, message.cancelTimeoutMs);
  // Exits at once: what the module started (Silero's own worker, timers) ends with the thread.
  else process.exit(0);
});
