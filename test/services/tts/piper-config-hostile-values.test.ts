/**
 * A Piper voice's config (`<model>.onnx.json`, downloaded with the voice: a file from outside)
 * with every field replaced by each hostile value (test/support/hostile-json.ts), and the whole
 * file replaced by each: the service starts with the rate the config gives, or fails with a
 * TTSModelNotFoundError naming the config, never a TypeError, and never takes a rate no
 * resampler takes.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ErrorFrame } from "../../../src/index.js";
import { CommandTTSService } from "../../../src/services/tts/command-tts-service.js";
import { piperCommand } from "../../../src/services/tts/tts-commands.js";
import { TTSBinaryNotFoundError, TTSModelNotFoundError } from "../../../src/services/tts/tts-errors.js";
import { runTest } from "../../../src/testing/index.js";
import { HOSTILE_JSON, hostileVariants } from "../../support/hostile-json.js";
import { scriptDir } from "./support.js";

const CONFIG = {
  audio: { sample_rate: 22_050, quality: "medium" },
  num_speakers: 1,
  espeak: { voice: "en-us" },
};

describe("piperCommand reads a hostile voice config without throwing", () => {
  it("every field of the config, and the whole config, replaced by each hostile value", async () => {
    const temp = await scriptDir();
    try {
      const model = join(temp.dir, "voice.onnx");
      await writeFile(model, "");
      const configs = [
        ...hostileVariants(CONFIG).map((v) => ({ what: v.what, text: v.text })),
        ...HOSTILE_JSON.map((h) => ({ what: `(whole file) = ${h.name}`, text: h.json })),
      ];
      for (const { what, text } of configs) {
        await writeFile(`${model}.json`, text);
        // A program that is not there: with a good config the start fails on it, after the config.
        const tts = new CommandTTSService({ command: piperCommand({ model, binary: "no-such-piper" }) });
        const { up } = await runTest(tts, { framesToSend: [] });
        const error = (up.find((f) => f instanceof ErrorFrame) as ErrorFrame | undefined)?.error;
        expect(error, what).toBeDefined();
        if (error instanceof TTSBinaryNotFoundError) continue; // the config was read
        expect(error, `${what}: ${error?.message}`).toBeInstanceOf(TTSModelNotFoundError);
        expect(error!.message, what).toContain("config");
      }
      // A rate no resampler takes is not a rate.
      await writeFile(`${model}.json`, JSON.stringify({ audio: { sample_rate: 1e15 } }));
      const tts = new CommandTTSService({ command: piperCommand({ model, binary: "no-such-piper" }) });
      const { up } = await runTest(tts, { framesToSend: [] });
      expect((up.find((f) => f instanceof ErrorFrame) as ErrorFrame).error).toBeInstanceOf(
        TTSModelNotFoundError,
      );
    } finally {
      await temp.dispose();
    }
  });
});
