import { once } from "node:events";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { httpFetch } from "../../../src/services/http/http-fetch.js";
import { until } from "./loopback-sse.js";

/** A loopback HTTP server whose handler each test writes; it counts connections and closes. */
interface TestServer {
  readonly url: string;
  readonly connections: Socket[];
  /** Requests seen, with their body as text. */
  readonly requests: Array<{ req: IncomingMessage; body: string }>;
  close(): Promise<void>;
}

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(
  handle: (req: IncomingMessage, res: ServerResponse, body: string) => void,
): Promise<TestServer> {
  const connections: Socket[] = [];
  const requests: TestServer["requests"] = [];
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (d: Buffer) => parts.push(d));
    req.on("end", () => {
      const body = Buffer.concat(parts).toString("utf8");
      requests.push({ req, body });
      handle(req, res, body);
    });
  });
  server.on("connection", (socket: Socket) => connections.push(socket));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  const s: TestServer = {
    url: `http://127.0.0.1:${port}`,
    connections,
    requests,
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    },
  };
  servers.push(s);
  return s;
}

async function readAll(response: Response): Promise<string> {
  return response.text();
}

describe("httpFetch", () => {
  it("sends method, headers and body, and answers with a real Response: status, headers, url, body", async () => {
    const srv = await serve((_req, res) => {
      res.setHeader("set-cookie", ["a=1", "b=2"]);
      res.writeHead(201, "Made", { "content-type": "application/json", "x-request-id": "req_1" });
      res.end('{"ok":true}');
    });
    const response = await httpFetch(`${srv.url}/v1/things?x=1`, {
      method: "post",
      headers: new Headers({ authorization: "Bearer sk", "content-type": "application/json" }),
      body: JSON.stringify({ hello: "wörld" }),
    });
    expect(response).toBeInstanceOf(Response);
    expect(response.status).toBe(201);
    expect(response.statusText).toBe("Made");
    expect(response.ok).toBe(true);
    expect(response.url).toBe(`${srv.url}/v1/things?x=1`);
    expect(response.headers.get("x-request-id")).toBe("req_1");
    expect(response.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
    expect(await response.json()).toEqual({ ok: true });
    const { req, body } = srv.requests[0]!;
    expect(req.method).toBe("POST");
    expect(req.url).toBe("/v1/things?x=1");
    expect(req.headers.authorization).toBe("Bearer sk");
    expect(req.headers["content-type"]).toBe("application/json");
    expect(req.headers["content-length"]).toBe(String(Buffer.byteLength(body)));
    expect(JSON.parse(body)).toEqual({ hello: "wörld" });
  });

  it("streams the body as it arrives: the first event is read while the server still holds the response open", async () => {
    let finish: () => void = () => {};
    const srv = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("data: one\n\n");
      finish = () => res.end("data: two\n\n");
    });
    const response = await httpFetch(`${srv.url}/stream`, { method: "POST", body: "{}" });
    const reader = response.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe("data: one\n\n");
    finish();
    let rest = "";
    for (let r = await reader.read(); !r.done; r = await reader.read())
      rest += new TextDecoder().decode(r.value);
    expect(rest).toBe("data: two\n\n");
  });

  it("keeps the connection for the next request: twenty requests, one connection", async () => {
    const srv = await serve((_req, res) => res.end("ok"));
    for (let i = 0; i < 20; i++) {
      const response = await httpFetch(`${srv.url}/n`, { method: "POST", body: String(i) });
      expect(await readAll(response)).toBe("ok");
    }
    expect(srv.requests).toHaveLength(20);
    expect(srv.connections).toHaveLength(1);
  });

  it("an abort before the response rejects with the signal's reason, and the server sees the request closed", async () => {
    const srv = await serve(() => {}); // never answers
    const controller = new AbortController();
    const reason = new Error("interrupted");
    const pending = httpFetch(`${srv.url}/hang`, { method: "POST", body: "{}", signal: controller.signal });
    await until(() => srv.requests.length === 1, 5_000, "the request");
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    await until(() => srv.connections[0]!.destroyed, 5_000, "the connection closed");
  });

  it("an abort mid-body errors the body stream and closes the connection", async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("data: one\n\n");
    });
    const controller = new AbortController();
    const response = await httpFetch(`${srv.url}/stream`, {
      method: "POST",
      body: "{}",
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    await reader.read();
    const reason = new DOMException("stopped", "AbortError");
    controller.abort(reason);
    await expect(reader.read()).rejects.toMatchObject({ name: "AbortError" });
    await until(() => srv.connections[0]!.destroyed, 5_000, "the connection closed");
  });

  it("an already aborted signal rejects at once without sending", async () => {
    const srv = await serve((_req, res) => res.end("ok"));
    const controller = new AbortController();
    const reason = new Error("already");
    controller.abort(reason);
    await expect(httpFetch(`${srv.url}/x`, { signal: controller.signal })).rejects.toBe(reason);
    expect(srv.requests).toHaveLength(0);
  });

  it('an unreachable server rejects with TypeError "fetch failed", the socket\'s error as cause', async () => {
    const srv = await serve(() => {});
    const url = srv.url;
    await srv.close();
    servers.length = 0;
    const error = await httpFetch(`${url}/x`, { method: "POST", body: "{}" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe("fetch failed");
    expect((error as { cause?: { code?: string } }).cause?.code).toBe("ECONNREFUSED");
  });

  it("a connection cut mid-body errors the body stream", async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("data: one\n\n");
      setTimeout(() => res.socket?.destroy(), 10);
    });
    const response = await httpFetch(`${srv.url}/stream`, { method: "POST", body: "{}" });
    await expect(readAll(response)).rejects.toThrow();
  });

  it("a body cut by the server fails as fetch's does: TypeError terminated, caused by 'other side closed'", async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("data: one\n\n");
      setTimeout(() => res.socket?.destroy(), 10);
    });
    const errors: unknown[] = [];
    for (const send of [httpFetch, globalThis.fetch]) {
      const response = await send(`${srv.url}/stream`, { method: "POST", body: "{}" });
      errors.push(await readAll(response).catch((e: unknown) => e));
    }
    const shape = (e: unknown) => {
      const error = e as Error & { cause?: Error };
      return { type: error.constructor.name, message: error.message, cause: error.cause?.message };
    };
    expect(shape(errors[0])).toEqual({
      type: "TypeError",
      message: "terminated",
      cause: "other side closed",
    });
    expect(shape(errors[0])).toEqual(shape(errors[1]));
  });

  it("a large body arrives whole and in order while the reader is slower than the socket", async () => {
    const big = Buffer.alloc(3 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    const srv = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      res.end(big);
    });
    const response = await httpFetch(`${srv.url}/big`);
    const reader = response.body!.getReader();
    const parts: Uint8Array[] = [];
    for (let i = 0; ; i++) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      if (i % 8 === 0) await new Promise((r) => setImmediate(r)); // fall behind now and then
    }
    expect(Buffer.concat(parts).equals(big)).toBe(true);
  });

  it("cancelling the body closes the connection", async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("data: one\n\n"); // and stays open
    });
    const response = await httpFetch(`${srv.url}/stream`, { method: "POST", body: "{}" });
    const reader = response.body!.getReader();
    await reader.read();
    await reader.cancel();
    await until(() => srv.connections[0]!.destroyed, 5_000, "the connection closed");
  });

  it("decodes a gzip body", async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(200, { "content-encoding": "gzip" });
      res.end(gzipSync("hello, compressed"));
    });
    expect(await readAll(await httpFetch(`${srv.url}/z`))).toBe("hello, compressed");
  });

  it("a 204 has no body; an error status is a Response, not a throw", async () => {
    const srv = await serve((req, res) => {
      if (req.url === "/empty") res.writeHead(204).end();
      else res.writeHead(500, { "content-type": "application/json" }).end('{"error":{"message":"boom"}}');
    });
    const empty = await httpFetch(`${srv.url}/empty`);
    expect(empty.status).toBe(204);
    expect(empty.body).toBeNull();
    const failed = await httpFetch(`${srv.url}/fail`, { method: "POST", body: "{}" });
    expect(failed.status).toBe(500);
    expect(failed.ok).toBe(false);
    expect(await failed.json()).toEqual({ error: { message: "boom" } });
  });

  it("leaves what it does not handle itself to Node's fetch: a redirect is followed, a stream body is sent", async () => {
    const srv = await serve((req, res, body) => {
      if (req.url === "/old") res.writeHead(307, { location: "/new" }).end();
      else res.end(`${req.method} ${req.url} ${body}`);
    });
    const moved = await httpFetch(`${srv.url}/old`, { method: "POST", body: "payload" });
    expect(await moved.text()).toBe("POST /new payload");
    expect(moved.redirected).toBe(true);
    const streamed = await httpFetch(`${srv.url}/s`, {
      method: "POST",
      body: new Blob(["from a blob"]),
    });
    expect(await streamed.text()).toBe("POST /s from a blob");
  });
});
