import { once } from "node:events";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import {
  FrameProcessor,
  InvalidOptionError,
  Pipeline,
  PipelineTask,
  type TaskOutcome,
  WebSocketTransport,
  runSessionTask,
  silentLogger,
  startDevServer,
} from "../../src/index.js";
import { ProtobufFrameSerializer } from "../../src/serializers/index.js";

/** A processor whose end hook never finishes: the session cannot end on its own. */
class StuckAtEnd extends FrameProcessor {
  protected override end(): Promise<void> {
    return new Promise(() => undefined);
  }
}

async function standInPage(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "vp-session-page-"));
  await writeFile(join(dir, "index.html"), "<!doctype html>");
  for (const file of ["app.js", "THIRD_PARTY_LICENSES.txt"]) await writeFile(join(dir, file), "");
  return dir;
}

describe("runSessionTask and the session time limit", () => {
  it("ends a session at sessionTimeoutMs by its normal end path, and cancels one that does not end within sessionGraceMs", async () => {
    const outcomes: { outcome: TaskOutcome; atMs: number }[] = [];
    const server = await startDevServer({
      port: 0,
      clientDir: await standInPage(),
      sessionTimeoutMs: 300,
      sessionGraceMs: 200,
      onSession: async (socket, _request, session) => {
        const transport = new WebSocketTransport(socket, { serializer: new ProtobufFrameSerializer() });
        const middle = session.id === 1 ? [] : [new StuckAtEnd()];
        const task = new PipelineTask(new Pipeline([transport.input(), ...middle, transport.output()]), {
          logger: silentLogger,
          endTimeoutMs: 60_000, // the grace period, not the task's own watchdog, must cancel it
        });
        outcomes[session.id - 1] = { outcome: await runSessionTask(task, session), atMs: performance.now() };
      },
    });
    try {
      const startedAt = performance.now();
      const clients = [new WebSocket(`ws://127.0.0.1:${server.port}/ws`)];
      await once(clients[0]!, "open");
      clients.push(new WebSocket(`ws://127.0.0.1:${server.port}/ws`));
      await once(clients[1]!, "open");
      const closes = clients.map((c) => once(c, "close") as Promise<[number, Buffer]>);
      const [first, second] = await Promise.all(closes);
      const code1 = first?.[0];
      const code2 = second?.[0];
      await expect.poll(() => server.sessions).toBe(0);

      const [ended, cancelled] = outcomes;
      expect(ended!.outcome.how).toBe("ended");
      expect(ended!.atMs - startedAt).toBeGreaterThanOrEqual(295);
      expect(ended!.atMs - startedAt).toBeLessThan(300 + 1000);
      expect(code1).toBe(1000);
      expect(cancelled!.outcome.how).toBe("cancelled");
      expect(cancelled!.outcome.reason).toMatch(/sessionGraceMs/);
      expect(cancelled!.atMs - startedAt).toBeGreaterThanOrEqual(495);
      expect(cancelled!.atMs - startedAt).toBeLessThan(500 + 1000);
      expect([1000, 1001]).toContain(code2);
    } finally {
      await server.close({ graceMs: 0, cancelTimeoutMs: 500 });
    }
  });

  it("refuses a time limit that is not a number of ms ≥ 1", async () => {
    for (const sessionTimeoutMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(startDevServer({ port: 0, sessionTimeoutMs, onSession: () => undefined })).rejects.toThrow(
        InvalidOptionError,
      );
    }
    await expect(startDevServer({ port: 0, sessionGraceMs: 0, onSession: () => undefined })).rejects.toThrow(
      /sessionGraceMs must be a number of ms ≥ 1/,
    );
  });
});
