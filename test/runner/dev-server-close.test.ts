import { performance } from "node:perf_hooks";
import { describe, expect, it } from "vitest";
import { startDevServer } from "../../src/runner/dev-server.js";
import { closed, openSocket, postStart } from "./http.js";

/**
 * Open TCP handles of this process (listeners and sockets). Checked as "back to at most what it
 * was": the unit project shares a worker process between test files, so a socket another file
 * left closing may go while this one runs.
 */
function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r.startsWith("TCP")).length;
}

describe("development server: close({ graceMs })", () => {
  it("lets sessions end within the grace period, cancels the rest, abandons a handler that never settles, and leaves nothing open", async () => {
    const before = tcpHandles();
    const server = await startDevServer({
      port: 0,
      onSession: (socket, _req, session) => {
        if (session.id === 1) {
          // A well-behaved session: ends by its normal path as soon as the server starts closing.
          session.closing.addEventListener("abort", () => socket.close(1000, "bye"));
          return;
        }
        if (session.id === 2) return; // ignores `closing`; ends when its socket is closed
        return new Promise<void>(() => undefined); // never settles
      },
    });
    const url = `ws://127.0.0.1:${server.port}/ws`;
    const sockets = await Promise.all([1, 2, 3].map(async () => (await openSocket(url)).socket!));
    await expect.poll(() => server.sessions).toBe(3);
    const codes = sockets.map(closed);

    const graceMs = 300;
    const cancelTimeoutMs = 300;
    const started = performance.now();
    const closing = server.close({ graceMs, cancelTimeoutMs });
    expect(server.close()).toBe(closing); // idempotent
    const report = await closing;
    const tookMs = performance.now() - started;

    expect(report).toStrictEqual({ ended: 1, cancelled: 1, abandoned: 1 });
    expect(await Promise.all(codes)).toEqual([1000, 1001, 1001]);
    expect(tookMs).toBeGreaterThanOrEqual(graceMs + cancelTimeoutMs - 5);
    expect(tookMs).toBeLessThan(graceMs + cancelTimeoutMs + 1000);
    expect(server.sessions).toBe(1); // the abandoned one is still counted: its handler never settled
    await expect(postStart(server.url)).rejects.toThrow(/ECONNREFUSED/);
    await expect.poll(tcpHandles).toBeLessThanOrEqual(before);
  });

  it("resolves at once when no session is open, and refuses new sessions while closing", async () => {
    const before = tcpHandles();
    let release!: () => void;
    const server = await startDevServer({
      port: 0,
      onSession: (_socket, _req, session) =>
        new Promise<void>((resolve) => {
          release = resolve;
          session.cancelled.addEventListener("abort", () => resolve());
        }),
    });
    const { socket } = await openSocket(`ws://127.0.0.1:${server.port}/ws`);
    await expect.poll(() => server.sessions).toBe(1);
    const closing = server.close({ graceMs: 2000 });
    // The listener is closed at once; the open session ends on its own.
    await expect(postStart(server.url)).rejects.toThrow(/ECONNREFUSED/);
    release();
    socket?.close();
    expect(await closing).toStrictEqual({ ended: 1, cancelled: 0, abandoned: 0 });
    await expect.poll(tcpHandles).toBeLessThanOrEqual(before);

    const idle = await startDevServer({ port: 0, onSession: () => undefined });
    const started = performance.now();
    expect(await idle.close({ graceMs: 10_000 })).toStrictEqual({ ended: 0, cancelled: 0, abandoned: 0 });
    expect(performance.now() - started).toBeLessThan(1000);
    await expect.poll(tcpHandles).toBeLessThanOrEqual(before);
  });
});
