/**
 * A pipeline that fails fatally while it starts (a provider refusing its key as it connects) still
 * tells the client why: one RTVI `error` (fatal) reaches the socket before the close, from the
 * library alone: the bots here are minimal pipelines built with the public API, with no code of
 * their own watching the task. Real sockets on loopback, real loopback provider servers that
 * refuse the key, the development server's session workers.
 */
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import {
  FrameProcessor,
  InputTransportMessageFrame,
  OutputTransportMessageFrame,
  Pipeline,
  PipelineTask,
  type TaskOutcome,
  WebSocketTransport,
  type WebSocketTransportOptions,
} from "../../../src/index.js";
import { RTVIOutputGate, RTVIProcessor } from "../../../src/processors/rtvi/index.js";
import { RTVI_LABEL, RTVI_PROTOCOL_VERSION } from "../../../src/processors/rtvi/protocol.js";
import { type DevServer, startDevServer } from "../../../src/runner/dev-server.js";
import { DEFAULT_MAX_MESSAGE_BYTES, ProtobufFrameSerializer } from "../../../src/serializers/index.js";
import { CartesiaTTSService } from "../../../src/services/cartesia/index.js";
import { DeepgramSTTService } from "../../../src/services/deepgram/index.js";
import { postStart } from "../../runner/http.js";
import { fakeCartesia } from "../../services/cartesia/fake-cartesia.js";
import { fakeDeepgramListen } from "../../services/deepgram/fake-deepgram-listen.js";
import { type LoggedLine, memoryLogger } from "../../support/logger.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** What a client saw, in order: RTVI message types, and `close` last. */
interface Seen {
  readonly events: string[];
  readonly messages: Array<{ type: string; data: unknown }>;
  /** Resolves with the close code when the socket closes. */
  readonly closed: Promise<number>;
}

/**
 * A client speaking the official web client's protocol on `url`: protobuf, RTVI `client-ready`
 * the moment the socket opens (unless `ready` is false). Resolves once the socket is open.
 */
async function rtviClient(url: string, options: { ready?: boolean } = {}) {
  const client = new WebSocket(url, { perMessageDeflate: false });
  cleanups.push(() => client.terminate());
  const wire = new ProtobufFrameSerializer();
  const events: string[] = [];
  const messages: Seen["messages"] = [];
  const closed = new Promise<number>((resolve) =>
    client.once("close", (code: number) => {
      events.push("close");
      resolve(code);
    }),
  );
  client.on("message", (data: Buffer) => {
    const result = wire.deserialize(data);
    if (!result.ok) return;
    for (const frame of result.frames) {
      if (!(frame instanceof InputTransportMessageFrame)) continue;
      const m = frame.message as { type?: unknown; data?: unknown };
      if (typeof m.type !== "string") continue;
      messages.push({ type: m.type, data: m.data });
      events.push(m.type);
    }
  });
  await once(client, "open");
  if (options.ready !== false) {
    const ready = new OutputTransportMessageFrame({
      label: RTVI_LABEL,
      type: "client-ready",
      id: "ready-1",
      data: { version: RTVI_PROTOCOL_VERSION, about: { library: "voicepipe-test" } },
    });
    client.send(wire.serialize(ready)!);
  }
  const seen: Seen = { events, messages, closed };
  return { client, seen };
}

/**
 * A loopback ws server, a client (see {@link rtviClient}) and the bot on the server's socket:
 * `[input, rtvi, ...middle, gate, output]`, built with the public API only.
 */
