import { readdirSync } from "node:fs";
import { connect } from "node:net";
import { performance } from "node:perf_hooks";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { preferredOnnxRuntime } from "../../src/audio/onnx/onnx-runtime-package.js";
import { defaultSileroModelPath } from "../../src/audio/vad/silero-model.js";
import { SileroWorker } from "../../src/audio/vad/silero-worker.js";
import { InvalidOptionError } from "../../src/errors.js";
import {
  InputTransportMessageFrame,
  OutputTransportMessageUrgentFrame,
} from "../../src/frames/transport-messages.js";
import type { Logger } from "../../src/logger.js";
import {
  type DevServer,
  type DevServerOptions,
  DevServerWorkerError,
  startDevServer,
} from "../../src/runner/dev-server.js";
import { ProtobufFrameSerializer } from "../../src/serializers/index.js";
import { closed, openSocket, postStart, request } from "./http.js";

const FIXTURE = new URL("./fixtures/session-worker.ts", import.meta.url);
const ECHO_WORKER = new URL("../../examples/03-voice-bot/session-worker.ts", import.meta.url);

/** OS threads of this process: a worker thread that is still running is one of them. */
const threads = (): number => readdirSync("/proc/self/task").length;
/**
 * Loads the Silero model once, on a worker thread that then ends, with the runtime the session
 * workers pick (`preferredOnnxRuntime()`: onnxruntime-node when installed, else onnxruntime-web).
 * onnxruntime-node starts one native thread the first time any thread of the process loads it and
 * keeps it for the life of the process (its process-wide environment; measured: 11 → 12 threads
 * after the first worker, 12 after the next three). That thread is the runtime's, not a session's,
 * so it belongs in the baseline a leak is measured against; a thread per worker that outlived its
 * worker would still show, since each session worker loads the model again. Returns the runtime.
 */
async function loadOnnxRuntimeOnce(): Promise<string> {
  const runtime = preferredOnnxRuntime();
  const silero = new SileroWorker(2_000, runtime);
  await silero.load(defaultSileroModelPath());
  await silero.terminate();
  return runtime;
}

/** Open TCP handles of this thread (listeners and sockets). */
/** Open TCP handles; checked as "back to at most": a socket another test file left closing may go meanwhile. */
const tcpHandles = (): number => process.getActiveResourcesInfo().filter((r) => r.startsWith("TCP")).length;

/** A logger that keeps its lines. */
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const keep = (level: string) => (message: string) => void lines.push(`${level}: ${message}`);
  return { lines, debug: () => undefined, info: keep("info"), warn: keep("warn"), error: keep("error") };
}

const servers: DevServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close({ graceMs: 0, cancelTimeoutMs: 500 })));
});

async function serve(options: Partial<DevServerOptions> = {}, count = 2): Promise<DevServer> {
  const server = await startDevServer({ port: 0, workers: { count, module: FIXTURE }, ...options });
  servers.push(server);
  return server;
}

interface Opened {
  socket: WebSocket;
  wsUrl: string;
  hello: { worker: number; id: number };
}

/** The official client's flow: POST /start, then the socket at the `wsUrl` it names. */
async function openSession(
  server: DevServer,
  query = "",
  headers: Record<string, string> = {},
): Promise<Opened> {
  const reply = await postStart(server.url, headers);
  expect(reply.status, reply.body).toBe(200);
  const { wsUrl } = reply.json() as { wsUrl: string };
  const socket = new WebSocket(`${wsUrl}${query}`, { handshakeTimeout: 5000 });
  const hello = await new Promise<Opened["hello"]>((resolve, reject) => {
    socket.once("message", (data: Buffer) =>
      resolve((JSON.parse(data.toString()) as { hello: Opened["hello"] }).hello),
    );
    socket.once("error", reject);
  });
  return { socket, wsUrl, hello };
}

const portOf = (wsUrl: string): number => Number(new URL(wsUrl).port);

/** The first line of the answer to a raw request on `port`. */
function rawStatus(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1", () => s.write(text));
    let out = "";
    s.on("data", (d: Buffer) => (out += d.toString()));
    s.on("close", () => resolve(out.split("\r\n")[0] ?? ""));
    s.on("error", () => resolve("error"));
  });
}

