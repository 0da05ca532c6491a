/**
 * Adversarial probes of the development server's session workers (docs/design/dev-server.md,
 * "Sessions on worker threads"), through the public API on real loopback sockets. Each test is
 * marked "held:" (the promise holds) or "fixed:" (it failed when written: a real defect, described in
 * the comment above it with how it was reproduced, then fixed at the root).
 */
import { readdirSync } from "node:fs";
import { connect } from "node:net";
import { performance } from "node:perf_hooks";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { InvalidOptionError } from "../../src/errors.js";
import type { Logger } from "../../src/logger.js";
import {
  type DevServer,
  type DevServerOptions,
  DevServerWorkerError,
  startDevServer,
} from "../../src/runner/dev-server.js";
import { closed, openSocket, postStart } from "../runner/http.js";

const FIXTURE = new URL("./fixtures-workers/worker.ts", import.meta.url);

const threads = (): number => readdirSync("/proc/self/task").length;
const tcpHandles = (): number => process.getActiveResourcesInfo().filter((r) => r.startsWith("TCP")).length;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const keep = (level: string) => (message: string) => void lines.push(`${level}: ${message}`);
  return { lines, debug: () => undefined, info: keep("info"), warn: keep("warn"), error: keep("error") };
}

const servers: DevServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close({ graceMs: 0, cancelTimeoutMs: 300 })));
});

type Workers = NonNullable<DevServerOptions["workers"]>;
async function serve(
  workers: Partial<Workers> & { data?: Record<string, unknown> } = {},
  options: Partial<DevServerOptions> = {},
): Promise<DevServer> {
  const server = await startDevServer({
    port: 0,
    ...options,
    workers: { count: 1, module: FIXTURE, ...workers },
  });
  servers.push(server);
  return server;
}

/** A SharedArrayBuffer counting createSessionHandler calls over every worker (the fixture's `generations`). */
const generations = (): SharedArrayBuffer => new SharedArrayBuffer(4);

interface Opened {
  socket: WebSocket;
  port: number;
  hello: { worker: number; id: number };
}

