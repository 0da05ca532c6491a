import { afterEach, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { type DevServer, type DevServerOptions, startDevServer } from "../../src/runner/dev-server.js";
import { closed, openSocket, postStart, request } from "./http.js";

const servers: DevServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close({ graceMs: 0, cancelTimeoutMs: 500 })));
});

async function serve(options: Partial<DevServerOptions> = {}): Promise<DevServer> {
  const server = await startDevServer({ port: 0, onSession: () => undefined, ...options });
  servers.push(server);
  return server;
}

const wsUrl = (server: DevServer, query = ""): string => `ws://127.0.0.1:${server.port}/ws${query}`;

describe("development server: POST /start", () => {
  it("answers the official client's bodiless POST with exactly { wsUrl }", async () => {
    const server = await serve();
    const reply = await postStart(server.url);
    expect(reply.status).toBe(200);
    expect(reply.headers["content-type"]).toMatch(/^application\/json/);
    expect(reply.json()).toStrictEqual({ wsUrl: `ws://127.0.0.1:${server.port}/ws` });
  });

  it("names the host the browser used when it is one of the server's own origins", async () => {
    const server = await serve();
    const reply = await postStart(server.url, { Host: `localhost:${server.port}` });
    expect(reply.json()).toStrictEqual({ wsUrl: `ws://localhost:${server.port}/ws` });
    const forged = await postStart(server.url, { Host: "evil.example:80" });
    expect(forged.json()).toStrictEqual({ wsUrl: `ws://127.0.0.1:${server.port}/ws` });
  });

  it("refuses a wrong or missing bearer token with 401, and returns the token for the socket", async () => {
    const server = await serve({ token: "s3cret" });
    const attempts: Record<string, string>[] = [
      {},
      { Authorization: "Bearer nope" },
      { Authorization: "Basic s3cret" },
    ];
    for (const headers of attempts) {
      const reply = await postStart(server.url, headers);
      expect(reply.status).toBe(401);
      expect(reply.json()).toMatchObject({
        error: "unauthorized",
        detail: expect.stringMatching(/bearer token/),
      });
    }
    const ok = await postStart(server.url, { Authorization: "Bearer s3cret" });
    expect(ok.json()).toStrictEqual({ wsUrl: `ws://127.0.0.1:${server.port}/ws`, token: "s3cret" });
    expect((await openSocket(wsUrl(server))).status).toBe(401);
    expect((await openSocket(wsUrl(server, "?token=wrong"))).status).toBe(401);
    const { socket } = await openSocket(wsUrl(server, "?token=s3cret"));
    expect(socket?.readyState).toBe(1);
    socket?.close();
  });

  it("refuses a browser on another origin with 403, and lets a listed one in with CORS", async () => {
    const server = await serve({ allowedOrigins: ["http://app.example:3000"] });
    const refused = await postStart(server.url, { Origin: "http://evil.example" });
    expect(refused.status).toBe(403);
    expect(refused.json()).toHaveProperty("error", "origin-not-allowed");
    expect((refused.json() as { detail: string }).detail).toMatch(
      /origin http:\/\/evil\.example is not allowed/,
    );
    expect((await openSocket(wsUrl(server), { Origin: "http://evil.example" })).status).toBe(403);

    const preflight = await request(new URL("/start", server.url).href, {
      method: "OPTIONS",
      headers: { Origin: "http://app.example:3000", "Access-Control-Request-Method": "POST" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers["access-control-allow-origin"]).toBe("http://app.example:3000");
    const allowed = await postStart(server.url, { Origin: "http://app.example:3000" });
    expect(allowed.status).toBe(200);
    expect(allowed.headers["access-control-allow-origin"]).toBe("http://app.example:3000");
    const own = await postStart(server.url, { Origin: `http://127.0.0.1:${server.port}` });
    expect(own.status).toBe(200);
  });

  it("answers 503 with a clear body once maxSessions sessions are open, and 200 again when one ends", async () => {
    const server = await serve({ maxSessions: 1 });
    const { socket } = await openSocket(wsUrl(server));
    await expect.poll(() => server.sessions).toBe(1);
    const full = await postStart(server.url);
    expect(full.status).toBe(503);
    expect(full.json()).toHaveProperty("error", "session-limit");
    expect((full.json() as { detail: string }).detail).toMatch(
      /limit of 1 concurrent sessions \(maxSessions\)/,
    );
    expect((await openSocket(wsUrl(server))).status).toBe(503);
    socket?.close();
    await expect.poll(() => server.sessions).toBe(0);
    expect((await postStart(server.url)).status).toBe(200);
  });

  it("answers 405 to GET /start and 413 to a large body", async () => {
    const server = await serve();
    const get = await request(new URL("/start", server.url).href);
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe("POST, OPTIONS");
    const big = await postStart(server.url, { "Content-Length": "100000" });
    expect(big.status).toBe(413);
  });
});

describe("development server: other paths", () => {
  it("answers 404 with a JSON body for an unknown path, and refuses an upgrade elsewhere than /ws", async () => {
    const server = await serve();
    const reply = await request(new URL("/nope/../../etc/passwd", server.url).href);
    expect(reply.status).toBe(404);
    expect(reply.json()).toMatchObject({ error: "not-found", detail: expect.stringMatching(/no such path/) });
    expect((await openSocket(`ws://127.0.0.1:${server.port}/other`)).status).toBe(404);
  });

  it("hands each upgraded socket to onSession with an increasing id, and ends the session when a handler throws", async () => {
    const ids: number[] = [];
    const server = await serve({
      onSession: (_socket, _req, session) => {
        ids.push(session.id);
        if (session.id === 2) throw new Error("handler bug");
      },
    });
    const first = await openSocket(wsUrl(server));
    const second = await openSocket(wsUrl(server));
    expect(await closed(second.socket as WebSocket)).toBe(1006);
    expect(ids).toEqual([1, 2]);
    await expect.poll(() => server.sessions).toBe(1);
    first.socket?.close();
    await expect.poll(() => server.sessions).toBe(0);
  });

  it("refuses to start with a clear error when the port is taken", async () => {
    const server = await serve();
    await expect(startDevServer({ port: server.port, onSession: () => undefined })).rejects.toThrow(
      `port ${server.port} is in use; pass --port N or set PORT`,
    );
  });
});
