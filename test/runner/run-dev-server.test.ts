import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runCommand } from "../support/command.js";
import { closed, openSocket } from "./http.js";

const SERVE = fileURLToPath(new URL("./fixtures/serve.ts", import.meta.url));

describe("runDevServer, as a command", () => {
  it("prints the page's URL and the phone-call URLs, and on Ctrl-C lets the session say goodbye, then exits 0", async () => {
    const command = runCommand(SERVE, ["--port", "0", "--public-url", "https://calls.example"]);
    const { child, exited, stdout, stderr } = command;
    try {
      // The page's line, the phone-call heading, one line per provider, the note on open routes.
      await expect.poll(() => stdout().split("\n").length, { timeout: 20_000 }).toBe(9);
      const lines = stdout().split("\n");
      const match = /^voicepipe: open http:\/\/127\.0\.0\.1:(\d+)\/ in a browser \(Ctrl-C to stop\)$/.exec(
        lines[0]!,
      );
      expect(match, stdout()).not.toBeNull();
      expect(lines[1]).toBe("voicepipe: phone calls: paste into each provider's console:");
      const urls = lines.slice(2, 7).map((line) => /: ((?:https|wss):\/\/\S+) \(/.exec(line)?.[1]);
      expect(urls).toStrictEqual([
        "https://calls.example/telephony/twilio",
        "https://calls.example/telephony/telnyx",
        "https://calls.example/telephony/plivo",
        "https://calls.example/telephony/vonage/answer",
        "wss://calls.example/telephony/exotel/ws",
      ]);
      const { socket } = await openSocket(`ws://127.0.0.1:${match![1]}/ws`);
      const code = closed(socket!);
      child.kill("SIGINT");
      expect(await code).toBe(1000);
      expect(await exited).toBe(0);
      expect(stderr()).toContain('stopped {"ended":1,"cancelled":0,"abandoned":0}');
      expect(stderr()).toContain("SIGINT listeners left: 0");
      expect(stdout().split("\n")).toHaveLength(9); // those lines, then nothing
    } finally {
      command.kill();
    }
  });
});
