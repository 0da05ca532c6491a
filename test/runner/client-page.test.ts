import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildClient } from "../../scripts/build-client.mjs";
import { ClientPageMissingError, DEFAULT_CLIENT_DIR } from "../../src/runner/client-page.js";
import { type DevServer, startDevServer } from "../../src/runner/dev-server.js";
import { request } from "./http.js";

let fresh: string;
let server: DevServer;

beforeAll(async () => {
  // A fresh build of the current sources, to compare with what the server serves.
  fresh = await mkdtemp(join(tmpdir(), "voicepipe-client-"));
  await buildClient({ outdir: fresh });
  server = await startDevServer({ port: 0, onSession: () => undefined });
});

afterAll(async () => {
  await server?.close({ graceMs: 0 });
  await rm(fresh, { recursive: true, force: true });
});

describe("the served page", () => {
  it("is what npm run build makes of the current sources, byte for byte", async () => {
    const page = await request(server.url);
    expect(page.status).toBe(200);
    expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(page.body).toBe(await readFile(join(fresh, "index.html"), "utf8"));

    const app = await request(new URL("/app.js", server.url).href);
    expect(app.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    const built = await readFile(join(fresh, "app.js"));
    expect(Buffer.from(app.body, "utf8").equals(built)).toBe(true);
    // The page names the bundle by its hash, so a browser never runs a stale cached one.
    const version = createHash("sha256").update(built).digest("hex").slice(0, 16);
    expect(page.body).toContain(`<script src="app.js?v=${version}"></script>`);
  });

  it("bundles the official client and ships the licences of what it bundles", async () => {
    const app = await readFile(join(DEFAULT_CLIENT_DIR, "app.js"), "utf8");
    expect(app).toContain("rtvi-ai");
    const licences = await request(new URL("/THIRD_PARTY_LICENSES.txt", server.url).href);
    expect(licences.body).toContain("@pipecat-ai/client-js@1.13.1 (BSD-2-Clause)");
    expect(licences.body).toContain("@pipecat-ai/websocket-transport@1.7.1 (BSD-2-Clause)");
  });

  it("answers HEAD without a body", async () => {
    const head = await request(server.url, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.body).toBe("");
  });

  it("is required: a server without it refuses to start and says how to build it", async () => {
    const empty = await mkdtemp(join(tmpdir(), "voicepipe-empty-"));
    try {
      const start = startDevServer({ port: 0, clientDir: empty, onSession: () => undefined });
      await expect(start).rejects.toBeInstanceOf(ClientPageMissingError);
      await expect(start).rejects.toThrow("run `npm run build`");
    } finally {
      await rm(empty, { recursive: true });
    }
  });
});
