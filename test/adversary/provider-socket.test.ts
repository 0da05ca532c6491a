/**
 * Adversarial probes of `ProviderSocket` (docs/design/provider-socket.md) through the root export,
 * against misbehaving loopback servers (raw `net` servers speaking broken HTTP and WebSocket, and
 * `ws` servers doing odd things) and against misuse by its owner. Holes are `it.fails`; `held:`
 * tests are attacks that broke nothing and stay as regression tests.
 */
import { createHash } from "node:crypto";
import { once } from "node:events";
import { type AddressInfo, type Server, type Socket, createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type WebSocket, WebSocketServer } from "ws";
import {
  type Clock,
  ProviderSocket,
  ProviderSocketError,
  type ProviderSocketOptions,
  SystemClock,
  VirtualClock,
} from "../../src/index.js";
import { silentLogger } from "../../src/logger.js";
import { settledHeap } from "../support/gc.js";
import { type LoggedLine, memoryLogger } from "../support/logger.js";
import { tcpHandles, until } from "../services/websocket/loopback-provider.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  // Every cleanup runs, even when one throws (a hole's close() may reject).
  const errors: unknown[] = [];
  for (const c of cleanups.splice(0).reverse())
    await Promise.resolve()
      .then(c)
      .catch((e: unknown) => errors.push(e));
  if (errors.length > 0) throw errors[0];
});

/** A raw TCP server on 127.0.0.1: `onRequest` gets each socket with the HTTP request head it sent. */
async function rawServer(
  onRequest: (socket: Socket, head: string) => void,
): Promise<{ url: string; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => {});
    let head = "";
    const onData = (chunk: Buffer): void => {
      head += chunk.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      socket.off("data", onData);
      onRequest(socket, head);
    };
    socket.on("data", onData);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/v1/listen`, sockets };
}

/** The 101 answer a correct server gives to `head` (or with a wrong accept key). */
function switching(head: string, wrongKey = false): string {
  const key = /sec-websocket-key:\s*(\S+)/i.exec(head)?.[1] ?? "";
  const accept = createHash("sha1")
    .update(wrongKey ? "not-the-key" : key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
    .digest("base64");
  return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`;
}

/** An unmasked server-to-client frame. */
function frame(opcode: number, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === "string" ? Buffer.from(payload) : payload;
  if (body.length < 126) return Buffer.concat([Buffer.from([0x80 | opcode, body.length]), body]);
  const head = Buffer.alloc(4);
  head[0] = 0x80 | opcode;
  head[1] = 126;
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([head, body]);
}

/** A close frame with `code`. */
function closeFrame(code: number): Buffer {
  const payload = Buffer.alloc(2);
  payload.writeUInt16BE(code);
  return frame(0x8, payload);
}