describe("development server with session workers: the official client's flow", () => {
  it("POST /start names a worker's port; the echo bot there answers client-ready with bot-ready; sessions spread over the workers; nothing is left after close", async () => {
    // The echo bot's Silero VAD loads the ONNX runtime in each worker: measure the baseline with
    // the runtime's own process-wide threads already there (loadOnnxRuntimeOnce).
    const runtime = await loadOnnxRuntimeOnce();
    const threadsBefore = threads();
    const tcpBefore = tcpHandles();
    const server = await startDevServer({
      port: 0,
      workers: { count: 2, module: ECHO_WORKER, data: { bot: "echo", why: "test" } },
    });
    servers.push(server);
    expect(server.workers.map((w) => w.index)).toEqual([0, 1]);
    const wire = new ProtobufFrameSerializer();
    const sessions = await Promise.all(
      [1, 2].map(async (n) => {
        const reply = await postStart(server.url);
        expect(Object.keys(reply.json() as object)).toEqual(["wsUrl"]);
        const { wsUrl } = reply.json() as { wsUrl: string };
        const socket = new WebSocket(wsUrl);
        const rtvi: string[] = [];
        socket.on("message", (data: Buffer) => {
          const result = wire.deserialize(data);
          if (!result.ok) return;
          for (const frame of result.frames)
            if (frame instanceof InputTransportMessageFrame)
              rtvi.push((frame.message as { type: string }).type);
        });
        await new Promise((resolve) => socket.once("open", resolve));
        socket.send(
          wire.serialize(
            new OutputTransportMessageUrgentFrame({
              label: "rtvi-ai",
              type: "client-ready",
              id: `c${n}`,
              data: { version: "2.1.0" },
            }),
          )!,
        );
        await expect.poll(() => rtvi, { timeout: 15_000 }).toContain("bot-ready");
        return { socket, port: portOf(wsUrl) };
      }),
    );
    const ports = sessions.map((s) => s.port);
    expect(new Set(ports).size).toBe(2); // one on each worker: the least-loaded one is picked
    expect(ports).not.toContain(server.port);
    expect(server.workers.map((w) => w.sessions)).toEqual([1, 1]);
    // The user leaves: each session ends on its disconnect path.
    for (const s of sessions) s.socket.close();
    await expect.poll(() => server.sessions, { timeout: 10_000 }).toBe(0);
    expect(await server.close({ graceMs: 1000 })).toStrictEqual({ ended: 0, cancelled: 0, abandoned: 0 });
    await expect
      .poll(threads, { timeout: 5000, message: `OS threads after close, with ${runtime}` })
      .toBeLessThanOrEqual(threadsBefore);
    await expect.poll(tcpHandles).toBeLessThanOrEqual(tcpBefore);
    for (const port of ports)
      await expect(openSocket(`ws://127.0.0.1:${port}/ws`)).rejects.toThrow(/ECONNREFUSED/);
  }, 60_000);
});