async function session(
  middle: () => FrameProcessor[],
  options: { ready?: boolean; transport?: Partial<Omit<WebSocketTransportOptions, "serializer">> } = {},
) {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, maxPayload: DEFAULT_MAX_MESSAGE_BYTES });
  await once(wss, "listening");
  cleanups.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
  const accepted = new Promise<WebSocket>((resolve) => wss.once("connection", resolve));
  const { client, seen } = await rtviClient(
    `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    options.ready === undefined ? {} : { ready: options.ready },
  );
  const socket = await accepted;
  const { logger, lines } = memoryLogger();
  const transport = new WebSocketTransport(socket, {
    serializer: new ProtobufFrameSerializer(),
    params: { audioInEnabled: true, audioOutEnabled: true, audioOutSampleRate: 24_000 },
    ...options.transport,
  });
  const rtvi = new RTVIProcessor();
  const task = new PipelineTask(
    new Pipeline([transport.input(), rtvi, ...middle(), new RTVIOutputGate(), transport.output()]),
    {
      logger,
      observers: [rtvi.observer],
      params: { audioInSampleRate: 16_000, audioOutSampleRate: 24_000 },
    },
  );
  cleanups.push(async () => void (await task.cancel("test over")));
  return { client, socket, transport, task, seen, lines, run: (): Promise<TaskOutcome> => task.run() };
}

/** The one fatal RTVI error the client got, checked to come before the close. */
function theFatalError(seen: Seen): string {
  const errors = seen.messages.filter((m) => m.type === "error");
  expect(errors, `the client saw: ${seen.events.join(", ")}`).toHaveLength(1);
  const data = errors[0]!.data as { error: string; message: string; fatal: boolean };
  expect(data.fatal).toBe(true);
  expect(data.error).toBe(data.message);
  expect(seen.events.at(-1)).toBe("close");
  expect(seen.events.indexOf("error")).toBeLessThan(seen.events.indexOf("close"));
  return data.message;
}

/** Waits, real time, for what a settled task leaves: a bounded wait for the client's close. */
async function closedWithin(seen: Seen, ms: number): Promise<number> {
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    seen.closed,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the socket was not closed within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
  expect(performance.now() - t0).toBeLessThan(ms);
  return code;
}

/** Connects in its start until the test says it is refused (fatal, as a provider service's). */
class RefusedLater extends FrameProcessor {
  #refuse!: () => void;
  readonly #refused = new Promise<void>((resolve) => (this.#refuse = resolve));
  constructor(private readonly words: string) {
    super({ name: "refused-later" });
  }
  refuse(): void {
    this.#refuse();
  }
  protected override async start(): Promise<void> {
    await this.#refused;
    await this.pushError(this.words, { fatal: true });
  }
}

const warnings = (lines: LoggedLine[]): LoggedLine[] =>
  lines.filter((l) => l.level === "warn" || (l.level === "error" && !l.message.includes("refused")));

describe("a pipeline that fails fatally while it starts, on a WebSocket with RTVI", () => {
  it("Cartesia refusing the key: the client gets one fatal RTVI error in the provider's words, then the close", async () => {
    const cartesia = await fakeCartesia();
    cleanups.push(() => cartesia.close());
    const s = await session(() => [
      new CartesiaTTSService({ apiKey: "not-the-key", baseUrl: cartesia.baseUrl }),
    ]);
    const outcome = await s.run();
    expect(outcome.how).toBe("failed");
    expect(await closedWithin(s.seen, 2_000)).toBe(1000);
    const text = theFatalError(s.seen);
    expect(text).toMatch(/HTTP 401/);
    expect(text).toContain("Invalid API key");
    expect(text).toContain("CARTESIA_API_KEY");
  });

  it("Deepgram refusing the key: the client gets one fatal RTVI error in the provider's words, then the close", async () => {
    const deepgram = await fakeDeepgramListen();
    cleanups.push(() => deepgram.close());
    const s = await session(() => [
      new DeepgramSTTService({ apiKey: "not-the-key", baseUrl: deepgram.baseUrl }),
    ]);
    const outcome = await s.run();
    expect(outcome.how).toBe("failed");
    expect(await closedWithin(s.seen, 2_000)).toBe(1000);
    const text = theFatalError(s.seen);
    expect(text).toMatch(/HTTP 401/);
    expect(text).toContain("Invalid credentials");
    expect(text).toContain("DEEPGRAM_API_KEY");
  });

  it("a client that has not said client-ready yet gets it too (and no bot-ready)", async () => {
    const refused = new RefusedLater("provider.test answered HTTP 401; check the key in PROVIDER_API_KEY");
    const s = await session(() => [refused], { ready: false });
    const done = s.run();
    await new Promise((r) => setTimeout(r, 50));
    refused.refuse();
    expect((await done).how).toBe("failed");
    await closedWithin(s.seen, 2_000);
    expect(theFatalError(s.seen)).toBe("provider.test answered HTTP 401; check the key in PROVIDER_API_KEY");
    expect(s.seen.events).toEqual(["error", "close"]);
  });

  it("a client already gone is not an error: the task fails by its error, nothing waits, nothing is said", async () => {
    const refused = new RefusedLater("provider.test answered HTTP 401");
    // "none": the client leaving does not end the task, so the fatal error is what ends it.
    const s = await session(() => [refused], { transport: { onClientDisconnect: "none" } });
    const done = s.run();
    s.client.close();
    await s.seen.closed;
    await s.transport.socketClosed;
    refused.refuse();
    const t0 = performance.now();
    const outcome = await done;
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(outcome.how).toBe("failed");
    expect(s.seen.messages.filter((m) => m.type === "error")).toEqual([]);
    expect(warnings(s.lines)).toEqual([]);
  });
});

describe("a session worker's bot that fails fatally while it starts", () => {
  it("tells the client: one fatal RTVI error in Cartesia's words, then the close", async () => {
    const cartesia = await fakeCartesia();
    cleanups.push(() => cartesia.close());
    const { logger, lines } = memoryLogger();
    // The page itself is not under test: a stand-in.
    const page = await mkdtemp(join(tmpdir(), "vp-start-failure-page-"));
    cleanups.push(() => rm(page, { recursive: true, force: true }));
    for (const file of ["index.html", "app.js", "THIRD_PARTY_LICENSES.txt"])
      await writeFile(join(page, file), "");
    const server: DevServer = await startDevServer({
      port: 0,
      clientDir: page,
      logger,
      workers: {
        count: 1,
        module: new URL("./fixtures/start-failure-worker.ts", import.meta.url),
        data: { cartesiaBaseUrl: cartesia.baseUrl },
      },
    });
    cleanups.push(async () => void (await server.close({ graceMs: 0, cancelTimeoutMs: 500 })));
    const reply = await postStart(server.url);
    expect(reply.status, reply.body).toBe(200);
    const { wsUrl } = reply.json() as { wsUrl: string };
    const { seen } = await rtviClient(wsUrl);
    expect(await closedWithin(seen, 5_000)).toBe(1000);
    const text = theFatalError(seen);
    expect(text).toMatch(/HTTP 401/);
    expect(text).toContain("Invalid API key");
    await expect.poll(() => lines.some((l) => /session \d+: failed/.test(l.message))).toBe(true);
  });
});
