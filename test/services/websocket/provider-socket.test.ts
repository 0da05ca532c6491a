import { afterEach, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { SystemClock, VirtualClock } from "../../../src/clock/index.js";
import type { Clock } from "../../../src/clock/clock.js";
import {
  type DisconnectInfo,
  ProviderSocket,
  ProviderSocketError,
  type ProviderSocketOptions,
} from "../../../src/services/websocket/index.js";
import { silentLogger } from "../../../src/logger.js";
import { settledHeap } from "../../support/gc.js";
import { type LoggedLine, memoryLogger } from "../../support/logger.js";
import {
  type LoopbackProvider,
  loopbackProvider,
  tcpHandles,
  unusedPort,
  until,
} from "./loopback-provider.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Made {
  socket: ProviderSocket;
  clock: Clock;
  lines: LoggedLine[];
  messages: string[];
  opens: boolean[];
  disconnects: DisconnectInfo[];
  failures: ProviderSocketError[];
}

function make(
  url: string,
  options: Partial<ProviderSocketOptions> = {},
  clock: Clock = new VirtualClock(),
): Made {
  const { logger, lines } = memoryLogger();
  const made: Made = {
    clock,
    lines,
    messages: [],
    opens: [],
    disconnects: [],
    failures: [],
  } as unknown as Made;
  made.socket = new ProviderSocket({
    service: "TestSTTService",
    clock,
    logger,
    url,
    apiKeyEnv: "TEST_API_KEY",
    baseUrlEnv: "TEST_BASE_URL",
    onMessage: (data) => made.messages.push(data.toString("utf8")),
    onOpen: ({ reconnected }) => void made.opens.push(reconnected),
    onDisconnect: (info) => void made.disconnects.push(info),
    onFailure: (error) => void made.failures.push(error),
    ...options,
  });
  cleanups.push(async () => {
    await made.socket.close({ timeoutMs: 200 });
    // Whatever the test did, nothing of the socket is left on its clock.
    if (clock instanceof VirtualClock) {
      expect(clock.pendingTimers).toBe(0);
      expect(clock.pendingRealWork).toBe(0);
    }
  });
  return made;
}

async function provider(options: Parameters<typeof loopbackProvider>[0] = {}): Promise<LoopbackProvider> {
  const p = await loopbackProvider(options);
  cleanups.push(() => p.close());
  return p;
}

const echo = (ws: WebSocket): void =>
  void ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));