describe("development server with session workers: the edges", () => {
  it("answers exactly { wsUrl } with the worker's port and the browser's host, and refuses /ws on the main port", async () => {
    const server = await serve();
    const a = await openSession(server);
    const reply = await postStart(server.url, { Host: `localhost:${server.port}` });
    const { wsUrl } = reply.json() as { wsUrl: string };
    expect(wsUrl).toMatch(/^ws:\/\/localhost:\d+\/ws$/);
    expect(portOf(wsUrl)).not.toBe(portOf(a.wsUrl)); // the other worker: it has no session yet
    const forged = (await postStart(server.url, { Host: "evil.example:80" })).json() as { wsUrl: string };
    expect(forged.wsUrl).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/ws$/);
    const main = await openSocket(`ws://127.0.0.1:${server.port}/ws`);
    expect(main.status).toBe(404);
    expect(JSON.parse(main.body!)).toMatchObject({
      error: "not-found",
      detail: expect.stringMatching(/POST \/start/),
    });
    // A worker's port takes nothing but upgrades on /ws.
    const plain = await request(`http://127.0.0.1:${portOf(a.wsUrl)}/`);
    expect(plain.status).toBe(404);
    expect((await openSocket(`ws://127.0.0.1:${portOf(a.wsUrl)}/other`)).status).toBe(404);
    a.socket.close();
  });

  it("answers phone calls with 503 saying why (a tunnel reaches one port), on the main port and a worker's", async () => {
    const server = await serve({}, 1);
    const answer = await request(`${server.url}telephony/twilio`, { method: "POST", body: "From=1" });
    expect(answer.status).toBe(503);
    expect(answer.json()).toMatchObject({
      error: "telephony-unavailable",
      detail: expect.stringMatching(/run it without workers to take calls/),
    });
    const stream = await openSocket(`ws://127.0.0.1:${server.port}/telephony/twilio/ws`);
    expect(stream.status).toBe(503);
    expect((await openSocket(`ws://127.0.0.1:${server.workers[0]!.port}/telephony/twilio/ws`)).status).toBe(
      404,
    );
    expect(server.telephonyEndpoints).toStrictEqual([]);
  });

  it("checks the token and the origin on the worker's socket, as on the main thread", async () => {
    const server = await serve({ token: "s3cret", allowedOrigins: ["http://app.example:3000"] });
    expect((await postStart(server.url)).status).toBe(401);
    const ok = await postStart(server.url, { Authorization: "Bearer s3cret" });
    const { wsUrl, token } = ok.json() as { wsUrl: string; token: string };
    expect(token).toBe("s3cret");
    const noToken = await openSocket(wsUrl);
    expect(noToken.status).toBe(401);
    expect(JSON.parse(noToken.body!)).toHaveProperty("error", "unauthorized");
    expect((await openSocket(`${wsUrl}?token=wrong`)).status).toBe(401);
    const evil = await openSocket(`${wsUrl}?token=s3cret`, { Origin: "http://evil.example" });
    expect(evil.status).toBe(403);
    expect(JSON.parse(evil.body!)).toHaveProperty("error", "origin-not-allowed");
    for (const origin of [`http://127.0.0.1:${server.port}`, "http://app.example:3000"]) {
      const { socket } = await openSocket(`${wsUrl}?token=s3cret`, { Origin: origin });
      expect(socket?.readyState).toBe(WebSocket.OPEN);
      socket?.close();
    }
  });

  it("holds maxSessions over all the workers: 503 with the same body on /start and on a worker's socket", async () => {
    const server = await serve({ maxSessions: 3 });
    const open = [await openSession(server), await openSession(server), await openSession(server)];
    expect(new Set(open.map((o) => o.hello.worker))).toEqual(new Set([0, 1]));
    expect(server.sessions).toBe(3);
    const refused = await postStart(server.url);
    expect(refused.status).toBe(503);
    const body = {
      error: "session-limit",
      detail: "the server is at its limit of 3 concurrent sessions (maxSessions); try again when one ends",
    };
    expect(refused.json()).toStrictEqual(body);
    for (const w of server.workers) {
      const direct = await openSocket(`ws://127.0.0.1:${w.port}/ws`);
      expect(direct.status).toBe(503);
      expect(JSON.parse(direct.body!)).toStrictEqual(body);
    }
    // Ids are unique over the workers.
    expect(new Set(open.map((o) => o.hello.id)).size).toBe(3);
    open[0]!.socket.close();
    await expect.poll(() => server.sessions).toBe(2);
    expect((await postStart(server.url)).status).toBe(200);
  });

  it("the cap holds when 30 clients race for 5 slots straight at the workers' ports", async () => {
    const server = await serve({ maxSessions: 5 });
    const ports = server.workers.map((w) => w.port);
    const attempts = await Promise.all(
      Array.from({ length: 30 }, (_, i) => openSocket(`ws://127.0.0.1:${ports[i % 2]}/ws`)),
    );
    const opened = attempts.filter((a) => a.socket);
    expect(opened).toHaveLength(5);
    expect(attempts.filter((a) => a.status === 503)).toHaveLength(25);
    expect(server.sessions).toBe(5);
    for (const a of opened) a.socket!.close();
    await expect.poll(() => server.sessions).toBe(0);
  });

  it("gives the slot back when ws refuses a handshake that passed the server's checks (the cap does not shrink)", async () => {
    for (const workers of [true, false]) {
      const server = workers
        ? await serve({ maxSessions: 1 }, 1)
        : await startDevServer({ port: 0, maxSessions: 1, onSession: (socket) => void socket.send("{}") });
      if (!workers) servers.push(server);
      const port = workers ? server.workers[0]!.port : server.port;
      // A version ws does not speak: it answers 400 itself and never hands over a socket.
      const bad =
        "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 99\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
      for (let i = 0; i < 3; i++)
        expect(await rawStatus(port, `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n${bad}\r\n`)).toMatch(
          /^HTTP\/1\.1 400/,
        );
      expect(server.sessions).toBe(0);
      const { socket, status } = await openSocket(`ws://127.0.0.1:${port}/ws`);
      expect(status).toBeUndefined();
      socket?.close();
    }
  });

  it("answers a request target that is not a URL with 400 on a worker's port, and the worker stays up", async () => {
    const server = await serve();
    const port = server.workers[0]!.port;
    const upgrade =
      "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    expect(await rawStatus(port, `GET http://[ HTTP/1.1\r\nHost: x\r\n${upgrade}\r\n`)).toMatch(
      /^HTTP\/1\.1 400/,
    );
    expect(await rawStatus(port, "GET http://[ HTTP/1.1\r\nHost: x\r\n\r\n")).toMatch(/^HTTP\/1\.1 400/);
    expect(server.workerCrashes).toBe(0);
    const { socket, hello } = await openSession(server);
    expect(hello.worker).toBe(0);
    socket.close();
  });

  it("refuses bad workers options with a sentence naming them", async () => {
    await expect(startDevServer({ port: 0, workers: { count: 0, module: FIXTURE } })).rejects.toThrow(
      /workers\.count must be an integer ≥ 1/,
    );
    await expect(
      startDevServer({ port: 0, onSession: () => undefined, workers: { count: 1, module: FIXTURE } }),
    ).rejects.toThrow(InvalidOptionError);
    await expect(
      startDevServer({ port: 0, workers: { count: 1, module: FIXTURE, startTimeoutMs: Number.NaN } }),
    ).rejects.toThrow(/workers\.startTimeoutMs/);
    for (const young of [0, 5, 1025, Number.NaN, "6"])
      await expect(
        startDevServer({
          port: 0,
          workers: { count: 1, module: FIXTURE, youngGenerationMb: young as number },
        }),
      ).rejects.toThrow(/workers\.youngGenerationMb must be a number of MB from 6 to 1024, or null/);
  });

  it("gives each worker a young generation of workers.youngGenerationMb (6 MB unless told), or V8's own with null", async () => {
    const young = async (server: DevServer): Promise<number> => {
      const { socket } = await openSession(server);
      const reply = new Promise<number>((resolve) =>
        socket.once("message", (data: Buffer) =>
          resolve((JSON.parse(data.toString()) as { young: number }).young),
        ),
      );
      socket.send("young");
      const value = await reply;
      socket.close();
      return value;
    };
    expect(await young(await serve({}, 1))).toBe(6);
    expect(await young(await serve({ workers: { count: 1, module: FIXTURE, youngGenerationMb: 16 } }))).toBe(
      16,
    );
    // V8's own is larger than the default, whatever this Node makes it.
    expect(
      await young(await serve({ workers: { count: 1, module: FIXTURE, youngGenerationMb: null } })),
    ).toBeGreaterThan(6);
  });

  it("refuses to start when a worker does not start, and leaves nothing running", async () => {
    const threadsBefore = threads();
    const tcpBefore = tcpHandles();
    const failing = startDevServer({
      port: 0,
      workers: { count: 2, module: FIXTURE, data: { failToStart: true } },
    });
    await expect(failing).rejects.toThrow(DevServerWorkerError);
    await expect(failing).rejects.toThrow(/session worker \d did not start: fixture told to fail/);
    await expect.poll(tcpHandles).toBeLessThanOrEqual(tcpBefore);
    await expect.poll(threads, { timeout: 5000 }).toBeLessThanOrEqual(threadsBefore);
  });
});