async function openAt(url: string): Promise<Opened> {
  const socket = new WebSocket(url, { handshakeTimeout: 5000 });
  const hello = await new Promise<Opened["hello"]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no hello from ${url} within 5 s`)), 5000);
    socket.once("message", (data: Buffer) => {
      clearTimeout(timer);
      resolve((JSON.parse(data.toString()) as { hello: Opened["hello"] }).hello);
    });
    socket.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
  return { socket, port: Number(new URL(url).port), hello };
}

async function openSession(server: DevServer, query = ""): Promise<Opened> {
  const reply = await postStart(server.url);
  expect(reply.status, reply.body).toBe(200);
  const { wsUrl } = reply.json() as { wsUrl: string };
  return openAt(`${wsUrl}${query}`);
}

/** The port a `/start` names, or its status when refused. */
async function startPort(server: DevServer): Promise<number | { status: number; error: string }> {
  const reply = await postStart(server.url);
  if (reply.status !== 200) return { status: reply.status, error: (reply.json() as { error: string }).error };
  return Number(new URL((reply.json() as { wsUrl: string }).wsUrl).port);
}

describe("session workers: options", () => {
  // fixed (this was broken): `workers.count` below zero, NaN, ±Infinity, or a fraction such as 1.25 or -0.5 is not
  // refused with InvalidOptionError ("workers.count must be an integer ≥ 1") as 0, 0.5, 1.5 and
  // "2" are: the server's constructor makes the shared counters first (`SharedSessionSlots.create(count)`,
  // a SharedArrayBuffer of 4 × (3 + 2 × count) bytes, src/runner/session-slots.ts) and only then
  // does `new WorkerPool` call `checkWorkers`. Measured: -1, -0.5, NaN → "RangeError: Invalid atomic
  // access index"; -2, ±Infinity → "RangeError: Invalid array buffer length"; 1.25 → "RangeError: byte
  // length of Int32Array should be a multiple of 4". (A valid but absurd count, 2 ** 40, gets
  // "RangeError: Array buffer allocation failed"; there is no upper bound on count at all.)
  // Reproduce: `await startDevServer({ port: 0, workers: { count: -1, module: "./w.js" } })`.
  it("fixed: a negative, NaN, infinite or fractional workers.count is refused with InvalidOptionError naming workers.count", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.integer({ min: -1_000_000, max: -1 }),
          fc.double({ min: -64, max: 64, noNaN: true }).filter((n) => !Number.isInteger(n)),
          fc.constantFrom(Number.NaN, Infinity, -Infinity),
        ),
        async (count) => {
          const error = await startDevServer({ port: 0, workers: { count, module: FIXTURE } }).then(
            (s) => {
              servers.push(s);
              return undefined;
            },
            (e: unknown) => e,
          );
          expect(error).toBeInstanceOf(InvalidOptionError);
          expect((error as Error).message).toMatch(/workers\.count must be an integer ≥ 1/);
        },
      ),
      { numRuns: 30, examples: [[-1], [Number.NaN], [1.25]] },
    );
  });

  // held: these invalid counts are refused before anything starts (they happen to make a buffer
  // of a size the shared counters accept, so checkWorkers gets to say it).
  it("held: workers.count 0.5, 1.5, 2.5 or a non-number is refused with InvalidOptionError naming workers.count", async () => {
    const tcpBefore = tcpHandles();
    for (const count of [
      0.5,
      1.5,
      2.5,
      257,
      2 ** 40,
      "2",
      null,
      true,
      [2],
      { valueOf: () => 2 },
    ] as unknown[])
      await expect(
        startDevServer({ port: 0, workers: { count: count as number, module: FIXTURE } }),
      ).rejects.toThrow(/workers\.count must be an integer ≥ 1/);
    expect(tcpHandles()).toBeLessThanOrEqual(tcpBefore);
  });

  // fixed (this was broken): `workers.data` that structuredClone cannot copy makes startDevServer reject with what
  // `new Worker` throws inside the pool, a bare DOMException: "DataCloneError: ()=>1 could not be
  // cloned." (likewise "Symbol(x) could not be cloned.", "#<WeakMap> could not be cloned.") — neither
  // the DevServerWorkerError the doc promises for a worker that does not start (naming the worker and
  // why) nor an InvalidOptionError naming workers.data; nothing in it says which option was wrong.
  // (The listener is closed and no thread is left: that part holds.)
  // Reproduce: `await startDevServer({ port: 0, workers: { count: 2, module: "./w.js", data: { f: () => 1 } } })`.
  it("fixed: workers.data that structuredClone cannot copy is refused naming workers.data (not a bare DataCloneError), and nothing is left", async () => {
    const threadsBefore = threads();
    const tcpBefore = tcpHandles();
    for (const data of [{ f: () => 1 }, { s: Symbol("x") }, new WeakMap()]) {
      const error = await startDevServer({
        port: 0,
        workers: { count: 2, module: FIXTURE, data },
      }).then(
        (s) => {
          servers.push(s);
          return undefined;
        },
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(Error);
      expect(error instanceof InvalidOptionError || error instanceof DevServerWorkerError).toBe(true);
      expect((error as Error).message).toMatch(/workers\.data/);
    }
    await expect.poll(tcpHandles).toBeLessThanOrEqual(tcpBefore);
    await expect.poll(threads, { timeout: 5000 }).toBeLessThanOrEqual(threadsBefore);
  });

  // held: a SharedArrayBuffer in `data` is shared (not copied) with every worker, as structuredClone does.
  it("held: data reaches every worker (a SharedArrayBuffer in it is shared: the fixture counts starts in it)", async () => {
    const gens = generations();
    await serve({ count: 3, data: { generations: gens } });
    expect(Atomics.load(new Int32Array(gens), 0)).toBe(3);
  });
});

describe("session workers: starting", () => {
  for (const [mode, why] of [
    ["throw", /session worker 1 did not start: .*fixture: worker 1 refused to start/],
    ["non-function", /session worker 1 did not start: .*returned number/],
    ["exit", /session worker 1 did not start: it exited with code 3/],
  ] as const) {
    it(`held: a worker whose createSessionHandler ${mode === "exit" ? "calls process.exit(3)" : mode === "throw" ? "throws" : "returns a number"} rejects the start with DevServerWorkerError naming it; nothing is left`, async () => {
      const threadsBefore = threads();
      const tcpBefore = tcpHandles();
      const start = startDevServer({
        port: 0,
        workers: { count: 2, module: FIXTURE, data: { start: { 1: mode } } },
      });
      const error = await start.then(
        (s) => {
          servers.push(s);
          return undefined;
        },
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(DevServerWorkerError);
      expect((error as Error).message).toMatch(why);
      await expect.poll(tcpHandles).toBeLessThanOrEqual(tcpBefore);
      await expect.poll(threads, { timeout: 5000 }).toBeLessThanOrEqual(threadsBefore);
    });
  }

  for (const mode of ["never", "block"] as const) {
    it(`held: a worker whose createSessionHandler ${mode === "never" ? "never resolves" : "blocks its thread (for(;;))"} fails the start at startTimeoutMs, naming it; the other is terminated; no thread is left`, async () => {
      const threadsBefore = threads();
      const tcpBefore = tcpHandles();
      const startTimeoutMs = 1500;
      const began = performance.now();
      const error = await startDevServer({
        port: 0,
        workers: { count: 2, module: FIXTURE, startTimeoutMs, data: { start: { 0: mode } } },
      }).then(
        (s) => {
          servers.push(s);
          return undefined;
        },
        (e: unknown) => e,
      );
      const took = performance.now() - began;
      expect(error).toBeInstanceOf(DevServerWorkerError);
      expect((error as Error).message).toMatch(
        /session worker 0 did not start: it was not listening within 1500 ms \(workers\.startTimeoutMs\)/,
      );
      expect(took).toBeGreaterThanOrEqual(startTimeoutMs - 5);
      expect(took).toBeLessThan(startTimeoutMs + 3000);
      await expect.poll(tcpHandles).toBeLessThanOrEqual(tcpBefore);
      await expect.poll(threads, { timeout: 5000 }).toBeLessThanOrEqual(threadsBefore);
    });
  }

  // held: a createSessionHandler that never settles and keeps nothing alive lets the worker's event
  // loop drain: the thread exits (code 0) and the start fails at once, well before startTimeoutMs.
  it("held: a createSessionHandler pending on nothing: the start fails at once ('exited with code 0'), not after startTimeoutMs", async () => {
    const threadsBefore = threads();
    const began = performance.now();
    const error = await startDevServer({
      port: 0,
      workers: { count: 2, module: FIXTURE, startTimeoutMs: 20_000, data: { start: { 1: "never-idle" } } },
    }).then(
      (s) => {
        servers.push(s);
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DevServerWorkerError);
    expect((error as Error).message).toMatch(/session worker 1 did not start: it exited with code 0/);
    expect(performance.now() - began).toBeLessThan(10_000);
    await expect.poll(threads, { timeout: 5000 }).toBeLessThanOrEqual(threadsBefore);
  });

  // held: a module that does not exist, or that exports no createSessionHandler.
  it("held: workers.module missing or exporting no createSessionHandler rejects with DevServerWorkerError saying so", async () => {
    const tcpBefore = tcpHandles();
    const missing = startDevServer({
      port: 0,
      workers: { count: 1, module: new URL("./fixtures-workers/nope.ts", import.meta.url) },
    });
    await expect(missing).rejects.toThrow(DevServerWorkerError);
    await expect(missing).rejects.toThrow(
      /session worker 0 did not start: .*(Cannot find|not find|ERR_MODULE_NOT_FOUND)/,
    );
    const empty = startDevServer({
      port: 0,
      workers: { count: 1, module: new URL("../runner/http.ts", import.meta.url) },
    });
    await expect(empty).rejects.toThrow(/exports no createSessionHandler function/);
    await expect.poll(tcpHandles).toBeLessThanOrEqual(tcpBefore);
  });

  // fixed (this was broken): when one worker fails to start, the healthy worker that start() then terminates is
  // reported as a crash: its exit reaches the crash path (its state is still "running"), so the
  // logger gets "error: dev-server: session worker 0 (port N) stopped: it exited with code 1; its 0
  // session(s) are lost; starting a replacement" — no worker crashed and no replacement starts.
  // Reproduce: count 2, worker 1's createSessionHandler throws 800 ms late (worker 0 is running by
  // then), a recording logger: startDevServer rejects, and the log has that line.
  it("fixed: a failed start says only why it failed: no healthy worker is reported as crashed or replaced", async () => {
    const logger = recordingLogger();
    const error = await startDevServer({
      port: 0,
      logger,
      workers: { count: 2, module: FIXTURE, data: { start: { 1: "late-throw" }, delayMs: 800 } },
    }).then(
      (s) => {
        servers.push(s);
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DevServerWorkerError);
    await sleep(200);
    expect(logger.lines.filter((l) => /stopped|replacement|lost/.test(l))).toEqual([]);
  });

  // held: a worker logger flooded at start (20,000 lines) reaches the server's logger in order.
  it("held: 20,000 lines logged by createSessionHandler all reach the server's logger, in order, and the worker starts", async () => {
    const logger = recordingLogger();
    const server = await serve({ count: 1, data: { logLines: 20_000 } }, { logger });
    await expect.poll(() => logger.lines.filter((l) => l.includes("fixture flood")).length).toBe(20_000);
    const flood = logger.lines.filter((l) => l.includes("fixture flood"));
    expect(flood[0]).toBe("info: fixture flood 0");
    expect(flood[19_999]).toBe("info: fixture flood 19999");
    const s = await openSession(server);
    expect(s.hello.worker).toBe(0);
    s.socket.close();
  });
});

describe("session workers: sessions", () => {
  // held: the session time limit and the message limit are enforced inside the worker.
  it("held: sessionTimeoutMs ends a worker's session on the worker's own clock; maxMessageBytes closes 1009 there", async () => {
    const server = await serve(
      { count: 2 },
      { sessionTimeoutMs: 400, sessionGraceMs: 200, maxMessageBytes: 1024 },
    );
    const timed = await openSession(server);
    const began = performance.now();
    const code = await Promise.race([closed(timed.socket), sleep(5000).then(() => -1)]);
    const took = performance.now() - began;
    expect(code).toBe(1000); // the polite fixture closes on `closing`
    expect(took).toBeGreaterThanOrEqual(300);
    expect(took).toBeLessThan(1500);
    const big = await openSession(server);
    const bigClosed = closed(big.socket);
    big.socket.send(Buffer.alloc(2048, 1));
    expect(await Promise.race([bigClosed, sleep(3000).then(() => -1)])).toBe(1009);
    expect(server.workerCrashes).toBe(0);
    await expect.poll(() => server.sessions).toBe(0);
  });

  // held: a handler that throws synchronously loses its socket but not its worker or its slot.
  it("held: a session handler that throws synchronously: its socket is dropped, the worker and the slot survive", async () => {
    const logger = recordingLogger();
    const server = await serve({ count: 1 }, { logger, maxSessions: 1 });
    for (let i = 0; i < 5; i++) {
      const reply = await postStart(server.url);
      expect(reply.status).toBe(200);
      const { wsUrl } = reply.json() as { wsUrl: string };
      const { socket } = await openSocket(`${wsUrl}?behave=throw-sync`);
      if (socket && socket.readyState !== WebSocket.CLOSED) expect(await closed(socket)).toBe(1006);
      await expect.poll(() => server.sessions).toBe(0);
    }
    expect(server.workerCrashes).toBe(0);
    expect(logger.lines.filter((l) => l.includes("handler failed"))).toHaveLength(5);
    const s = await openSession(server);
    expect(s.hello.worker).toBe(0);
    s.socket.close();
  });

  // held: sessions that close their own socket, many, quickly, at the cap, with racing clients.
  it("held: churn — 60 clients racing /start and their sockets (self-closing, throwing, polite) never exceed the cap; the count returns to 0", async () => {
    const server = await serve({ count: 2 }, { maxSessions: 4 });
    let maxSeen = 0;
    let minSeen = 0;
    const sampler = setInterval(() => {
      maxSeen = Math.max(maxSeen, server.sessions);
      minSeen = Math.min(minSeen, server.sessions, ...server.workers.map((w) => w.sessions));
    }, 1);
    const behaviours = ["self-close", "throw-sync", "polite"];
    const results = await Promise.all(
      Array.from({ length: 60 }, async (_, i) => {
        const reply = await postStart(server.url);
        if (reply.status !== 200) return (reply.json() as { error: string }).error;
        const { wsUrl } = reply.json() as { wsUrl: string };
        const opened = await openSocket(`${wsUrl}?behave=${behaviours[i % 3]}`).catch(() => ({
          status: -1,
        }));
        if ("socket" in opened && opened.socket) {
          const s = opened.socket;
          setTimeout(() => s.close(), i % 7);
          if (s.readyState !== WebSocket.CLOSED) await closed(s);
          return "opened";
        }
        return String(opened.status);
      }),
    );
    await expect.poll(() => server.sessions).toBe(0);
    clearInterval(sampler);
    expect(results.filter((r) => r === "opened").length).toBeGreaterThan(0);
    expect(results.every((r) => ["opened", "session-limit", "503"].includes(r))).toBe(true);
    expect(maxSeen).toBeLessThanOrEqual(4);
    expect(minSeen).toBe(0);
    expect(server.workers.map((w) => w.sessions)).toEqual([0, 0]);
    // Four fresh sessions fit: the cap did not shrink.
    const four = await Promise.all([0, 1, 2, 3].map(() => openSession(server)));
    expect(server.sessions).toBe(4);
    for (const o of four) o.socket.close();
  });

  // held: /start spreads clients that never connect and clients that connect straight to a port.
  it("held: /start names the least-loaded worker: water-filling over live sessions plus unclaimed answers", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 3, maxLength: 3 }),
        fc.integer({ min: 1, max: 8 }),
        async (direct, starts) => {
          const server = await serve({ count: 3 }, { maxSessions: 50 });
          const ports = server.workers.map((w) => w.port);
          const open: WebSocket[] = [];
          for (let w = 0; w < 3; w++)
            for (let k = 0; k < direct[w]!; k++)
              open.push((await openAt(`ws://127.0.0.1:${ports[w]}/ws`)).socket);
          const load = [...direct];
          for (let k = 0; k < starts; k++) {
            const port = await startPort(server);
            expect(typeof port).toBe("number");
            const w = ports.indexOf(port as number);
            expect(w).toBeGreaterThanOrEqual(0);
            expect(load[w]).toBe(Math.min(...load));
            load[w]!++;
          }
          for (const s of open) s.close();
          await server.close({ graceMs: 200, cancelTimeoutMs: 200 });
        },
      ),
      { numRuns: 5 },
    );
  }, 60_000);
});

