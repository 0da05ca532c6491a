import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { SileroVADAnalyzer, VADModelLoadError, type SileroRuntime } from "../../../src/audio/vad/silero.js";
import type { VADTransition } from "../../../src/audio/vad/index.js";
import { chunks, loadVadFixture, loudWindow } from "./support.js";

/** Whether the optional native runtime is installed here (`npm test` runs without it; .ci/install-check with it). */
const nativeInstalled = ((): boolean => {
  try {
    createRequire(import.meta.url).resolve("onnxruntime-node");
    return true;
  } catch {
    return false;
  }
})();

async function run(runtime: SileroRuntime, inference: "worker" | "this-thread") {
  const { wav } = loadVadFixture("vad-flite");
  const vad = new SileroVADAnalyzer({ sampleRate: 16000, runtime, inference });
  const transitions: VADTransition[] = [];
  const confidences: number[] = [];
  for (const chunk of chunks(wav.samples, 512)) {
    transitions.push(...(await vad.analyze(chunk)).transitions);
    confidences.push(vad.lastConfidence);
  }
  return { transitions, confidences };
}

describe("Silero VAD runtimes", () => {
  it("refuses an unknown runtime or inference mode at construction, naming the setting", () => {
    expect(() => new SileroVADAnalyzer({ runtime: "onnxruntime-gpu" as SileroRuntime })).toThrow(
      /runtime must be "onnxruntime-web" \(the default\) or "onnxruntime-node"/,
    );
    expect(() => new SileroVADAnalyzer({ inference: "gpu" as "worker" })).toThrow(
      /inference must be "worker"/,
    );
  });

  it.runIf(process.env["SILERO_NATIVE_REQUIRED"] === "1")(
    "onnxruntime-node is installed (.ci/install-check sets SILERO_NATIVE_REQUIRED=1 after installing it)",
    () => {
      expect(nativeInstalled).toBe(true);
    },
  );

  it.runIf(nativeInstalled)(
    "onnxruntime-node (when installed) finds the same speech as onnxruntime-web, in the worker and on this thread",
    async () => {
      const web = await run("onnxruntime-web", "worker");
      for (const inference of ["worker", "this-thread"] as const) {
        const native = await run("onnxruntime-node", inference);
        expect(native.transitions).toEqual(web.transitions);
        const worst = Math.max(...native.confidences.map((c, i) => Math.abs(c - web.confidences[i]!)));
        expect(worst).toBeLessThan(1e-3);
      }
      expect(web.transitions.length).toBe(4); // two utterances: the comparison is not of nothing
    },
  );

  it.skipIf(nativeInstalled)(
    "asked for onnxruntime-node when it is not installed: one error saying so, where it looked and how to install it offline",
    async () => {
      for (const inference of ["worker", "this-thread"] as const) {
        const vad = new SileroVADAnalyzer({ sampleRate: 16000, runtime: "onnxruntime-node", inference });
        const error = await vad.ready().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(VADModelLoadError);
        expect((error as Error).message).toMatch(
          /needs the onnxruntime-node package .* not installed \(looked for it from .*audio\/onnx\/\).*ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node/,
        );
        await expect(vad.analyze(loudWindow())).rejects.toBe(error); // remembered, not retried per window
      }
    },
  );
});
