import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  SileroVADAnalyzer,
  VADModelLoadError,
  defaultSileroModelPath,
} from "../../../src/audio/vad/silero.js";
import { ErrorFrame } from "../../../src/frames/error.js";
import { InputAudioRawFrame } from "../../../src/frames/audio.js";
import type { Logger } from "../../../src/logger.js";
import { VADProcessor } from "../../../src/processors/vad-processor.js";
import { Sleep, VirtualClock, runTest } from "../../../src/testing/index.js";
import { chunks, loadVadFixture, loudWindow } from "./support.js";

const scratch = mkdtempSync(join(tmpdir(), "voicepipe-silero-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A logger that keeps every line, by level. */
function recordingLogger(): Logger & { lines: { level: string; message: string }[] } {
  const lines: { level: string; message: string }[] = [];
  const at = (level: string) => (message: string) => void lines.push({ level, message });
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** The whole 7.8 s fixture as 20 ms input frames, paced on the virtual clock. */
function pacedFixture(): Array<InputAudioRawFrame | Sleep> {
  const { wav } = loadVadFixture("vad-flite");
  const out: Array<InputAudioRawFrame | Sleep> = [];
  for (const c of chunks(wav.samples, 320)) out.push(new InputAudioRawFrame(c.slice(), 16000), new Sleep(20));
  return out;
}

describe("Silero VAD with a model that cannot be loaded", () => {
  const cases = [
    {
      what: "a missing model file",
      modelPath: join(scratch, "no-such-model.onnx"),
      says: /model file .*no-such-model\.onnx does not exist.*Pass \{ modelPath \}/,
    },
    {
      what: "a file that is not a model",
      modelPath: new URL(import.meta.url).pathname,
      says: /could not load .*silero-errors\.test\.ts as a model.*Silero VAD v5 \.onnx file/,
    },
  ];

  for (const { what, modelPath, says } of cases) {
    it(`${what}: one error for a 7.8 s stream (what, where, what to do), then one line with the count`, async () => {
      const logger = recordingLogger();
      const frames = pacedFixture();
      const audio = frames.filter((f) => f instanceof InputAudioRawFrame);
      const analyzer = new SileroVADAnalyzer({ modelPath });
      const { down, up } = await runTest(new VADProcessor({ analyzer }), {
        framesToSend: frames,
        clock: new VirtualClock({ settleTurns: 8 }),
        taskOptions: { logger },
      });

      // The audio still flows, unanalysed.
      expect(down.filter((f) => f instanceof InputAudioRawFrame)).toHaveLength(audio.length);
      // One error frame and one error line, saying what failed, where it looked and what to do.
      const errors = up.filter((f): f is ErrorFrame => f instanceof ErrorFrame);
      expect(errors.map((e) => e.error.message)).toEqual([expect.stringMatching(says)]);
      expect(logger.lines[0]!.level).toBe("error");
      expect(logger.lines[0]!.message).toMatch(says);
      // The repeats are counted, not printed: every window given to the model (20 ms frames,
      // 32 ms windows, the quiet ones spared) failed the same way after the one report at
      // start, and one summary line says how many.
      const repeats = logger.lines.filter((l) => /more times/.test(l.message));
      expect(repeats).toHaveLength(1);
      const count = Number(/(\d+) more times/.exec(repeats[0]!.message)?.[1]);
      expect(count).toBe(analyzer.windowsAnalyzed - analyzer.windowsSkipped);
      expect(count).toBeGreaterThan(audio.length / 5);
      expect(logger.lines).toHaveLength(2);
    });
  }

  it("remembers the failure (no retry per window) until ready() is called again", async () => {
    const modelPath = join(scratch, "appears-later.onnx");
    const vad = new SileroVADAnalyzer({ sampleRate: 16000, modelPath });
    const first = await vad.analyze(loudWindow()).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(VADModelLoadError);
    expect((first as Error).message).toContain(modelPath);
    copyFileSync(defaultSileroModelPath(), modelPath); // fixed on disk: windows still fail at once…
    await expect(vad.analyze(loudWindow())).rejects.toBe(first);
    await vad.ready(); // …until the load is retried on purpose
    const { windows } = await vad.analyze(loudWindow());
    expect(windows).toBe(1);
  });
});