describe("session workers: crashes", () => {
  // held: an unrequested process.exit inside a session is a crash: every session of that worker drops.
  it("held: process.exit(7) in a session: its worker's 3 sessions drop (1006), counted and said once with the code; the cap is whole after the replacement", async () => {
    const logger = recordingLogger();
    const server = await serve({ count: 1 }, { logger, maxSessions: 3 });
    const three = [await openSession(server), await openSession(server), await openSession(server)];
    const codes = three.map((o) => closed(o.socket));
    three[1]!.socket.send("exit:7");
    expect(await Promise.all(codes)).toEqual([1006, 1006, 1006]);
    await expect.poll(() => server.workerCrashes, { timeout: 10_000 }).toBe(1);
    expect(server.lostSessions).toBe(3);
    expect(server.sessions).toBe(0);
    const said = logger.lines.filter((l) => l.includes("stopped"));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/^error: .*session worker 0 .*exited with code 7; its 3 session\(s\) are lost/);
    await expect.poll(() => server.workers.length, { timeout: 10_000 }).toBe(1);
    const again = [await openSession(server), await openSession(server), await openSession(server)];
    expect(new Set(again.map((o) => o.hello.id)).size).toBe(3);
    expect(Math.min(...again.map((o) => o.hello.id))).toBeGreaterThan(
      Math.max(...three.map((o) => o.hello.id)),
    );
    for (const o of again) o.socket.close();
  }, 30_000);

  // held: a replacement that fails to start is said once; with no worker left /start answers no-worker.
  it("held: a replacement that fails to start: said once, no retry; /start answers 503 no-worker; close() is prompt and leaves nothing", async () => {
    const threadsBefore = threads();
    const tcpBefore = tcpHandles();
    const logger = recordingLogger();
    const server = await serve(
      { count: 1, data: { count: 1, generations: generations(), replacement: "throw" } },
      { logger },
    );
    const s = await openSession(server);
    s.socket.send("crash");
    await expect
      .poll(() => logger.lines.filter((l) => l.includes("did not start")).length, { timeout: 10_000 })
      .toBe(1);
    expect(server.workers).toEqual([]);
    const refused = await postStart(server.url);
    expect(refused.status).toBe(503);
    expect(refused.json()).toMatchObject({ error: "no-worker" });
    await sleep(1000);
    expect(logger.lines.filter((l) => l.includes("did not start"))).toHaveLength(1);
    expect(server.workerCrashes).toBe(1);
    const began = performance.now();
    expect(await server.close({ graceMs: 500, cancelTimeoutMs: 500 })).toStrictEqual({
      ended: 0,
      cancelled: 0,
      abandoned: 0,
    });
    expect(performance.now() - began).toBeLessThan(1500);
    await expect.poll(tcpHandles).toBeLessThanOrEqual(tcpBefore);
    await expect.poll(threads, { timeout: 5000 }).toBeLessThanOrEqual(threadsBefore);
  }, 30_000);

  // held: a replacement whose handler never comes (its thread kept alive by a timer) fails at
  // startTimeoutMs: said once, its thread terminated, /start 503 no-worker meanwhile and after.
  it("held: a replacement that hangs is given up at startTimeoutMs: said once, its thread ends; /start answers 503 no-worker throughout", async () => {
    const logger = recordingLogger();
    const server = await serve(
      {
        count: 1,
        // Long enough for the first worker to start on a loaded machine (tsx compiles it).
        startTimeoutMs: 4000,
        data: { count: 1, generations: generations(), replacement: "never" },
      },
      { logger },
    );
    const running = threads();
    const s = await openSession(server);
    const began = performance.now();
    s.socket.send("crash");
    await expect.poll(() => server.workerCrashes, { timeout: 10_000 }).toBe(1);
    const during = await postStart(server.url);
    expect(during.status).toBe(503);
    expect(during.json()).toMatchObject({ error: "no-worker", detail: expect.stringMatching(/try again/) });
    await expect
      .poll(() => logger.lines.filter((l) => l.includes("did not start")).length, { timeout: 9000 })
      .toBe(1);
    expect(performance.now() - began).toBeGreaterThanOrEqual(4000 - 5);
    expect(logger.lines.find((l) => l.includes("did not start"))).toMatch(
      /^error: .*session worker 0 did not start: it was not listening within 4000 ms.*goes on with 0 worker/,
    );
    await expect.poll(threads, { timeout: 5000 }).toBeLessThan(running);
    expect((await postStart(server.url)).status).toBe(503);
    await sleep(500);
    expect(logger.lines.filter((l) => l.includes("did not start"))).toHaveLength(1);
  }, 30_000);

  // held (measured, no backoff promised): every replacement crashes 300 ms after it starts.
  it("held: a crash loop is said once per crash, grows no threads (the workers' own nested threads included), and close() during it leaves nothing", async () => {
    const threadsBefore = threads();
    const tcpBefore = tcpHandles();
    const logger = recordingLogger();
    const server = await serve(
      { count: 2, data: { crashAfterMs: 300, nested: true }, exitTimeoutMs: 500 },
      { logger },
    );
    const running = threads(); // two workers, each with its nested thread
    let maxThreads = running;
    const sampler = setInterval(() => (maxThreads = Math.max(maxThreads, threads())), 20);
    await sleep(4000);
    // At least four crashes (two per slot, each after a replacement): waited for past the 4 s,
    // since how many fit in a given time depends on how fast the machine starts a worker thread.
    await expect.poll(() => server.workerCrashes, { timeout: 15_000 }).toBeGreaterThanOrEqual(4);
    clearInterval(sampler);
    const crashes = server.workerCrashes;
    expect(logger.lines.filter((l) => l.includes("crash loop") && l.includes("stopped"))).toHaveLength(
      crashes,
    );
    // A crashed worker's thread and its nested thread end; at most one start overlaps per slot.
    expect(maxThreads).toBeLessThanOrEqual(running + 2);
    const began = performance.now();
    await server.close({ graceMs: 200, cancelTimeoutMs: 200 });
    expect(performance.now() - began).toBeLessThan(200 + 200 + 2000 + 500 + 1500);
    await expect.poll(tcpHandles).toBeLessThanOrEqual(tcpBefore);
    await expect.poll(threads, { timeout: 5000 }).toBeLessThanOrEqual(threadsBefore);
    const after = logger.lines.length;
    await sleep(1000);
    expect(logger.lines.slice(after)).toEqual([]);
    // Measured on the 2-core machine: 10 crashes in 4 s over 2 slots (a replacement starts at
    // once each time, no backoff: the doc promises none), threads never above the running count.
  }, 30_000);

  // fixed (this was broken): close() while a crashed worker's replacement is still starting terminates it after
  // exitTimeoutMs and then logs, at error level, "dev-server: session worker 0 did not start: it
  // exited with code 1; check workers.module (…) and that its createSessionHandler resolves; the
  // server goes on with 0 worker(s)" — a false alarm about the application's module (the server
  // killed it) and a claim that the server "goes on" after close(). Reproduce: count 1, every
  // replacement's createSessionHandler never resolves (startTimeoutMs 10 s), crash the worker,
  // then close({ graceMs: 100, cancelTimeoutMs: 100 }) with workers.exitTimeoutMs 300.
  it("fixed: close() while a replacement is starting is prompt, leaves nothing, and blames no module", async () => {
    const threadsBefore = threads();
    const logger = recordingLogger();
    const server = await serve(
      {
        count: 1,
        startTimeoutMs: 10_000,
        exitTimeoutMs: 300,
        data: { count: 1, generations: generations(), replacement: "never" },
      },
      { logger },
    );
    const s = await openSession(server);
    s.socket.send("crash");
    await expect.poll(() => server.workerCrashes, { timeout: 10_000 }).toBe(1);
    await sleep(300); // the replacement is importing the module, its handler never comes
    expect((await postStart(server.url)).status).toBe(503);
    const began = performance.now();
    expect(await server.close({ graceMs: 100, cancelTimeoutMs: 100 })).toStrictEqual({
      ended: 0,
      cancelled: 0,
      abandoned: 0,
    });
    expect(performance.now() - began).toBeLessThan(300 + 1500);
    await expect.poll(threads, { timeout: 5000 }).toBeLessThanOrEqual(threadsBefore);
    await sleep(300);
    expect(logger.lines.filter((l) => l.includes("did not start") || l.includes("goes on with"))).toEqual([]);
  }, 30_000);

  // fixed (this was broken): a worker that crashes during close() (here its session throws an uncaught error when
  // `closing` aborts) is never said as a crash: the error ("fixture worker crashed while closing")
  // appears nowhere in the log, and instead the server warns "session worker 0 sent no close report
  // within 2200 ms" — false: close() took about 40 ms, the worker died. Reproduce: one session whose
  // handler throws from a setImmediate on `closing`, then close({ graceMs: 100, cancelTimeoutMs: 100 }).
  it("fixed: a worker crashing during close() is said with its error (not as a late close report); its session counts as abandoned", async () => {
    const logger = recordingLogger();
    const server = await serve({ count: 1 }, { logger });
    const s = await openSession(server, "?behave=crash-on-closing");
    const code = closed(s.socket);
    const began = performance.now();
    const report = await server.close({ graceMs: 100, cancelTimeoutMs: 100 });
    const took = performance.now() - began;
    expect(await code).toBe(1006);
    expect(report).toStrictEqual({ ended: 0, cancelled: 0, abandoned: 1 });
    expect(took).toBeLessThan(2200);
    expect(logger.lines.some((l) => l.includes("fixture worker crashed while closing"))).toBe(true);
    expect(logger.lines.filter((l) => l.includes("sent no close report"))).toEqual([]);
  }, 15_000);
});

