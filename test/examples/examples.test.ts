import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { readWavFile, rms } from "../../src/index.js";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../../", import.meta.url));

/** Runs an example the way `npm start` does (tsx), with a deadline. */
async function example(file: string, args: string[] = []): Promise<string> {
  const { stdout } = await run(process.execPath, ["--import", "tsx", join(root, "examples", file), ...args], {
    cwd: root,
    timeout: 60_000,
  });
  return stdout;
}

describe("examples", () => {
  it("01-hello-pipeline shows frames flowing, an interruption and a clean end", async () => {
    const out = await example("01-hello-pipeline.ts");
    expect(out).toMatch(/out: HELLO/);
    // Real clock: which sentence is in flight at ~250 ms depends on the machine's load, but one
    // is aborted, and the last queued sentences never come out.
    expect(out).toMatch(/interrupted while working on "/);
    expect(out).not.toMatch(/out: INTERRUPTED/); // dropped by the interruption
    expect(out).toMatch(/out: AFTER THE INTERRUPTION/);
    expect(out).toMatch(/pipeline finished by EndFrame/);
  });

  it("02-wav-vad-mixer finds both utterances and writes the speech over background sound", async () => {
    const dir = mkdtempSync(join(tmpdir(), "voicepipe-example-"));
    const output = join(dir, "out.wav");
    const out = await example("02-wav-vad-mixer.ts", [join(root, "examples/assets/speech.wav"), output]);
    expect(out.match(/user started speaking/g)).toHaveLength(2);
    expect(out.match(/user stopped speaking/g)).toHaveLength(2);
    const wav = await readWavFile(output);
    expect(wav.sampleRate).toBe(16_000);
    // The first half second is silence in the input: what is there is the mixed-in room tone.
    const lead = wav.audio.subarray(0, 8_000);
    expect(rms(lead)).toBeGreaterThan(100);
    // Speech (from 1.3 s) is louder than the background alone.
    expect(rms(wav.audio.subarray(24_000, 40_000))).toBeGreaterThan(3 * rms(lead));
  });
});