describe("ProviderSocket: exchange and reconnect", () => {
  it("connects, sends text and binary, and delivers the provider's answers in order", async () => {
    const server = await provider({ onConnection: echo });
    const { socket, clock, messages, opens } = make(server.url, { headers: { Authorization: "Token k" } });
    await (clock as VirtualClock).runUntil(socket.start());
    expect(socket.state).toBe("open");
    expect(opens).toEqual([false]);
    expect(server.upgrades[0]!.headers.authorization).toBe("Token k");
    expect(socket.send("one")).toBe(true);
    expect(socket.send(Buffer.from("two"))).toBe(true);
    await until(() => messages.length === 2, "the echoes");
    expect(messages).toEqual(["one", "two"]);
    expect(server.received.map((r) => r.isBinary)).toEqual([false, true]);
    expect(socket.stats).toMatchObject({ attempts: 1, opens: 1, sent: 2, received: 2, droppedSends: 0 });
  });

  it("calls onOpen before the first message, even when the provider speaks first", async () => {
    const server = await provider({ onConnection: (ws) => ws.send('{"type":"Metadata"}') });
    const order: string[] = [];
    const clock = new VirtualClock();
    const { socket } = make(
      server.url,
      {
        onOpen: () => void order.push("open"),
        onMessage: (data) => void order.push(data.toString()),
      },
      clock,
    );
    await clock.runUntil(socket.start());
    await until(() => order.length === 2, "the first message");
    expect(order).toEqual(["open", '{"type":"Metadata"}']);
  });

  it("reconnects after the server closes mid-stream, after initialDelayMs on the clock, with reconnected = true", async () => {
    const server = await provider({
      onConnection: (ws, n) => {
        echo(ws);
        if (n === 1) ws.on("message", () => ws.close(1011, "NET-0000"));
      },
    });
    const clock = new VirtualClock();
    const { socket, opens, disconnects, lines } = make(
      server.url,
      { backoff: { initialDelayMs: 300 } },
      clock,
    );
    await clock.runUntil(socket.start());
    socket.send("bye");
    await until(() => disconnects.length === 1, "the drop");
    const droppedAt = clock.now();
    expect(disconnects[0]).toEqual({ code: 1011, reason: "NET-0000", willReconnect: true });
    await clock.runUntil(() => opens.length === 2);
    expect(opens).toEqual([false, true]);
    expect(clock.now() - droppedAt).toBe(300);
    expect(socket.stats).toMatchObject({ opens: 2, reconnects: 1, disconnects: 1 });
    expect(socket.send("again")).toBe(true);
    await until(() => server.received.some((r) => r.connection === 2), "the message on the new connection");
    const warns = lines.filter((l) => l.level === "warn");
    expect(warns).toHaveLength(1);
    expect(warns[0]!.message).toMatch(
      /TestSTTService: the connection to ws:\/\/127\.0\.0\.1:\d+\/v1\/listen was lost \(closed the connection with code 1011 \(internal server error: "NET-0000"\)\); reconnecting in 300 ms/,
    );
  });

  it("reconnect(why) drops the open connection on purpose and opens a new one at once: no backoff, no failure, no warning", async () => {
    const server = await provider();
    const clock = new VirtualClock();
    const { socket, opens, disconnects, lines } = make(
      server.url,
      { backoff: { initialDelayMs: 60_000, maxAttempts: 1 } },
      clock,
    );
    await clock.runUntil(socket.start());
    const at = clock.now();
    expect(socket.reconnect("the owner no longer trusts it")).toBe(true);
    expect(socket.isOpen).toBe(false);
    await clock.runUntil(() => opens.length === 2);
    expect(clock.now()).toBe(at); // no backoff wait (60 s), and maxAttempts 1 did not give up
    expect(opens).toEqual([false, true]);
    expect(disconnects).toEqual([
      { code: 1006, reason: "the owner no longer trusts it", willReconnect: true },
    ]);
    expect(socket.send("again")).toBe(true);
    await until(() => server.received.some((r) => r.connection === 2), "the message on the new connection");
    expect(lines.filter((l) => l.level !== "debug")).toEqual([]);
    await socket.close({ timeoutMs: 200 });
    expect(socket.reconnect("closed")).toBe(false);
  });

  it("a server that answers 503 twice, then accepts: waits initialDelayMs, then × factor, then connects", async () => {
    const clock = new VirtualClock();
    const times: number[] = [];
    const server = await provider({
      answer: (n) => {
        times.push(clock.now());
        return n <= 2 ? { status: 503 } : "accept";
      },
    });
    const { socket, failures } = make(
      server.url,
      { backoff: { initialDelayMs: 100, factor: 3, maxAttempts: 3 } },
      clock,
    );
    await clock.runUntil(socket.start());
    expect(times).toEqual([0, 100, 400]);
    expect(socket.stats).toMatchObject({ attempts: 3, failedAttempts: 2, opens: 1 });
    expect(failures).toEqual([]);
  });

  it("a refused port (nothing listening) is retried until the server comes up", async () => {
    const port = await unusedPort();
    const clock = new VirtualClock();
    const { socket, lines } = make(
      `ws://127.0.0.1:${port}/v1/listen`,
      { backoff: { maxAttempts: 10 } },
      clock,
    );
    const started = socket.start();
    await clock.runUntil(() => socket.stats.failedAttempts >= 3);
    expect(lines.filter((l) => l.level === "warn")).toHaveLength(1); // said once, then counted
    expect(lines[0]!.message).toMatch(
      /could not connect to .*ECONNREFUSED.*retrying in 250 ms \(attempt 2 of 10\)/,
    );
    await provider({ port });
    await clock.runUntil(started);
    expect(socket.state).toBe("open");
  });

  it("gives up after maxAttempts failed attempts with one permanent error that says what to do", async () => {
    const server = await provider({ answer: () => ({ status: 503 }) });
    const clock = new VirtualClock();
    const { socket, failures, lines } = make(server.url, { backoff: { maxAttempts: 3 } }, clock);
    const error = await clock.runUntil(
      socket.start().then(
        () => undefined,
        (e: unknown) => e,
      ),
    );
    expect(error).toBeInstanceOf(ProviderSocketError);
    expect(failures).toEqual([error]);
    const e = error as ProviderSocketError;
    expect(e.failure).toBe("gave-up");
    expect(e.status).toBe(503);
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(
      /^TestSTTService: gave up on ws:\/\/127\.0\.0\.1:\d+\/v1\/listen after 3 failed attempts in a row \(last: HTTP 503 Service Unavailable/,
    );
    expect(e.message).toMatch(/server error/);
    expect(server.upgrades).toHaveLength(3);
    expect(socket.state).toBe("failed");
    // No more attempts, ever.
    await clock.advance(60_000);
    expect(server.upgrades).toHaveLength(3);
    expect(clock.pendingTimers).toBe(0);
    expect(lines.filter((l) => l.level === "error")).toEqual([]); // onFailure got it: not logged twice
  });

  it("a 401 answer is permanent: no retry, and the message names the service, the status and the key variable", async () => {
    const body = '{"err_code":"INVALID_AUTH","err_msg":"Invalid credentials.","request_id":"r-1"}';
    const server = await provider({ answer: () => ({ status: 401, body }) });
    const clock = new VirtualClock();
    const { socket, failures } = make(server.url, {}, clock);
    await expect(clock.runUntil(socket.start())).rejects.toThrow(ProviderSocketError);
    expect(server.upgrades).toHaveLength(1);
    expect(failures).toHaveLength(1);
    const e = failures[0]!;
    expect(e.failure).toBe("rejected");
    expect(e.status).toBe(401);
    expect(e.message).toBe(
      `TestSTTService: ws://127.0.0.1:${server.port}/v1/listen answered the connection with HTTP 401 Unauthorized ` +
        `(${body}); the provider rejected the API key: check the key in TEST_API_KEY. ` +
        "Not retried: asking again gets the same answer",
    );
    await clock.advance(60_000);
    expect(server.upgrades).toHaveLength(1);
  });

  it.each([
    [403, /not allowed to do this: check the key in TEST_API_KEY and its permissions/],
    [404, /nothing answers at that address: check the base URL \(TEST_BASE_URL\)/],
    [400, /refused the connection's settings/],
  ])("a %i answer is permanent with its own advice", async (status, advice) => {
    const server = await provider({ answer: () => ({ status }) });
    const clock = new VirtualClock();
    const { socket, failures } = make(server.url, {}, clock);
    await clock.runUntil(socket.start()).catch(() => {});
    expect(server.upgrades).toHaveLength(1);
    expect(failures[0]!.message).toMatch(advice);
  });

  it.each([500, 429])("a %i answer is retried with backoff", async (status) => {
    const server = await provider({ answer: (n) => (n === 1 ? { status } : "accept") });
    const clock = new VirtualClock();
    const { socket } = make(server.url, {}, clock);
    await clock.runUntil(socket.start());
    expect(server.upgrades).toHaveLength(2);
    expect(clock.now()).toBe(250);
  });

  it("a close code in permanentCloseCodes (1008) gives up at once instead of reconnecting", async () => {
    const server = await provider({
      onConnection: (ws) => ws.on("message", () => ws.close(1008, "DATA-0000")),
    });
    const clock = new VirtualClock();
    const { socket, failures, disconnects } = make(server.url, {}, clock);
    await clock.runUntil(socket.start());
    socket.send(Buffer.from([1, 2, 3]));
    await until(() => failures.length === 1, "the failure");
    expect(disconnects).toEqual([{ code: 1008, reason: "DATA-0000", willReconnect: false }]);
    expect(failures[0]!.failure).toBe("closed");
    expect(failures[0]!.closeCode).toBe(1008);
    expect(failures[0]!.message).toMatch(/policy violation: "DATA-0000"\); not reconnecting.*TEST_API_KEY/);
    await clock.advance(60_000);
    expect(server.upgrades).toHaveLength(1);
  });

  it("an upgrade that never gets an answer is abandoned at connectTimeoutMs and retried, then given up on (real time)", async () => {
    const server = await provider({ answer: () => "hang" });
    const { socket, failures } = make(
      server.url,
      { connectTimeoutMs: 80, backoff: { initialDelayMs: 10, maxAttempts: 2 } },
      new SystemClock(),
    );
    const t0 = performance.now();
    await socket.start().catch(() => {});
    const tookMs = performance.now() - t0;
    expect(tookMs).toBeGreaterThanOrEqual(165);
    // Two 80 ms deadlines and a 10 ms backoff; the bound leaves late timers on a loaded machine
    // 4x that (the exact ticks are the virtual-clock tests' part).
    expect(tookMs).toBeLessThan(170 * 4);
    expect(server.upgrades).toHaveLength(2);
    expect(failures[0]!.message).toMatch(
      /after 2 failed attempts in a row \(last: no answer within 80 ms\); the provider did not answer in time: check the network and the base URL \(TEST_BASE_URL\)/,
    );
    await until(
      () => server.rawSockets.every((s) => s.destroyed || s.readableEnded),
      "the abandoned sockets to go",
    );
  });

  it("drops of a flapping connection are said once and counted; a drop after a stable connection is said again", async () => {
    const server = await provider({
      onConnection: (ws) => ws.on("message", () => ws.close(1011, "NET-0000")),
    });
    const clock = new VirtualClock();
    const { socket, opens, lines } = make(
      server.url,
      { stableAfterMs: 60_000, ping: false, backoff: { initialDelayMs: 10, maxAttempts: 100 } },
      clock,
    );
    await clock.runUntil(socket.start());
    for (let i = 0; i < 5; i++) {
      socket.send("x");
      await until(() => socket.state !== "open", "the drop");
      await clock.runUntil(() => opens.length === i + 2);
    }
    const lost = () => lines.filter((l) => /was lost/.test(l.message));
    expect(lost()).toHaveLength(1);
    await clock.advance(60_000); // now stable
    socket.send("x");
    await until(() => socket.state !== "open", "the drop");
    await clock.runUntil(() => opens.length === 7);
    expect(lost().map((l) => l.message.replace(/ in the last .*/, ""))).toEqual([
      expect.stringMatching(/^TestSTTService: the connection .* was lost/),
      "TestSTTService: 4 more times", // the flapping drops, summarised
      expect.stringMatching(/^TestSTTService: the connection .* was lost/),
    ]);
  });

  it("a URL that cannot be used is a permanent error at the first attempt", async () => {
    const { socket, failures, clock } = make("ftp://example.invalid/x?api_key=secret");
    await (clock as VirtualClock).runUntil(socket.start()).catch(() => {});
    expect(failures[0]!.failure).toBe("invalid-url");
    expect(failures[0]!.message).toMatch(
      /has the scheme ftp:; give a ws:\/\/ or wss:\/\/ URL \(check TEST_BASE_URL\)/,
    );
    expect(failures[0]!.message).not.toMatch(/secret/);
  });

  it("a connection that drops before stableAfterMs counts as a failed attempt: a server that hangs up at once is given up on", async () => {
    const server = await provider({ onConnection: (ws) => ws.close(1011, "bye") });
    const clock = new VirtualClock();
    // stableAfterMs well above the ping interval: virtual time may reach a ping timer (5 s) before
    // the server's close, which is not tracked real work, arrives.
    const { socket, failures, opens } = make(
      server.url,
      { backoff: { maxAttempts: 4 }, stableAfterMs: 60_000 },
      clock,
    );
    socket.start().catch(() => {});
    await clock.runUntil(() => failures.length === 1);
    expect(opens).toEqual([false, true, true, true]);
    expect(failures[0]!.failure).toBe("gave-up");
    expect(failures[0]!.message).toMatch(
      /after 4 failed attempts in a row \(last: closed the connection with code 1011/,
    );
  });
});

describe("ProviderSocket: keep-alive and dead servers", () => {
  it("sends the keep-alive text message only when nothing was sent for intervalMs", async () => {
    const server = await provider();
    const clock = new VirtualClock();
    const { socket } = make(
      server.url,
      { keepAlive: { message: '{"type":"KeepAlive"}', intervalMs: 5_000 } },
      clock,
    );
    await clock.runUntil(socket.start());
    await clock.advance(20_000); // idle: one every 5 s
    await until(() => server.received.length === 4, "four keep-alives");
    expect(server.received.every((r) => r.text === '{"type":"KeepAlive"}' && !r.isBinary)).toBe(true);
    for (let i = 0; i < 20; i++) {
      socket.send(Buffer.alloc(320)); // audio every second: no keep-alive needed
      await clock.advance(1_000);
    }
    await until(() => server.received.length === 24, "the audio");
    expect(socket.stats.keepAlivesSent).toBe(4);
    expect(clock.pendingTimers).toBeLessThanOrEqual(2); // one keep-alive timer, one ping timer
  });

  it("a healthy server answers pings for minutes of virtual time and is never declared dead", async () => {
    const server = await provider();
    const clock = new VirtualClock();
    const { socket, disconnects } = make(
      server.url,
      { ping: { intervalMs: 5_000, timeoutMs: 2_000 } },
      clock,
    );
    await clock.runUntil(socket.start());
    await clock.advance(120_000);
    expect(disconnects).toEqual([]);
    expect(socket.stats.pingsSent).toBeGreaterThanOrEqual(20);
    expect(server.connections).toHaveLength(1);
  });

  it("a server that stops answering pings is detected within intervalMs + timeoutMs and reconnected (real time)", async () => {
    const server = await provider({ autoPong: false });
    const clock = new SystemClock();
    const { socket, disconnects } = make(server.url, { ping: { intervalMs: 60, timeoutMs: 60 } }, clock);
    await socket.start();
    const openedAt = performance.now();
    await until(() => disconnects.length === 1, "the dead server");
    const tookMs = performance.now() - openedAt;
    expect(tookMs).toBeGreaterThanOrEqual(115);
    // intervalMs + timeoutMs, with 4x that for late timers on a loaded machine (200 ms of slack
    // was under 3x; the exact ticks are the virtual-clock tests' part).
    expect(tookMs).toBeLessThan(120 * 4);
    expect(disconnects[0]!.willReconnect).toBe(true);
    expect(disconnects[0]!.reason).toMatch(/no pong or message from the provider within 60 ms/);
    await until(() => socket.stats.opens === 2, "the reconnect");
  });
});

describe("ProviderSocket: close", () => {
  it("while open: sends endOfStream, still delivers the provider's last messages, and ends when the server closes", async () => {
    const server = await provider({
      onConnection: (ws) =>
        ws.on("message", (data) => {
          if (data.toString() === '{"type":"CloseStream"}') {
            ws.send('{"type":"Results","is_final":true}');
            ws.send('{"type":"Metadata"}');
            ws.close(1000);
          }
        }),
    });
    const clock = new VirtualClock();
    const { socket, messages, disconnects } = make(
      server.url,
      { endOfStream: '{"type":"CloseStream"}' },
      clock,
    );
    await clock.runUntil(socket.start());
    await clock.runUntil(socket.close());
    expect(messages).toEqual(['{"type":"Results","is_final":true}', '{"type":"Metadata"}']);
    expect(socket.state).toBe("closed");
    expect(disconnects).toEqual([]); // the close was asked for: no disconnect, no reconnect
    expect(socket.stats.terminatedAtClose).toBe(0);
    expect(clock instanceof VirtualClock && clock.pendingTimers).toBe(0);
    await clock.advance(60_000);
    expect(server.upgrades).toHaveLength(1);
  });

  it("while open without endOfStream: starts the close handshake (1000)", async () => {
    let code = 0;
    const server = await provider({ onConnection: (ws) => ws.on("close", (c) => (code = c)) });
    const clock = new VirtualClock();
    const { socket } = make(server.url, {}, clock);
    await clock.runUntil(socket.start());
    await clock.runUntil(socket.close());
    await until(() => code !== 0, "the server's close");
    expect(code).toBe(1000);
    expect(clock.pendingTimers).toBe(0);
    expect(clock.pendingRealWork).toBe(0);
  });

  it("a server that never answers the end of stream is destroyed at closeTimeoutMs (real time)", async () => {
    let serverSawClose = false;
    const server = await provider({ onConnection: (ws) => ws.on("close", () => (serverSawClose = true)) });
    const { socket } = make(
      server.url,
      { endOfStream: '{"type":"CloseStream"}', closeTimeoutMs: 100 },
      new SystemClock(),
    );
    await socket.start();
    const t0 = performance.now();
    await socket.close();
    const tookMs = performance.now() - t0;
    expect(tookMs).toBeGreaterThanOrEqual(95);
    expect(tookMs).toBeLessThan(100 + 300);
    expect(socket.stats.terminatedAtClose).toBe(1);
    await until(() => serverSawClose, "the server to see the socket go");
  });

  it("a server that never reads the close frame is destroyed at closeTimeoutMs (real time)", async () => {
    const server = await provider({
      onConnection: (ws) => (ws as unknown as { _socket: { pause(): void } })._socket.pause(),
    });
    const { socket } = make(server.url, { closeTimeoutMs: 100 }, new SystemClock());
    await socket.start();
    const t0 = performance.now();
    await socket.close();
    expect(performance.now() - t0).toBeLessThan(100 + 300);
    expect(socket.stats.terminatedAtClose).toBe(1);
  });

  it("before the connection opens: the attempt is cancelled at once, start() rejects, no socket or timer is left", async () => {
    const before = tcpHandles();
    const server = await provider({ answer: () => "hang" });
    const clock = new VirtualClock();
    const { socket, failures } = make(server.url, {}, clock);
    const started = socket.start();
    await until(() => server.upgrades.length === 1, "the upgrade request");
    await socket.close();
    await expect(started).rejects.toThrow(/closed before it connected/);
    expect(socket.state).toBe("closed");
    expect(failures).toEqual([]);
    expect(clock.pendingTimers).toBe(0);
    expect(clock.pendingRealWork).toBe(0);
    await until(
      () => server.rawSockets[0]!.destroyed || server.rawSockets[0]!.readableEnded,
      "the server to see it go",
    );
    await server.close();
    await until(() => tcpHandles() <= before, "every TCP handle released");
  });

  it("during a backoff wait: the wait is cancelled at once and no attempt follows", async () => {
    const server = await provider({ answer: () => ({ status: 503 }) });
    const clock = new VirtualClock();
    const { socket, lines } = make(server.url, { backoff: { initialDelayMs: 10_000 } }, clock);
    socket.start().catch(() => {});
    await clock.runUntil(() => socket.state === "waiting");
    expect(clock.pendingTimers).toBe(1);
    await socket.close();
    expect(clock.pendingTimers).toBe(0);
    await clock.advance(120_000);
    expect(server.upgrades).toHaveLength(1);
    expect(lines.filter((l) => l.level === "error")).toEqual([]);
  });

  it("close() called from inside onOpen or onMessage closes cleanly, with no reconnect", async () => {
    const server = await provider({ onConnection: echo });
    const clock = new VirtualClock();
    let closing: Promise<void> | undefined;
    const fromOpen = make(server.url, { onOpen: () => void (closing = fromOpen.socket.close()) }, clock);
    await clock.runUntil(fromOpen.socket.start()).catch(() => {});
    await clock.runUntil(closing!);
    expect(fromOpen.socket.state).toBe("closed");

    const fromMessage: Made = make(
      server.url,
      { onMessage: () => void (closing = fromMessage.socket.close()) },
      clock,
    );
    await clock.runUntil(fromMessage.socket.start());
    fromMessage.socket.send("hi");
    await until(() => fromMessage.socket.state !== "open", "the close");
    await clock.runUntil(closing!);
    expect(fromMessage.socket.state).toBe("closed");
    await clock.advance(60_000);
    expect(server.upgrades).toHaveLength(2);
    expect(fromOpen.disconnects.concat(fromMessage.disconnects)).toEqual([]);
  });

  it("is idempotent: a second close returns the same promise; close before start makes start reject", async () => {
    const server = await provider();
    const clock = new VirtualClock();
    const { socket } = make(server.url, {}, clock);
    await clock.runUntil(socket.start());
    const first = socket.close();
    expect(socket.close()).toBe(first);
    await clock.runUntil(first);
    expect(socket.state).toBe("closed");

    const idle = make(server.url, {}, clock).socket;
    await idle.close();
    await expect(idle.start()).rejects.toThrow(/closed/);
    expect(server.upgrades).toHaveLength(1);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe("ProviderSocket: sends when not open, handler errors, bounds", () => {
  it("send() when not open returns false, says so once and counts the rest; it never throws", async () => {
    const server = await provider({ answer: () => ({ status: 503 }) });
    const clock = new VirtualClock();
    const { socket, lines } = make(server.url, { backoff: { initialDelayMs: 1_000, maxAttempts: 5 } }, clock);
    expect(socket.send("too early")).toBe(false);
    socket.start().catch(() => {});
    await clock.runUntil(() => socket.state === "waiting");
    for (let i = 0; i < 1_000; i++) expect(socket.send(Buffer.alloc(640))).toBe(false);
    expect(socket.stats.droppedSends).toBe(1_001);
    const said = lines.filter((l) => /dropped/.test(l.message));
    expect(said.map((l) => l.message)).toEqual([
      "TestSTTService: a message was sent before start(); it was dropped (call start() first)",
      "TestSTTService: a message was sent while the connection to the provider is being (re)opened; messages are dropped until it is open (counted in stats.droppedSends)",
    ]);
    await socket.close();
    expect(socket.send("late")).toBe(false);
  });

  it("an onMessage that throws is said once and counted; later messages are still delivered", async () => {
    const server = await provider({ onConnection: echo });
    const clock = new VirtualClock();
    let delivered = 0;
    const { socket, lines } = make(
      server.url,
      {
        onMessage: () => {
          delivered++;
          throw new Error("bad JSON");
        },
      },
      clock,
    );
    await clock.runUntil(socket.start());
    for (let i = 0; i < 50; i++) socket.send(`m${i}`);
    await until(() => delivered === 50, "every message");
    expect(socket.stats.handlerErrors).toBe(50);
    const errors = lines.filter((l) => l.level === "error");
    expect(errors.map((l) => l.message)).toEqual([
      "TestSTTService: its onMessage handler threw (bad JSON); the message was skipped",
    ]);
  });

  it("drops sends (counted) while more than maxBufferedBytes wait unsent to a provider that does not read", async () => {
    const server = await provider({
      onConnection: (ws) => (ws as unknown as { _socket: { pause(): void } })._socket.pause(),
    });
    // The system clock: close() waits (real I/O) on a server that reads nothing, up to closeTimeoutMs.
    const { socket } = make(
      server.url,
      { maxBufferedBytes: 256 * 1024, closeTimeoutMs: 50 },
      new SystemClock(),
    );
    await socket.start();
    const chunk = Buffer.alloc(256 * 1024);
    let accepted = 0;
    for (let i = 0; i < 400 && socket.stats.droppedSends === 0; i++) {
      if (socket.send(chunk)) accepted++;
      await new Promise((r) => setImmediate(r));
    }
    expect(socket.stats.droppedSends).toBe(1);
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(400);
  });

  it("nothing grows over 2500 reconnects: timers, TCP handles and heap stay bounded", async () => {
    const server = await provider({ onConnection: (ws) => ws.on("message", () => ws.terminate()) });
    const clock = new VirtualClock();
    const { socket, opens } = make(
      server.url,
      {
        keepAlive: { message: "ka", intervalMs: 1_000 },
        stableAfterMs: 1,
        backoff: { initialDelayMs: 10 },
        logger: silentLogger, // each drop after a stable connection is a line: a memory logger would grow
      },
      clock,
    );
    await clock.runUntil(socket.start());
    const handles: number[] = [];
    let heapAfterWarmUp = 0;
    for (let i = 0; i < 2_500; i++) {
      const next = opens.length + 1;
      socket.send("drop me"); // the server hangs up on any message
      await clock.runUntil(() => opens.length >= next);
      await clock.advance(1); // past stableAfterMs: the failure count resets
      if (i % 50 === 0) handles.push(tcpHandles());
      expect(clock.pendingTimers).toBeLessThanOrEqual(2);
      // The loopback server keeps what it saw; forget it, so only the client's memory is measured.
      for (const list of [server.connections, server.rawSockets, server.upgrades, server.received])
        list.length = 0;
      // A VirtualClock keeps a cancelled timer (and what its callback holds: the dropped
      // connection) until its due time: move past the longest (the 5 s ping) before measuring.
      // The warm-up is long because V8's own caches grow for the first ~2000 connections (measured:
      // +1.3 MB from 300 to 1200 connections, +0.07 MB from 2400 to 3600, then flat).
      if (i === 1_499) {
        await clock.advance(6_000);
        heapAfterWarmUp = await settledHeap();
      }
    }
    await clock.advance(6_000);
    const grownBytes = (await settledHeap()) - heapAfterWarmUp;
    expect(socket.stats.reconnects).toBeGreaterThanOrEqual(2_500);
    expect(Math.max(...handles.slice(10))).toBeLessThanOrEqual(Math.max(...handles.slice(0, 3)) + 2);
    // 1000 more connections made and dropped; keeping one connection's objects (about 7 KB,
    // measured when the clock held them) per drop would be 7 MB.
    expect(grownBytes).toBeLessThan(1024 * 1024);
  });
});
