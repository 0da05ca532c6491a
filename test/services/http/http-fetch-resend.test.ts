/**
 * httpFetch's one resend (a kept connection the server closed as the request went out on it) and
 * its content codings, against a raw TCP server on loopback that writes exactly the bytes each
 * case needs.
 */
import { once } from "node:events";
import { type Server, type Socket, createServer } from "node:net";
import {
  brotliCompressSync,
  createDeflate,
  createDeflateRaw,
  deflateRawSync,
  deflateSync,
  gzipSync,
} from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { httpFetch } from "../../../src/services/http/http-fetch.js";

/** One request as the raw server parsed it. */
interface RawRequest {
  /** 1-based over the server's life. */
  readonly n: number;
  /** 1-based number of its TCP connection. */
  readonly connection: number;
  /** Requests before it on the same connection. */
  readonly onConnection: number;
  readonly socket: Socket;
}

interface RawServer {
  readonly url: string;
  readonly requests: RawRequest[];
  connections(): number;
  close(): Promise<void>;
}

const servers: RawServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** Reads HTTP/1.1 requests (head and `content-length` body) one after another on each connection. */
async function rawServer(handle: (req: RawRequest) => void): Promise<RawServer> {
  const requests: RawRequest[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((socket) => {
    const connection = ++connections;
    let onConnection = 0;
    let buffer = Buffer.alloc(0);
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    socket.on("data", (data: Buffer) => {
      buffer = Buffer.concat([buffer, data]);
      for (;;) {
        const end = buffer.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = buffer.subarray(0, end).toString("latin1");
        const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffer.length < end + 4 + length) return;
        buffer = buffer.subarray(end + 4 + length);
        const req = { n: requests.length + 1, connection, onConnection: onConnection++, socket };
        requests.push(req);
        handle(req);
      }
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  const s: RawServer = {
    url: `http://127.0.0.1:${port}`,
    requests,
    connections: () => connections,
    async close() {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, "close");
    },
  };
  servers.push(s);
  return s;
}

function respond(socket: Socket, body: string | Buffer, headers: Record<string, string> = {}): void {
  const bytes = typeof body === "string" ? Buffer.from(body) : body;
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
  socket.write(`HTTP/1.1 200 OK\r\n${lines.join("")}content-length: ${bytes.length}\r\n\r\n`);
  socket.write(bytes);
}

const post = (url: string, signal?: AbortSignal): Promise<Response> =>
  httpFetch(`${url}/v1/chat/completions`, {
    method: "POST",
    body: '{"q":1}',
    ...(signal ? { signal } : {}),
  });

/** The error `promise` rejects with (fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<Error & { cause?: unknown }> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a rejection");
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("httpFetch: a kept connection the server closed as the request went out", () => {
  for (const close of ["end", "destroy", "resetAndDestroy"] as const) {
    it(`is resent at once on a new connection, once (server ${close}s the connection on the request)`, async () => {
      const srv = await rawServer((req) => {
        if (req.onConnection === 0) respond(req.socket, `answer ${req.n}`);
        else req.socket[close](); // the server had decided to close this idle connection
      });
      expect(await (await post(srv.url)).text()).toBe("answer 1");
      await sleep(20);
      expect(await (await post(srv.url)).text()).toBe("answer 3");
      // The lost request reached connection 1, and was sent again on connection 2.
      expect(srv.requests.map((r) => [r.connection, r.onConnection])).toEqual([
        [1, 0],
        [1, 1],
        [2, 0],
      ]);
    });
  }

  it("is never resent on a new connection: the first request's failure is fetch's", async () => {
    const srv = await rawServer((req) => req.socket.destroy());
    const error = await rejection(post(srv.url));
    expect(error).toBeInstanceOf(TypeError);
    expect(error.message).toBe("fetch failed");
    expect((error.cause as NodeJS.ErrnoException).code).toBe("ECONNRESET");
    await sleep(50);
    expect(srv.requests).toHaveLength(1);
  });

  it("is never resent once a byte of the answer came (a head cut short)", async () => {
    const srv = await rawServer((req) => {
      if (req.onConnection === 0) respond(req.socket, "first");
      else req.socket.end("HTTP/1.1 200 OK\r\ncontent-"); // the answer began, then the connection ended
    });
    await (await post(srv.url)).text();
    await sleep(20);
    const error = await rejection(post(srv.url));
    expect(error.message).toBe("fetch failed");
    await sleep(50);
    expect(srv.requests).toHaveLength(2);
  });

  it("is resent once only: the resend failing too is fetch's error", async () => {
    const srv = await rawServer((req) => {
      if (req.n === 1) respond(req.socket, "first");
      else req.socket.destroy();
    });
    await (await post(srv.url)).text();
    await sleep(20);
    const error = await rejection(post(srv.url));
    expect(error.message).toBe("fetch failed");
    await sleep(50);
    expect(srv.requests).toHaveLength(3);
    expect(srv.connections()).toBe(2);
  });

  it("is never resent after an abort: the signal's reason, and the server sees nothing more", async () => {
    const srv = await rawServer((req) => {
      if (req.n === 1) respond(req.socket, "first");
      // The second request is held: the caller aborts it.
    });
    await (await post(srv.url)).text();
    const controller = new AbortController();
    const pending = post(srv.url, controller.signal);
    while (srv.requests.length < 2) await sleep(5);
    const reason = new Error("interrupted");
    controller.abort(reason);
    expect(await rejection(pending)).toBe(reason);
    await sleep(50);
    expect(srv.requests).toHaveLength(2);
  });

  it("a request on a kept connection that the server answers is not sent twice (twenty requests, twenty seen)", async () => {
    const srv = await rawServer((req) => respond(req.socket, `answer ${req.n}`));
    for (let i = 1; i <= 20; i++) expect(await (await post(srv.url)).text()).toBe(`answer ${i}`);
    expect(srv.requests).toHaveLength(20);
    expect(srv.connections()).toBe(1);
  });
});

describe("httpFetch: content codings, as fetch decodes them", () => {
  const text = "data: hello\n\n";
  const cases: Array<[string, Buffer, string?]> = [
    ["deflate, gzip", gzipSync(deflateSync(Buffer.from(text)))],
    ["gzip, gzip", gzipSync(gzipSync(Buffer.from(text)))],
    ["GZIP ,br", brotliCompressSync(gzipSync(Buffer.from(text)))],
    ["gzip, br, deflate", deflateSync(brotliCompressSync(gzipSync(Buffer.from(text))))],
    // Raw deflate (no zlib wrapper), which some servers send for "deflate": fetch reads it.
    ["deflate", deflateRawSync(Buffer.from(text)), "raw"],
    ["deflate, gzip", gzipSync(deflateRawSync(Buffer.from(text))), "raw"],
    ["deflate", deflateSync(Buffer.from(text.repeat(50_000))), "650 KB inflated from 3 KB"],
    ["gzip,", gzipSync(Buffer.from(text))], // an empty coding is one fetch does not know
    // One coding it does not know: the body as it came, every coding left on.
    ["gzip, zstd", gzipSync(Buffer.from(text))],
    ["identity, gzip", gzipSync(Buffer.from(text))],
  ];
  for (const [codings, body, note] of cases) {
    it(`content-encoding "${codings}"${note ? ` (${note})` : ""}: the same body as fetch reads`, async () => {
      const srv = await rawServer((req) => respond(req.socket, body, { "content-encoding": codings }));
      const url = `${srv.url}/x`;
      const expected = Buffer.from(await (await fetch(url)).arrayBuffer());
      const got = Buffer.from(await (await httpFetch(url)).arrayBuffer());
      expect(got).toEqual(expected);
      if (!/zstd|identity|,$/.test(codings))
        expect(got.toString()).toBe(text.repeat(got.length / text.length));
    });
  }

  for (const codings of ["deflate", "gzip", "deflate, gzip"]) {
    it(`a body that does not decode ("${codings}", not compressed at all) errors as fetch's does, naming the decoder's error`, async () => {
      const srv = await rawServer((req) =>
        respond(req.socket, "this was never compressed\n\n", { "content-encoding": codings }),
      );
      const expected = await rejection((await fetch(`${srv.url}/x`)).text());
      const got = await rejection((await httpFetch(`${srv.url}/x`)).text());
      expect(got).toBeInstanceOf(TypeError);
      expect(got.message).toBe(expected.message);
      expect((got.cause as Error).message).toBe((expected.cause as Error).message);
    });
  }

  for (const raw of [false, true]) {
    it(`a ${raw ? "raw " : ""}deflate body streams as it comes, and cancelling it mid-way closes the connection`, async () => {
      let closed = false;
      const srv = await rawServer((req) => {
        req.socket.write(
          "HTTP/1.1 200 OK\r\ncontent-encoding: deflate\r\ntransfer-encoding: chunked\r\n\r\n",
        );
        const deflate = raw ? createDeflateRaw() : createDeflate();
        deflate.on("data", (d: Buffer) =>
          req.socket.write(`${d.length.toString(16)}\r\n${d.toString("latin1")}\r\n`, "latin1"),
        );
        deflate.write("data: one\n\n");
        deflate.flush(); // and the body is held open
        req.socket.once("close", () => (closed = true));
      });
      const response = await httpFetch(`${srv.url}/x`);
      const reader = response.body!.getReader();
      const first = await reader.read();
      expect(Buffer.from(first.value!).toString()).toBe("data: one\n\n");
      await reader.cancel();
      for (let i = 0; i < 100 && !closed; i++) await sleep(10);
      expect(closed).toBe(true);
    });
  }

  it("more than five codings is refused as fetch refuses it", async () => {
    let body = Buffer.from(text);
    for (let i = 0; i < 6; i++) body = gzipSync(body);
    const srv = await rawServer((req) =>
      respond(req.socket, body, { "content-encoding": "gzip, gzip, gzip, gzip, gzip, gzip" }),
    );
    const expected = await rejection(fetch(`${srv.url}/x`));
    const got = await rejection(httpFetch(`${srv.url}/x`));
    expect(got).toBeInstanceOf(TypeError);
    expect(got.message).toBe(expected.message);
    expect((got.cause as Error).message).toBe((expected.cause as Error).message);
  });
});
