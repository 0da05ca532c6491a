import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runCommand } from "../support/command.js";
import { closed, openSocket } from "./http.js";

const SERVE = fileURLToPath(new URL("./fixtures/serve.ts", import.meta.url));

describe("runDevServer, as a command", () => {
  it("prints one line with the URL, and on Ctrl-C lets the session say goodbye, then exits 0", async () => {
    const command = runCommand(SERVE, ["--port", "0"]);
    const { child, exited, stdout, stderr } = command;
    try {
      await expect.poll(stdout, { timeout: 20_000 }).toContain("\n");
      const match = /^voicepipe: open http:\/\/127\.0\.0\.1:(\d+)\/ in a browser \(Ctrl-C to stop\)\n$/.exec(
        stdout(),
      );
      expect(match, stdout()).not.toBeNull();
      const { socket } = await openSocket(`ws://127.0.0.1:${match![1]}/ws`);
      const code = closed(socket!);
      child.kill("SIGINT");
      expect(await code).toBe(1000);
      expect(await exited).toBe(0);
      expect(stderr()).toContain('stopped {"ended":1,"cancelled":0,"abandoned":0}');
      expect(stderr()).toContain("SIGINT listeners left: 0");
      expect(stdout().split("\n")).toHaveLength(2); // one line, then nothing
    } finally {
      command.kill();
    }
  });
});