/** A `ws` server on 127.0.0.1; `onConnection` gets each accepted socket. */
async function wsServer(
  onConnection: (ws: WebSocket) => void,
  options: { autoPong?: boolean } = {},
): Promise<{ url: string; clients: () => number }> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, autoPong: options.autoPong ?? true });
  await once(wss, "listening");
  wss.on("connection", (ws) => {
    ws.on("error", () => {});
    onConnection(ws);
  });
  cleanups.push(async () => {
    for (const ws of wss.clients) ws.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/v1/listen`,
    clients: () => wss.clients.size,
  };
}

interface Probe {
  socket: ProviderSocket;
  lines: LoggedLine[];
  messages: Buffer[];
  failures: ProviderSocketError[];
  disconnects: number;
}

/** A socket on `clock` (virtual by default) that records what it reports, closed after the test. */
function probe(
  url: string,
  options: Partial<ProviderSocketOptions> = {},
  clock: Clock = new VirtualClock(),
): Probe {
  const { logger, lines } = memoryLogger();
  const made = {
    lines,
    messages: [] as Buffer[],
    failures: [] as ProviderSocketError[],
    disconnects: 0,
  } as Probe;
  made.socket = new ProviderSocket({
    service: "AdversarySTTService",
    clock,
    logger,
    url,
    apiKeyEnv: "ADV_API_KEY",
    baseUrlEnv: "ADV_BASE_URL",
    onMessage: (data) => void made.messages.push(data),
    onDisconnect: () => void made.disconnects++,
    onFailure: (error) => void made.failures.push(error),
    ...options,
  });
  cleanups.push(async () => {
    await made.socket.close({ timeoutMs: 100 }).catch(() => {}); // a hole below makes it reject
    if (clock instanceof VirtualClock) {
      expect(clock.pendingTimers).toBe(0);
      expect(clock.pendingRealWork).toBe(0);
    }
  });
  return made;
}

/** Waits for `promise` to settle, in real time; its outcome. */
async function settled(promise: Promise<unknown>, clock: Clock): Promise<"resolved" | unknown> {
  const outcome = promise.then(
    () => "resolved",
    (error: unknown) => error,
  );
  return clock instanceof VirtualClock ? clock.runUntil(outcome) : outcome;
}

const FAST = { initialDelayMs: 1, maxDelayMs: 2, maxAttempts: 3 };

describe("adversary: ProviderSocket against broken servers", () => {
  it("held: a 101 with a wrong Sec-WebSocket-Accept is a failed attempt, retried, then given up on with one error", async () => {
    const server = await rawServer((socket, head) => socket.write(switching(head, true)));
    const clock = new VirtualClock();
    const p = probe(server.url, { backoff: FAST }, clock);
    const outcome = await settled(p.socket.start(), clock);
    expect(outcome).toBeInstanceOf(ProviderSocketError);
    expect(p.failures.map((f) => f.failure)).toEqual(["gave-up"]);
    expect(p.failures[0]!.message).toMatch(/Sec-WebSocket-Accept/i);
    expect(p.socket.stats.attempts).toBe(3);
  });

  it("held: an HTTP answer whose headers never end is abandoned at connectTimeoutMs (real time)", async () => {
    const server = await rawServer((socket) =>
      socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"),
    );
    const clock = new SystemClock();
    const p = probe(server.url, { backoff: { ...FAST, maxAttempts: 2 }, connectTimeoutMs: 80 }, clock);
    const t0 = performance.now();
    const outcome = await settled(p.socket.start(), clock);
    expect(outcome).toBeInstanceOf(ProviderSocketError);
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(p.socket.stats.attempts).toBe(2);
  });

  it("held: a server that hangs up in the middle of its 101 is retried", async () => {
    const server = await rawServer((socket, head) => socket.end(switching(head).slice(0, 40)));
    const clock = new VirtualClock();
    const p = probe(server.url, { backoff: FAST }, clock);
    expect(await settled(p.socket.start(), clock)).toBeInstanceOf(ProviderSocketError);
    expect(p.failures).toHaveLength(1);
    expect(p.socket.stats.attempts).toBe(3);
  });

  it("held: garbage frames from the server (a reserved opcode) drop the connection, which is reconnected, not failed as 'closed'", async () => {
    let n = 0;
    const server = await rawServer((socket, head) => {
      socket.write(switching(head));
      if (++n === 1) socket.write(Buffer.from([0x83, 0x02, 0xde, 0xad])); // opcode 3 is reserved
    });
    const clock = new SystemClock();
    const p = probe(server.url, { backoff: FAST, stableAfterMs: 1 }, clock);
    await p.socket.start();
    await until(() => p.socket.stats.reconnects === 1, "the reconnect after the garbage");
    expect(p.failures).toEqual([]);
    expect(p.socket.state).toBe("open");
  });

  it("held: a message over maxMessageBytes drops the connection (reconnected), and is not delivered", async () => {
    let n = 0;
    const server = await wsServer((ws) => {
      if (++n === 1) ws.send(Buffer.alloc(70_000));
      else ws.send("small");
    });
    const clock = new SystemClock();
    const p = probe(server.url, { maxMessageBytes: 65_536, stableAfterMs: 1, backoff: FAST }, clock);
    await p.socket.start();
    await until(() => p.messages.length === 1, "the small message on the second connection");
    expect(p.messages[0]!.toString()).toBe("small");
    expect(p.socket.stats.reconnects).toBe(1);
    expect(p.failures).toEqual([]);
  });

  it("held: a server that sends a close frame and then never ends its TCP side is found by the ping (real time)", async () => {
    let n = 0;
    const server = await rawServer((socket, head) => {
      socket.write(switching(head));
      if (++n === 1) socket.write(closeFrame(1001)); // and never ends, never answers again
    });
    const clock = new SystemClock();
    const p = probe(
      server.url,
      { ping: { intervalMs: 60, timeoutMs: 60 }, stableAfterMs: 1, backoff: FAST },
      clock,
    );
    await p.socket.start();
    await until(() => p.socket.stats.reconnects === 1, "the reconnect", 2_000);
    expect(p.failures).toEqual([]);
  });

  it("held: a permanent close code sent while close() waits does not call onFailure: close() is final", async () => {
    const server = await wsServer((ws) => ws.on("message", () => ws.close(1008, "policy")));
    const clock = new SystemClock();
    const p = probe(server.url, { endOfStream: "bye" }, clock);
    await p.socket.start();
    await p.socket.close();
    expect(p.socket.state).toBe("closed");
    expect(p.failures).toEqual([]);
    expect(p.disconnects).toBe(0);
  });

  it("held: a server that resets the TCP connection in answer to the end of stream: close() resolves at once, state closed", async () => {
    const server = await rawServer((socket, head) => {
      socket.write(switching(head));
      socket.on("data", () => socket.resetAndDestroy());
    });
    const clock = new SystemClock();
    const p = probe(server.url, { endOfStream: "bye", closeTimeoutMs: 5_000 }, clock);
    await p.socket.start();
    const t0 = performance.now();
    await p.socket.close();
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(p.socket.state).toBe("closed");
    expect(p.failures).toEqual([]);
  });

  it("held: HTTP 200 (a web page, not a WebSocket endpoint) on the upgrade ends with a message that gives the status", async () => {
    const server = await rawServer((socket) =>
      socket.end("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 13\r\n\r\n<html></html>"),
    );
    const clock = new VirtualClock();
    const p = probe(server.url, { backoff: FAST }, clock);
    expect(await settled(p.socket.start(), clock)).toBeInstanceOf(ProviderSocketError);
    expect(p.failures).toHaveLength(1);
    expect(p.failures[0]!.message).toMatch(/200/);
  });
});

describe("adversary: ProviderSocket misuse by its owner", () => {
  // HOLE: a keep-alive message function that throws escapes from the clock timer: on a
  // VirtualClock, `advance()` rejects with the owner's error; on the SystemClock it is an uncaught
  // exception (the process ends). The keep-alive is never re-armed either. The TSDoc of
  // `onMessage` promises a throw is "said once, counted"; `keepAlive.message` and `endOfStream`
  // are owner callbacks too. Root cause: provider-socket.ts `#opened` builds the keep-alive `send`
  // as `messageOf(keepAlive.message)` outside `#callHandler`, and `Liveness.#keepAliveDue` calls it
  // from the timer with no try.
  it("a keep-alive message function that throws is said once and counted; the clock and the connection carry on", async () => {
    const server = await wsServer(() => {});
    const clock = new VirtualClock();
    let calls = 0;
    const p = probe(
      server.url,
      {
        keepAlive: {
          intervalMs: 100,
          message: () => {
            calls++;
            throw new Error("no context id yet");
          },
        },
      },
      clock,
    );
    await clock.runUntil(p.socket.start());
    await clock.advance(1_000); // rejects today with "no context id yet"
    expect(calls).toBeGreaterThanOrEqual(9); // re-armed after each throw
    expect(p.socket.state).toBe("open");
    expect(p.socket.stats.handlerErrors).toBeGreaterThanOrEqual(1);
  });

  // HOLE: an `endOfStream` function that throws makes close() reject with the owner's error (the
  // TSDoc says close() "never rejects"), and the connection is left open: state stays "closing",
  // the server still holds the client, and nothing ever closes it (measured: still connected 200 ms
  // later). The same happens when the message it returns is not something ws can send. Root
  // cause: provider-socket.ts `#closeConnection` calls `messageOf(endOfStream)` and `socket.send`
  // with no guard, before the bounded wait and the terminate that follow.
  it("an endOfStream function that throws: close() still resolves (it never rejects) and the connection is closed", async () => {
    const server = await wsServer(() => {});
    const clock = new SystemClock();
    const p = probe(
      server.url,
      {
        endOfStream: () => {
          throw new Error("boom");
        },
        closeTimeoutMs: 100,
      },
      clock,
    );
    await p.socket.start();
    const outcome = await settled(p.socket.close(), clock);
    await new Promise((r) => setTimeout(r, 200)); // a reconnect would show by now
    expect({ outcome, state: p.socket.state }).toEqual({ outcome: "resolved", state: "closed" });
    // The server sees the connection go when the close reaches it over loopback: waited for past
    // the 200 ms (which alone assumed it had by then), bounded; a connection left open fails here.
    await until(() => server.clients() === 0, "the server to see the connection closed");
  });

  it("held: onFailure, onDisconnect and onOpen that throw are counted; start() still rejects once; nothing is unhandled", async () => {
    let n = 0;
    const server = await wsServer((ws) => {
      if (++n === 1) ws.close(1001);
      else ws.close(1008, "policy");
    });
    const clock = new SystemClock();
    const p = probe(
      server.url,
      {
        stableAfterMs: 1,
        backoff: FAST,
        onOpen: () => {
          throw new Error("open");
        },
        onDisconnect: () => {
          throw new Error("disconnect");
        },
        onFailure: () => {
          throw new Error("failure");
        },
      },
      clock,
    );
    await p.socket.start();
    await until(() => p.socket.state === "failed", "the permanent failure");
    expect(p.socket.failure?.failure).toBe("closed");
    expect(p.socket.stats.handlerErrors).toBeGreaterThanOrEqual(4);
  });

  it("held: url() and headers() that throw end in one error naming the cause; no attempt leaks", async () => {
    for (const options of [
      {
        url: () => {
          throw new Error("no base url");
        },
      },
      {
        headers: () => {
          throw new Error("no key");
        },
      },
    ] as Array<Partial<ProviderSocketOptions>>) {
      const server = await wsServer(() => {});
      const clock = new VirtualClock();
      const p = probe(server.url, { backoff: FAST, ...options }, clock);
      expect(await settled(p.socket.start(), clock)).toBeInstanceOf(ProviderSocketError);
      expect(p.failures).toHaveLength(1);
      expect(p.failures[0]!.message).toMatch(/no base url|no key/);
      expect(server.clients()).toBe(0);
    }
  });

  // HOLE: a header value the HTTP client refuses (a newline, as an API key read from a file with
  // its line end) is a setting to fix, so like a bad URL it should fail at once with a message
  // naming the header. Today it is retried `maxAttempts` times as a connection problem ("could not
  // connect … Invalid character in header content ["Authorization"]; retrying") and given up on
  // as `gave-up` with advice to "check that the provider is reachable at that address". Root cause:
  // provider-connection.ts classifies every error thrown by `new WebSocket(...)` (ERR_INVALID_CHAR
  // from `http.request`) as a transient network error; only the URL is checked before an attempt.
  it("a header value with a newline is a permanent error at the first attempt, naming the header", async () => {
    const server = await wsServer(() => {});
    const clock = new VirtualClock();
    const p = probe(server.url, { backoff: FAST, headers: { Authorization: "Token key\n" } }, clock);
    expect(await settled(p.socket.start(), clock)).toBeInstanceOf(ProviderSocketError);
    expect(p.socket.stats.attempts).toBe(0); // refused before connecting, like a bad URL: nothing retried
    expect(p.failures[0]!.failure).toBe("invalid-headers");
    expect(p.failures[0]!.message).toMatch(/Authorization/);
  });

  // HOLE (small): send() "never throws", "so a frame handler never fails deep inside", but a value
  // outside `SocketData` from JavaScript (an object, a Symbol, a function, a BigInt) throws ws's
  // TypeError ERR_INVALID_ARG_TYPE, which does not name the socket or the service; undefined,
  // null and numbers are sent as text. Root cause: provider-socket.ts `send` hands `data` to
  // `ws.send` unchecked. A refusal that is said once (naming the service and the type) and
  // counted would keep the promise.
  it("send() of values outside SocketData (from JavaScript) never throws", async () => {
    const server = await wsServer(() => {});
    const clock = new SystemClock();
    const p = probe(server.url, {}, clock);
    await p.socket.start();
    for (const bad of [undefined, null, 42, {}, Symbol("s"), () => 1, 10n]) {
      expect(() => p.socket.send(bad as never)).not.toThrow();
    }
  });

  // start() after a failure returns the first call's promise (idempotent): resolved when the first
  // connection had opened, as here. It does not reconnect.
  it("held: close() inside onFailure, start() inside onFailure, send() inside onDisconnect: no throw, no reconnect", async () => {
    const server = await wsServer((ws) => ws.close(1008, "policy"));
    const clock = new VirtualClock();
    let startAfter: unknown;
    let sentInDisconnect: boolean | undefined;
    const p: { socket?: ProviderSocket } = {};
    const made = probe(
      server.url,
      {
        onDisconnect: () => {
          sentInDisconnect = p.socket!.send("late");
        },
        onFailure: () => {
          void p.socket!.close();
          p.socket!.start().then(
            () => (startAfter = "resolved"),
            (e: unknown) => (startAfter = e),
          );
        },
      },
      clock,
    );
    p.socket = made.socket;
    await clock.runUntil(made.socket.start());
    await until(() => made.socket.state === "failed", "the failure");
    await clock.runUntil(made.socket.close());
    await until(() => startAfter !== undefined, "start() after the failure to settle");
    expect(startAfter).toBe("resolved");
    expect(sentInDisconnect).toBe(false);
    expect(made.socket.stats.attempts).toBe(1);
  });

  it("held: close() racing the open (called from the server's first message before start() resolves is awaited)", async () => {
    const server = await wsServer((ws) => ws.send("hello"));
    const clock = new SystemClock();
    const p: { socket?: ProviderSocket } = {};
    const made = probe(server.url, { onMessage: () => void p.socket!.close() }, clock);
    p.socket = made.socket;
    await made.socket.start().catch(() => {});
    await until(() => made.socket.state === "closed", "closed");
    expect(made.socket.stats.opens).toBe(1);
    expect(made.socket.stats.reconnects).toBe(0);
  });

  it("held: settings of 0, NaN, ±Infinity and negative are refused at construction with an error naming them", () => {
    const bad = [0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -1];
    const names = [
      "connectTimeoutMs",
      "closeTimeoutMs",
      "stableAfterMs",
      "maxBufferedBytes",
      "maxMessageBytes",
    ] as const;
    for (const name of names)
      for (const v of bad)
        expect(
          () =>
            new ProviderSocket({
              service: "S",
              clock: new VirtualClock(),
              logger: silentLogger,
              url: "ws://x",
              onMessage: () => {},
              [name]: v,
            }),
          `${name} = ${v}`,
        ).toThrow(name);
    for (const v of bad) {
      const base = {
        service: "S",
        clock: new VirtualClock(),
        logger: silentLogger,
        url: "ws://x",
        onMessage: () => {},
      };
      expect(() => new ProviderSocket({ ...base, keepAlive: { message: "k", intervalMs: v } })).toThrow(
        "keepAlive.intervalMs",
      );
      expect(() => new ProviderSocket({ ...base, ping: { intervalMs: v } })).toThrow("ping.intervalMs");
      expect(() => new ProviderSocket({ ...base, ping: { timeoutMs: v } })).toThrow("ping.timeoutMs");
    }
  });

  it("held: huge timeouts on the system clock do not fire at once (Node's 2^31 ms limit)", async () => {
    const server = await rawServer(() => {}); // never answers the upgrade
    const clock = new SystemClock();
    const p = probe(
      server.url,
      { connectTimeoutMs: 3e9, stableAfterMs: 3e9, closeTimeoutMs: 3e9, backoff: FAST },
      clock,
    );
    void p.socket.start();
    await new Promise((r) => setTimeout(r, 100));
    expect(p.socket.state).toBe("connecting");
    expect(p.socket.stats.failedAttempts).toBe(0);
  });
});

