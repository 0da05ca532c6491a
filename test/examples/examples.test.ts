import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { interleave, readWavFile, resampleOnce, rms, writeWavFile } from "../../src/index.js";

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

/** Runs an example that may fail: its exit code and both outputs. */
async function exampleOutcome(
  file: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ["--import", "tsx", join(root, "examples", file), ...args],
      {
        cwd: root,
        timeout: 60_000,
      },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== "number") throw error;
    return { code: e.code, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
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

  it("02-wav-vad-mixer takes a stereo 44.1 kHz file: converted to the pipeline's mono, both utterances found", async () => {
    // Regression (issue 6): a stereo WAV ended with ambience only, 784 error lines and exit code 0.
    const dir = mkdtempSync(join(tmpdir(), "voicepipe-example-"));
    const speech = await readWavFile(join(root, "examples/assets/speech.wav"));
    const stereo = join(dir, "stereo.wav");
    const at44k = await resampleOnce(speech.audio, speech.sampleRate, 44_100);
    await writeWavFile(stereo, { audio: interleave([at44k, at44k]), sampleRate: 44_100, numChannels: 2 });
    const output = join(dir, "out.wav");
    const { code, stdout, stderr } = await exampleOutcome("02-wav-vad-mixer.ts", [stereo, output]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout.match(/user started speaking/g)).toHaveLength(2);
    const wav = await readWavFile(output);
    expect(rms(wav.audio.subarray(24_000, 40_000))).toBeGreaterThan(1_000);
  });

  it("02-wav-vad-mixer exits with code 1 and one line saying why when it cannot do its job", async () => {
    const dir = mkdtempSync(join(tmpdir(), "voicepipe-example-"));
    const missing = join(dir, "missing.wav");
    const noInput = await exampleOutcome("02-wav-vad-mixer.ts", [missing, join(dir, "out.wav")]);
    expect(noInput.code).toBe(1);
    expect(noInput.stderr).toMatch(/^failed: the pipeline stopped on a fatal error/m);
    expect(noInput.stdout).not.toContain("not found"); // the example adds no copy of the error
    expect(noInput.stdout).not.toMatch(/wrote /);
    const badOutput = await exampleOutcome("02-wav-vad-mixer.ts", [
      join(root, "examples/assets/speech.wav"),
      join(dir, "no-such-dir", "out.wav"),
    ]);
    expect(badOutput.code).toBe(1);
    expect(badOutput.stderr).toContain(`cannot write WAV file ${join(dir, "no-such-dir", "out.wav")}`);
    expect(badOutput.stdout).not.toMatch(/user started speaking/); // failed before any input was played
    const noSpeech = await exampleOutcome("02-wav-vad-mixer.ts", [
      join(root, "examples/assets/ambience.wav"),
      join(dir, "out.wav"),
    ]);
    expect(noSpeech.code).toBe(1);
    expect(noSpeech.stderr).toMatch(/^failed: no speech was found in .*ambience\.wav/m);
  }, 90_000); // three runs of the example, each loading Silero: 27 s on a loaded 2-core machine
});