describe("development server with session workers: crashes and close()", () => {
  it("a worker that crashes loses its sessions (said once, counted); the server stays up, new sessions go to the others, and a replacement starts", async () => {
    const logger = recordingLogger();
    const server = await serve({ logger });
    const a = await openSession(server);
    const b = await openSession(server);
    expect(a.hello.worker).not.toBe(b.hello.worker);
    const crashedPort = portOf(a.wsUrl);
    const aClosed = closed(a.socket);
    a.socket.send("crash");
    expect(await aClosed).toBe(1006);
    await expect.poll(() => server.workerCrashes, { timeout: 10_000 }).toBe(1);
    expect(server.lostSessions).toBe(1);
    const said = logger.lines.filter(
      (l) => l.includes(`session worker ${a.hello.worker}`) && l.includes("stopped"),
    );
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(
      /^error: .*fixture worker crashed on purpose; its 1 session\(s\) are lost; starting a replacement/,
    );
    // The other worker's session goes on.
    const echoed = new Promise<string>((resolve) =>
      b.socket.once("message", (d: Buffer) => resolve(d.toString())),
    );
    b.socket.send("echo:still here");
    expect(await echoed).toBe("still here");
    // New sessions: to the survivor until the replacement runs, then spread again.
    const c = await openSession(server);
    await expect.poll(() => server.workers.length, { timeout: 20_000 }).toBe(2);
    const replacement = server.workers.find((w) => w.index === a.hello.worker)!;
    expect(replacement.port).not.toBe(crashedPort);
    expect(logger.lines.some((l) => l.startsWith("info: ") && l.includes("replaced"))).toBe(true);
    const d = await openSession(server);
    expect(d.hello.worker).toBe(a.hello.worker); // the least-loaded: the replacement has none
    expect(server.sessions).toBe(3);
    expect(await server.close({ graceMs: 2000 })).toStrictEqual({ ended: 3, cancelled: 0, abandoned: 0 });
    expect(server.lostSessions).toBe(1);
    for (const o of [b, c, d]) expect(o.socket.readyState).toBe(WebSocket.CLOSED);
  }, 40_000);

  it("close() with sessions on workers: they end within the grace period or are cancelled, a hung handler is abandoned, the report sums the workers, and nothing is left", async () => {
    const threadsBefore = threads();
    const tcpBefore = tcpHandles();
    const server = await serve();
    const polite = await openSession(server, "?behave=polite");
    const ignore = await openSession(server, "?behave=ignore");
    const hang = await openSession(server, "?behave=hang");
    expect(server.workers.map((w) => w.sessions).sort()).toEqual([1, 2]);
    const ports = server.workers.map((w) => w.port);
    const codes = [polite, ignore, hang].map((o) => closed(o.socket));
    const graceMs = 300;
    const cancelTimeoutMs = 300;
    const started = performance.now();
    const closing = server.close({ graceMs, cancelTimeoutMs });
    expect(server.close()).toBe(closing);
    // Refused at once, on the main port and on the workers'.
    await expect(postStart(server.url)).rejects.toThrow(/ECONNREFUSED/);
    expect(await closing).toStrictEqual({ ended: 1, cancelled: 1, abandoned: 1 });
    const tookMs = performance.now() - started;
    expect(await Promise.all(codes)).toEqual([1000, 1001, 1001]);
    expect(tookMs).toBeGreaterThanOrEqual(graceMs + cancelTimeoutMs - 5);
    expect(tookMs).toBeLessThan(graceMs + cancelTimeoutMs + 3000);
    expect(server.workers).toEqual([]);
    for (const port of ports)
      await expect(openSocket(`ws://127.0.0.1:${port}/ws`)).rejects.toThrow(/ECONNREFUSED/);
    await expect.poll(tcpHandles).toBeLessThanOrEqual(tcpBefore);
    await expect.poll(threads, { timeout: 5000 }).toBeLessThanOrEqual(threadsBefore);
  });

  it("a worker stuck in a loop: no report (its sessions count as abandoned), terminated after exitTimeoutMs, each said once", async () => {
    const threadsBefore = threads();
    const spins = new SharedArrayBuffer(4);
    const logger = recordingLogger();
    const server = await startDevServer({
      port: 0,
      logger,
      workers: { count: 2, module: FIXTURE, exitTimeoutMs: 300, data: { spins } },
    });
    servers.push(server);
    const ok = await openSession(server);
    const stuck = await openSession(server);
    expect(ok.hello.worker).not.toBe(stuck.hello.worker);
    // A handler that blocks its thread: the worker can no longer answer anything.
    const blocked = new Promise<string>((resolve) =>
      stuck.socket.once("message", (d: Buffer) => resolve(d.toString())),
    );
    stuck.socket.send("echo:blocking");
    expect(await blocked).toBe("blocking");
    stuck.socket.send("spin");
    // close() only once the worker is in its loop: sent at once, the close could reach the worker
    // (its message port) before "spin" did (its socket), and the session end politely.
    await expect.poll(() => Atomics.load(new Int32Array(spins), 0), { timeout: 10_000 }).toBe(1);
    const started = performance.now();
    const report = await server.close({ graceMs: 100, cancelTimeoutMs: 100 });
    expect(report).toStrictEqual({ ended: 1, cancelled: 0, abandoned: 1 });
    expect(performance.now() - started).toBeLessThan(100 + 100 + 2000 + 300 + 2000);
    expect(logger.lines.filter((l) => l.includes("sent no close report"))).toHaveLength(1);
    expect(logger.lines.filter((l) => l.includes("had not exited"))).toHaveLength(1);
    await expect.poll(threads, { timeout: 5000 }).toBeLessThanOrEqual(threadsBefore);
  }, 20_000);
});
