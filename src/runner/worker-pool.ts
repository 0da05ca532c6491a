import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, extname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type { Clock } from "../clock/clock.js";
import { DeadlineExceededError, deadline } from "../clock/deadline.js";
import { InvalidOptionError, describe } from "../errors.js";
import type { Logger } from "../logger.js";
import {
  type DevServerCloseReport,
  type DevServerWorkerInfo,
  DevServerWorkerError,
  type DevServerWorkers,
} from "./dev-server-options.js";
import type { SharedSessionSlots } from "./session-slots.js";
import type { MainToWorker, SessionWorkerInit, WorkerToMain } from "./worker-messages.js";

/** After its last `/start` answer, how long a worker's unclaimed answers count towards its load, ms. */
const CLAIM_WINDOW_MS = 10_000;
/** Beyond the close's grace and cancel periods, how long a worker gets to report, ms. */
const REPORT_SLACK_MS = 2_000;

/**
 * The entry runs as an ES module under a worker's default CommonJS eval: it registers tsx first
 * when the entry or the application's module is TypeScript (a worker thread does not inherit
 * the main thread's module hooks on Node 20, whatever its `execArgv`).
 */
const BOOT = `const { workerData } = require("node:worker_threads");
(async () => {
  if (workerData.tsx) (await import(workerData.tsx)).register();
  await import(workerData.entry);
})();`;

interface WorkerSlot {
  readonly index: number;
  worker: Worker | undefined;
  port: number;
  state: "starting" | "running" | "closing" | "gone";
  /** `/start` answers that named this worker (compared with the sessions its slot started). */
  assigned: number;
  assignedAt: number;
  /** The worker's close report, once it has sent it. */
  report: ((report: DevServerCloseReport) => void) | undefined;
  /** Resolves when the worker thread has exited. */
  exited: Promise<void>;
  /** Why it failed (an uncaught error), for the line that says it. */
  failure: string | undefined;
  /** The server told it to exit (or terminated it): its exit is not a crash. */
  exitAsked: boolean;
  /** It sent its close report: its sessions are over, and an exit after that loses nothing. */
  closeReported: boolean;
  /** Sessions it took with it when it crashed while closing (counted as abandoned by `close`). */
  lostOnExit: number;
}

/** What every worker is started with, less its index. */
export type WorkerPoolInit = Omit<SessionWorkerInit, "index" | "module" | "data" | "slots">;

/**
 * The session workers of the development server: starts them, picks the least-loaded one for
 * each `POST /start`, replaces one that crashes, and closes them. docs/design/dev-server.md,
 * "Sessions on worker threads".
 */
export class WorkerPool {
  readonly #options: Required<DevServerWorkers>;
  readonly #moduleUrl: string;
  readonly #tsx: string | undefined;
  readonly #entry: string;
  readonly #slots: SharedSessionSlots;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #workers: WorkerSlot[] = [];
  #init: WorkerPoolInit | undefined;
  #closing = false;
  crashes = 0;
  lostSessions = 0;