describe("session workers: close()", () => {
  // held: a worker blocked in a session before close(): close() resolves within graceMs +
  // cancelTimeoutMs + 2 s (report) + exitTimeoutMs (terminate) + 1 s (listener), the blocked
  // session's client is disconnected, the other worker's session ends politely, nothing is left.
  it("held: close() with a worker blocked mid-session: bounded wall time, its client dropped, its port refuses, threads and TCP back", async () => {
    const threadsBefore = threads();
    const tcpBefore = tcpHandles();
    const spins = new SharedArrayBuffer(4);
    const server = await serve({ count: 2, exitTimeoutMs: 300, data: { spins } });
    const ok = await openSession(server);
    const stuck = await openSession(server);
    expect(ok.hello.worker).not.toBe(stuck.hello.worker);
    const ports = server.workers.map((w) => w.port);
    const stuckClosed = closed(stuck.socket);
    const okClosed = closed(ok.socket);
    stuck.socket.send("spin");
    // Until the worker is in its loop (a fixed 100 ms let a loaded machine call close() before the
    // worker had read "spin": its session then ended politely, not abandoned).
    await expect.poll(() => Atomics.load(new Int32Array(spins), 0), { timeout: 10_000 }).toBe(1);
    const began = performance.now();
    const report = await server.close({ graceMs: 200, cancelTimeoutMs: 200 });
    const took = performance.now() - began;
    expect(report).toStrictEqual({ ended: 1, cancelled: 0, abandoned: 1 });
    expect(took).toBeGreaterThanOrEqual(200 + 200 + 2000 - 5);
    expect(took).toBeLessThan(200 + 200 + 2000 + 300 + 1000 + 500);
    expect(await okClosed).toBe(1000);
    const code = await Promise.race([stuckClosed, sleep(3000).then(() => "still open")]);
    expect(code).toBe(1006);
    for (const port of ports)
      await expect(openSocket(`ws://127.0.0.1:${port}/ws`)).rejects.toThrow(/ECONNREFUSED/);
    await expect.poll(tcpHandles).toBeLessThanOrEqual(tcpBefore);
    await expect.poll(threads, { timeout: 5000 }).toBeLessThanOrEqual(threadsBefore);
  }, 20_000);

  // held: close() twice, concurrently and after it resolved; threads of nested workers end too.
  it("held: close() called concurrently and again later returns the same report; workers' own threads end with them; ports refuse", async () => {
    const threadsBefore = threads();
    const tcpBefore = tcpHandles();
    const server = await serve({ count: 2, data: { nested: true } }, { maxSessions: 4 });
    const a = await openSession(server);
    const b = await openSession(server, "?behave=self-close");
    await expect.poll(() => server.sessions).toBe(1); // b's closing handshake is over
    const ports = server.workers.map((w) => w.port);
    const [r1, r2] = await Promise.all([
      server.close({ graceMs: 300, cancelTimeoutMs: 300 }),
      server.close({ graceMs: 0, cancelTimeoutMs: 0 }),
    ]);
    expect(r1).toBe(r2);
    expect(r1).toStrictEqual({ ended: 1, cancelled: 0, abandoned: 0 });
    expect(await server.close()).toBe(r1);
    expect(a.socket.readyState).not.toBe(WebSocket.OPEN);
    expect(b.socket.readyState).not.toBe(WebSocket.OPEN);
    for (const port of ports)
      await expect(openSocket(`ws://127.0.0.1:${port}/ws`)).rejects.toThrow(/ECONNREFUSED/);
    await expect.poll(tcpHandles).toBeLessThanOrEqual(tcpBefore);
    await expect.poll(threads, { timeout: 5000 }).toBeLessThanOrEqual(threadsBefore);
  });

  // held: a module that stops its worker from ending itself (process.exit replaced, or an `exit`
  // listener that loops) is terminated after exitTimeoutMs, said once; its threads end.
  for (const stubbornExit of ["ignore", "block"] as const) {
    it(`held: a worker that cannot exit when told (${stubbornExit === "ignore" ? "process.exit replaced" : "an exit listener that loops"}) is terminated after exitTimeoutMs, said once; no thread is left`, async () => {
      const threadsBefore = threads();
      const logger = recordingLogger();
      const server = await serve(
        { count: 2, exitTimeoutMs: 400, data: { stubbornExit, nested: true } },
        { logger },
      );
      const s = await openSession(server);
      const began = performance.now();
      expect(await server.close({ graceMs: 200, cancelTimeoutMs: 200 })).toStrictEqual({
        ended: 1,
        cancelled: 0,
        abandoned: 0,
      });
      const took = performance.now() - began;
      expect(took).toBeGreaterThanOrEqual(400 - 5);
      expect(took).toBeLessThan(200 + 200 + 400 + 1500);
      expect(s.socket.readyState).not.toBe(WebSocket.OPEN);
      expect(logger.lines.filter((l) => l.includes("had not exited"))).toHaveLength(1);
      expect(logger.lines.find((l) => l.includes("had not exited"))).toMatch(/2 session worker\(s\)/);
      await expect.poll(threads, { timeout: 5000 }).toBeLessThanOrEqual(threadsBefore);
    });
  }

  // held: half-sent requests (headers never finished) on the main port and a worker's port do not
  // hold close(): each raw connection is closed within the bound.
  it("held: half-sent requests on the main port and on a worker's port are dropped by close(), within its bound", async () => {
    const tcpBefore = tcpHandles();
    const server = await serve({ count: 1 });
    const ports = [server.port, server.workers[0]!.port];
    const raw = ports.flatMap((port) =>
      [
        "POST /start HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{",
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConn",
      ].map(
        (text) =>
          new Promise<string>((resolve) => {
            const s = connect(port, "127.0.0.1", () => s.write(text));
            s.on("error", () => undefined);
            s.resume(); // read, so the server's end of the connection is seen
            s.on("close", () => resolve("closed"));
            setTimeout(
              () =>
                resolve(`still open: ${port === server.port ? "main" : "worker"} port, ${text.slice(0, 9)}`),
              5000,
            ).unref();
          }),
      ),
    );
    await sleep(200);
    const began = performance.now();
    await server.close({ graceMs: 100, cancelTimeoutMs: 100 });
    expect(performance.now() - began).toBeLessThan(100 + 100 + 1500);
    const outcome = await Promise.all(raw);
    expect(outcome).toEqual(["closed", "closed", "closed", "closed"]);
    await expect.poll(tcpHandles).toBeLessThanOrEqual(tcpBefore);
  });
});
