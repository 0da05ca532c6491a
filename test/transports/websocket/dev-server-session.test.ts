import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import {
  InputAudioRawFrame,
  OutputAudioRawFrame,
  Pipeline,
  PipelineTask,
  SystemClock,
  type TaskOutcome,
  silentLogger,
} from "../../../src/index.js";
import { startDevServer } from "../../../src/runner/dev-server.js";
import { ProtobufFrameSerializer } from "../../../src/serializers/index.js";
import { FrameRecorder } from "../../../src/testing/index.js";
import { WebSocketTransport } from "../../../src/transports/websocket/index.js";

describe("WebSocketTransport behind the development server", () => {
  it("runs a session per socket; the client leaving ends the task and the session", async () => {
    const outcomes: TaskOutcome[] = [];
    const recorder = new FrameRecorder();
    // A stand-in page: this test is about the socket, not the page.
    const clientDir = await mkdtemp(join(tmpdir(), "vp-ws-page-"));
    await writeFile(join(clientDir, "index.html"), "<!doctype html>");
    for (const file of ["app.js", "THIRD_PARTY_LICENSES.txt"]) await writeFile(join(clientDir, file), "");
    const server = await startDevServer({
      port: 0,
      clientDir,
      onSession: async (socket, _request, session) => {
        const transport = new WebSocketTransport(socket, {
          serializer: new ProtobufFrameSerializer(),
          params: { audioInEnabled: true },
        });
        const task = new PipelineTask(new Pipeline([transport.input(), recorder, transport.output()]), {
          clock: new SystemClock(),
          logger: silentLogger,
          idleTimeoutMs: null,
        });
        session.closing.addEventListener("abort", () => void task.stopWhenDone());
        outcomes.push(await task.run());
        await transport.socketClosed;
      },
    });
    try {
      const client = new WebSocket(`ws://127.0.0.1:${server.port}/ws`);
      await once(client, "open");
      const wire = new ProtobufFrameSerializer();
      for (let i = 0; i < 5; i++)
        client.send(wire.serialize(new OutputAudioRawFrame(new Int16Array(320).fill(i + 1), 16_000))!);
      const start = performance.now();
      while (recorder.ofType(InputAudioRawFrame).length < 5 && performance.now() - start < 2000) {
        await new Promise((r) => setTimeout(r, 5));
      }
      expect(recorder.ofType(InputAudioRawFrame).map((f) => f.audio[0])).toEqual([1, 2, 3, 4, 5]);
      expect(server.sessions).toBe(1);
      client.close();
      while (server.sessions > 0 && performance.now() - start < 4000)
        await new Promise((r) => setTimeout(r, 5));
      expect(server.sessions).toBe(0);
      expect(outcomes.map((o) => o.how)).toEqual(["cancelled"]);
    } finally {
      await server.close({ graceMs: 500, cancelTimeoutMs: 500 });
      await rm(clientDir, { recursive: true, force: true });
    }
  });
});