  constructor(options: Required<DevServerWorkers>, slots: SharedSessionSlots, clock: Clock, logger: Logger) {
    this.#options = options;
    this.#moduleUrl = moduleUrl(options.module);
    const own = fileURLToPath(import.meta.url);
    this.#entry = pathToFileURL(join(dirname(own), `session-worker${extname(own)}`)).href;
    const typescript = (url: string): boolean => /\.[mc]?ts$/.test(url);
    this.#tsx =
      typescript(this.#entry) || typescript(this.#moduleUrl)
        ? tsxApi([fileURLToPath(this.#moduleUrl), own])
        : undefined;
    this.#slots = slots;
    this.#clock = clock;
    this.#logger = logger;
  }

  /** Starts every worker; rejects (with every started one terminated) when one does not start. */
  async start(init: WorkerPoolInit): Promise<void> {
    this.#init = init;
    for (let i = 0; i < this.#options.count; i++) this.#workers.push(this.#emptySlot(i));
    const started = await Promise.allSettled(this.#workers.map((w) => this.#startWorker(w)));
    const failed = started.find((r) => r.status === "rejected");
    if (failed) {
      this.#closing = true;
      await Promise.all(this.#workers.map((w) => this.#terminate(w)));
      throw failed.reason;
    }
  }

  /** The running workers, each with its port and live sessions. */
  get info(): DevServerWorkerInfo[] {
    return this.#workers
      .filter((w) => w.state === "running")
      .map((w) => ({ index: w.index, port: w.port, sessions: this.#slots.liveOf(w.index) }));
  }

  /**
   * The port of the least-loaded running worker (live sessions plus `/start` answers not yet
   * claimed by an upgrade), counted as given to one more client; undefined when none runs.
   */
  pick(): number | undefined {
    const now = this.#clock.now();
    let best: WorkerSlot | undefined;
    let bestLoad = Infinity;
    for (const w of this.#workers) {
      if (w.state !== "running") continue;
      const started = this.#slots.startedOf(w.index);
      // A client that got an answer and never connected stops counting after the window.
      if (now - w.assignedAt > CLAIM_WINDOW_MS) w.assigned = started;
      const load = this.#slots.liveOf(w.index) + Math.max(0, w.assigned - started);
      if (load < bestLoad) [best, bestLoad] = [w, load];
    }
    if (!best) return undefined;
    best.assigned = Math.max(best.assigned, this.#slots.startedOf(best.index)) + 1;
    best.assignedAt = now;
    return best.port;
  }

  /**
   * Closes every worker's sessions (`close` with the grace and cancel periods) and sums their
   * reports; a worker that does not report in time has its sessions counted as abandoned. Then
   * tells each to exit; one that has not exited within `exitTimeoutMs` is terminated.
   */
  async close(graceMs: number, cancelTimeoutMs: number): Promise<DevServerCloseReport> {
    this.#closing = true;
    const total = { ended: 0, cancelled: 0, abandoned: 0 };
    const running = this.#workers.filter((w) => w.state === "running");
    for (const w of running) w.state = "closing";
    const reports = running.map(async (w) => {
      const reported = new Promise<DevServerCloseReport | undefined>((resolve) => {
        w.report = resolve;
        void w.exited.then(() => resolve(undefined));
      });
      this.#send(w, { type: "close", graceMs, cancelTimeoutMs });
      const within = graceMs + cancelTimeoutMs + REPORT_SLACK_MS;
      let report: DevServerCloseReport | undefined;
      try {
        report = await deadline(this.#clock, reported, within, `session worker ${w.index} closing`, {
          io: true,
        });
      } catch (error) {
        if (!(error instanceof DeadlineExceededError)) throw error;
      }
      if (!report && w.state === "gone") {
        // It died while closing: said by #onExit with its error; its sessions were lost with it.
        report = { ended: 0, cancelled: 0, abandoned: w.lostOnExit };
      } else if (!report) {
        const lost = this.#slots.dropWorker(w.index);
        this.#logger.warn(
          `dev-server: session worker ${w.index} sent no close report within ${within} ms; its ${lost} session(s) count as abandoned`,
        );
        report = { ended: 0, cancelled: 0, abandoned: lost };
      }
      total.ended += report.ended;
      total.cancelled += report.cancelled;
      total.abandoned += report.abandoned;
    });
    await Promise.all(reports);
    await this.#stopAll();
    return total;
  }

  /** Tells every worker thread to exit; terminates those still running after `exitTimeoutMs`. */
  async #stopAll(): Promise<void> {
    const alive = this.#workers.filter((w) => w.worker !== undefined && w.state !== "gone");
    for (const w of alive) {
      w.exitAsked = true;
      this.#send(w, { type: "exit" });
    }
    const { exitTimeoutMs } = this.#options;
    try {
      await deadline(
        this.#clock,
        Promise.all(alive.map((w) => w.exited)),
        exitTimeoutMs,
        "session workers exiting",
        { io: true },
      );
    } catch (error) {
      if (!(error instanceof DeadlineExceededError)) throw error;
    }
    const stuck = alive.filter((w) => w.state !== "gone");
    if (stuck.length === 0) return;
    this.#logger.warn(
      `dev-server: ${stuck.length} session worker(s) had not exited ${exitTimeoutMs} ms (workers.exitTimeoutMs) after closing; terminated`,
    );
    await Promise.all(stuck.map((w) => this.#terminate(w)));
  }

  /** Stops `w`'s thread now; its exit is then the server's doing, not a crash. */
  async #terminate(w: WorkerSlot): Promise<void> {
    w.exitAsked = true;
    await w.worker?.terminate();
  }

  #emptySlot(index: number): WorkerSlot {
    return {
      index,
      worker: undefined,
      port: 0,
      state: "starting",
      assigned: this.#slots.startedOf(index),
      assignedAt: -Infinity,
      report: undefined,
      exited: Promise.resolve(),
      failure: undefined,
      exitAsked: false,
      closeReported: false,
      lostOnExit: 0,
    };
  }

  #send(w: WorkerSlot, message: MainToWorker): void {
    w.worker?.postMessage(message);
  }

  /** Starts the worker of `w`'s slot; resolves once it listens, rejects when it fails or takes too long. */
  async #startWorker(w: WorkerSlot): Promise<void> {
    const init = this.#init!;
    const workerData: SessionWorkerInit & { entry: string; tsx: string | undefined } = {
      ...init,
      index: w.index,
      module: this.#moduleUrl,
      data: this.#options.data,
      slots: this.#slots.buffer,
      entry: this.#entry,
      tsx: this.#tsx,
    };
    const young = this.#options.youngGenerationMb;
    const worker = new Worker(BOOT, {
      eval: true,
      workerData,
      name: `voicepipe-session-worker-${w.index}`,
      ...(young === null ? {} : { resourceLimits: { maxYoungGenerationSizeMb: young } }),
    });
    w.worker = worker;
    w.state = "starting";
    w.failure = undefined;
    w.exitAsked = false;
    w.closeReported = false;
    w.assigned = this.#slots.startedOf(w.index);
    let listening!: (port: number) => void;
    let failedToStart!: (error: Error) => void;
    const started = new Promise<number>((resolve, reject) => {
      listening = resolve;
      failedToStart = reject;
    });
    w.exited = new Promise<void>((resolve) =>
      worker.once("exit", (code) => {
        resolve();
        this.#onExit(w, worker, code, failedToStart);
      }),
    );
    worker.on("error", (error) => {
      w.failure = describe(error);
    });
    worker.on("message", (message: WorkerToMain) => {
      if (message.type === "listening") listening(message.port);
      else if (message.type === "closed") {
        w.closeReported = true;
        w.report?.(message.report);
      } else this.#logger[message.level](message.message);
    });
    const { startTimeoutMs } = this.#options;
    try {
      w.port = await deadline(this.#clock, started, startTimeoutMs, `session worker ${w.index} starting`, {
        io: true,
      });
    } catch (error) {
      await this.#terminate(w);
      // The server began closing while this worker (a replacement) was starting: it was stopped
      // on purpose, and the module is not to blame.
      if (this.#closing)
        throw new DevServerWorkerError(
          `dev-server: session worker ${w.index} was stopped while starting: the server is closing`,
          { cause: error },
        );
      const why =
        error instanceof DeadlineExceededError
          ? `it was not listening within ${startTimeoutMs} ms (workers.startTimeoutMs)`
          : (error as Error).message;
      throw new DevServerWorkerError(
        `dev-server: session worker ${w.index} did not start: ${why}; check workers.module (${this.#moduleUrl}) and that its createSessionHandler resolves`,
        { cause: error },
      );
    }
    if (this.#closing) {
      // Started while the server was closing: it never takes a session.
      await this.#terminate(w);
      return;
    }
    w.state = "running";
  }

  #onExit(w: WorkerSlot, worker: Worker, code: number, failedToStart: (error: Error) => void): void {
    if (w.worker !== worker) return;
    const was = w.state;
    w.state = "gone";
    const why = w.failure ?? `it exited with code ${code}`;
    if (was === "starting") return failedToStart(new Error(firstLine(why)));
    if (w.exitAsked || w.closeReported || (was !== "running" && was !== "closing")) return;
    // A crash (or an exit the server did not ask for): its sessions are lost with it.
    const lost = this.#slots.dropWorker(w.index);
    this.crashes++;
    this.lostSessions += lost;
    if (was === "closing" || this.#closing) {
      w.lostOnExit = lost;
      this.#logger.error(
        `dev-server: session worker ${w.index} (port ${w.port}) stopped while the server was closing: ${firstLine(why)}; its ${lost} session(s) are lost`,
      );
      return;
    }
    this.#logger.error(
      `dev-server: session worker ${w.index} (port ${w.port}) stopped: ${firstLine(why)}; its ${lost} session(s) are lost; starting a replacement`,
    );
    this.#startWorker(w).then(
      () => this.#logger.info(`dev-server: session worker ${w.index} replaced (port ${w.port})`),
      (error: unknown) => {
        if (this.#closing) return; // stopped by close(), said by nobody: nothing failed
        this.#logger.error(
          `${(error as Error).message}; the server goes on with ${this.info.length} worker(s)`,
        );
      },
    );
  }
}

function firstLine(text: string): string {
  return text.split("\n", 1)[0] ?? text;
}

/** Most session workers: far past any machine's cores (each worker is a thread with its own heap). */
const MAX_WORKERS = 256;

/**
 * The young generation of a session worker's heap, in MB: short, frequent scavenges rather than
 * V8's longer ones (measured in BENCHMARKS.md; 4 MB cost more in collection than it saved).
 */
const DEFAULT_YOUNG_GENERATION_MB = 6;

/**
 * Checks the `workers` option, before anything is made from it (the shared counters are sized by
 * `count`); throws `InvalidOptionError` naming what is wrong.
 */
export function checkWorkers(options: DevServerWorkers): Required<DevServerWorkers> {
  const { count, module } = options;
  if (!Number.isInteger(count) || count < 1 || count > MAX_WORKERS)
    throw new InvalidOptionError(
      `startDevServer: workers.count must be an integer ≥ 1 and ≤ ${MAX_WORKERS} (got ${describe(count)}); one per core is the most that helps; leave workers out to run sessions on the main thread`,
    );
  if (!(module instanceof URL) && (typeof module !== "string" || module === ""))
    throw new InvalidOptionError(
      "startDevServer: workers.module must be the path or file: URL of a module exporting createSessionHandler",
    );
  for (const key of ["startTimeoutMs", "exitTimeoutMs"] as const) {
    const value = options[key];
    if (value !== undefined && (typeof value !== "number" || !Number.isFinite(value) || value < 0))
      throw new InvalidOptionError(
        `startDevServer: workers.${key} must be a finite number of ms ≥ 0 (got ${String(value)}); leave it out for the default`,
      );
  }
  const young = options.youngGenerationMb;
  if (
    young !== undefined &&
    young !== null &&
    (typeof young !== "number" || !Number.isFinite(young) || young < 6 || young > 1024)
  )
    throw new InvalidOptionError(
      `startDevServer: workers.youngGenerationMb must be a number of MB from 6 to 1024, or null for V8's own (got ${describe(young)})`,
    );
  try {
    structuredClone(options.data);
  } catch (error) {
    throw new InvalidOptionError(
      `startDevServer: workers.data must be something structuredClone copies (plain data, arrays, maps, typed arrays, a SharedArrayBuffer), since each worker gets a copy; it holds what cannot be copied: ${describe(error)}`,
      { cause: error },
    );
  }
  return {
    count,
    module,
    data: options.data,
    startTimeoutMs: options.startTimeoutMs ?? 30_000,
    exitTimeoutMs: options.exitTimeoutMs ?? 2_000,
    youngGenerationMb: young === undefined ? DEFAULT_YOUNG_GENERATION_MB : young,
  };
}

function moduleUrl(module: string | URL): string {
  if (module instanceof URL) return module.href;
  if (module.startsWith("file:")) return module;
  return pathToFileURL(isAbsolute(module) ? module : resolve(module)).href;
}

/**
 * The `file:` URL of tsx's ESM API (`tsx/esm/api`, whose `register()` a worker calls), found
 * from the first of `from` that reaches an installed tsx.
 * @throws InvalidOptionError when tsx is not installed.
 */
function tsxApi(from: readonly string[]): string {
  for (const file of from) {
    try {
      const manifest = createRequire(file).resolve("tsx/package.json");
      const exports = (JSON.parse(readFileSync(manifest, "utf8")) as TsxManifest).exports;
      const api = exports["./esm/api"]?.import?.default;
      if (api) return pathToFileURL(join(dirname(manifest), api)).href;
    } catch {
      // not reachable from here: try the next
    }
  }
  throw new InvalidOptionError(
    `startDevServer: workers.module (${from[0]}) or the server itself is TypeScript, and a worker thread needs tsx to load it: install tsx (npm i -D tsx), or point workers.module at compiled JavaScript`,
  );
}

interface TsxManifest {
  exports: Record<string, { import?: { default?: string } } | undefined>;
}