describe("adversary: ProviderSocket leaves nothing behind", () => {
  it("held: 300 sockets each opened, used and closed: TCP handles and timers back to where they were, heap flat", async () => {
    const server = await wsServer((ws) => ws.on("message", (m) => ws.send(m)));
    const clock = new SystemClock();
    const cycle = async (): Promise<void> => {
      const socket = new ProviderSocket({
        service: "CycleService",
        clock,
        logger: silentLogger,
        url: server.url,
        keepAlive: { message: "ka", intervalMs: 1_000 },
        endOfStream: "bye",
        closeTimeoutMs: 50,
        onMessage: () => {},
      });
      await socket.start();
      socket.send("x");
      await socket.close();
    };
    for (let i = 0; i < 30; i++) await cycle();
    await until(() => server.clients() === 0, "the server to see every close");
    const before = { tcp: tcpHandles(), timers: timeouts(), heap: await settledHeap() };
    for (let i = 0; i < 300; i++) await cycle();
    await until(() => server.clients() === 0, "the server to see every close");
    const after = { tcp: tcpHandles(), timers: timeouts(), heap: await settledHeap() };
    expect(after.tcp).toBeLessThanOrEqual(before.tcp);
    expect(after.timers).toBeLessThanOrEqual(before.timers);
    expect(after.heap - before.heap).toBeLessThan(1024 * 1024);
  });

  it("held: close() during a backoff wait on the system clock releases its timer at once", async () => {
    const server = await rawServer((socket) =>
      socket.end("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"),
    );
    const clock = new SystemClock();
    const before = timeouts();
    const p = probe(server.url, { backoff: { initialDelayMs: 60_000, maxAttempts: 5 } }, clock);
    void p.socket.start();
    await until(() => p.socket.state === "waiting", "the backoff wait");
    expect(timeouts()).toBeGreaterThan(before);
    await p.socket.close();
    expect(timeouts()).toBeLessThanOrEqual(before);
  });
});

function timeouts(): number {
  return process.getActiveResourcesInfo().filter((name) => name === "Timeout").length;
}
