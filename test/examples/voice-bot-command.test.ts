import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runCommand } from "../support/command.js";
import WebSocket from "ws";
import { InputAudioRawFrame } from "../../src/frames/audio.js";
import {
  InputTransportMessageFrame,
  OutputTransportMessageUrgentFrame,
} from "../../src/frames/transport-messages.js";
import { ProtobufFrameSerializer } from "../../src/serializers/index.js";

const COMMAND = fileURLToPath(new URL("../../examples/03-voice-bot/index.ts", import.meta.url));

describe("npm start (examples/03-voice-bot)", () => {
  it("prints one line with the URL and the bot, answers client-ready, greets, and on Ctrl-C closes the session and exits 0; a SMART_TURN_MODEL that names no file is one warning and the bot runs without it", async () => {
    const missing = join(tmpdir(), `voicepipe-no-such-folder-${process.pid}`, "smart-turn-v3.2-cpu.onnx");
    const command = runCommand(COMMAND, ["--port", "0"], { SMART_TURN_MODEL: missing });
    const { child, exited, stdout, stderr } = command;
    try {
      await expect.poll(stdout, { timeout: 30_000 }).toContain("\n");
      const match =
        /^voicepipe: open (http:\/\/127\.0\.0\.1:(\d+)\/) in a browser \(Ctrl-C to stop\); the echo bot answers.*; no turn model: SMART_TURN_MODEL cannot be used \(the warning above says why\)\n/.exec(
          stdout(),
        );
      expect(match, stdout() + stderr()).not.toBeNull();
      expect(
        stderr()
          .split("\n")
          .filter((l) => l.includes("SMART_TURN_MODEL")),
      ).toEqual([
        `[voicepipe] WARN SMART_TURN_MODEL=${missing} cannot be used: there is no file at ${missing}. ` +
          "Download smart-turn-v3.2-cpu.onnx from https://huggingface.co/pipecat-ai/smart-turn-v3 (BSD-2-Clause; " +
          "voicepipe neither ships nor downloads it), or unset SMART_TURN_MODEL. The bot runs without a turn model " +
          "meanwhile: the user's turns end on silence.",
      ]);
      const page = await fetch(match![1]!);
      expect(page.status).toBe(200);
      const start = await fetch(`${match![1]}start`, { method: "POST" });
      const { wsUrl } = (await start.json()) as { wsUrl: string };

      const wire = new ProtobufFrameSerializer();
      const socket = new WebSocket(wsUrl);
      const rtvi: string[] = [];
      let audioSamples = 0;
      socket.on("message", (data: Buffer) => {
        const result = wire.deserialize(data);
        if (!result.ok) return;
        for (const frame of result.frames) {
          if (frame instanceof InputAudioRawFrame) audioSamples += frame.audio.length;
          else if (frame instanceof InputTransportMessageFrame)
            rtvi.push((frame.message as { type: string }).type);
        }
      });
      const closeCode = new Promise<number>((resolve) => socket.once("close", (code) => resolve(code)));
      await new Promise((resolve) => socket.once("open", resolve));
      socket.send(
        wire.serialize(
          new OutputTransportMessageUrgentFrame({
            label: "rtvi-ai",
            type: "client-ready",
            id: "c1",
            data: { version: "2.1.0" },
          }),
        )!,
      );
      await expect.poll(() => rtvi, { timeout: 10_000 }).toContain("bot-ready");
      await expect.poll(() => rtvi, { timeout: 10_000 }).toContain("bot-started-speaking");
      await expect.poll(() => audioSamples, { timeout: 10_000 }).toBeGreaterThan(24_000 / 2);
      // Ctrl-C lets a session end by its normal path, which lets the bot finish its sentence
      // (within the 5 s grace period): wait for the greeting (5.7 s) to end first.
      await expect.poll(() => rtvi, { timeout: 15_000 }).toContain("bot-stopped-speaking");

      child.kill("SIGINT");
      expect(await closeCode).toBe(1000);
      expect(await exited).toBe(0);
      expect(stdout()).toMatch(/voicepipe: stopped \(1 session\(s\) ended, 0 cancelled, 0 abandoned\)/);
    } finally {
      command.kill();
    }
  });
});
