/**
 * Silero VAD cost, per runtime (onnxruntime-web always; onnxruntime-node too when it is
 * installed, e.g. `ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save onnxruntime-node`): model
 * load time (in the shared worker and on the main thread), ms per 32 ms window for one stream
 * and for 64 streams sharing the process-wide session, and the longest event-loop delay meanwhile.
 *
 *   npx tsx bench/silero-vad.ts
 *
 * Prints `bench: <name> <value> <unit>` lines, named `silero-vad-<runtime>-<inference>-…`. Audio
 * is the speech fixture, fed one 512-sample window per call at 16 kHz (each stream starts at a
 * different offset). Event-loop delay is sampled every 1 ms; it includes the machine's own noise.
 */
import { createRequire } from "node:module";
import { monitorEventLoopDelay } from "node:perf_hooks";
import {
  SileroVADAnalyzer,
  type SileroRuntime,
  SileroWorker,
  defaultSileroModelPath,
  loadSileroSession,
} from "../src/audio/vad/silero.js";
import { loadVadFixture } from "../test/audio/vad/support.js";

const WINDOW = 512;
const { wav } = loadVadFixture("vad-flite");
const audio = wav.samples;
const windowsInFile = Math.floor(audio.length / WINDOW);

function windowAt(i: number): Int16Array {
  const w = i % windowsInFile;
  return audio.subarray(w * WINDOW, (w + 1) * WINDOW);
}

function line(name: string, value: number, unit: string): void {
  console.log(`bench: ${name} ${value.toFixed(value < 10 ? 3 : 1)} ${unit}`);
}

function installed(name: string): boolean {
  try {
    createRequire(import.meta.url).resolve(name);
    return true;
  } catch {
    return false;
  }
}

const runtimes: SileroRuntime[] = ["onnxruntime-web"];
if (installed("onnxruntime-node")) runtimes.push("onnxruntime-node");

for (const runtime of runtimes) {
  const name = `silero-vad-${runtime.replace("onnxruntime-", "ort-")}`;
  let t = performance.now();
  await SileroWorker.shared(runtime).load(defaultSileroModelPath());
  line(`${name}-worker-load`, performance.now() - t, "ms");
  t = performance.now();
  await loadSileroSession(undefined, runtime);
  line(`${name}-main-thread-load`, performance.now() - t, "ms");

  // Inference on the shared worker thread (the default) and on the main thread.
  for (const inference of ["worker", "this-thread"] as const) {
    // One stream.
    {
      const vad = new SileroVADAnalyzer({ sampleRate: 16000, inference, runtime });
      for (let i = 0; i < 200; i++) await vad.analyze(windowAt(i)); // warm up
      const n = 3000;
      const delay = monitorEventLoopDelay({ resolution: 1 });
      delay.enable();
      t = performance.now();
      for (let i = 0; i < n; i++) await vad.analyze(windowAt(i));
      const ms = performance.now() - t;
      delay.disable();
      line(`${name}-${inference}-1-stream`, ms / n, "ms/window");
      line(`${name}-${inference}-1-stream-realtime-factor`, (n * 32) / ms, "x");
      line(`${name}-${inference}-1-stream-event-loop-max-delay`, delay.max / 1e6, "ms");
    }

    // 64 streams sharing the session, analysed concurrently (one window each per round).
    {
      const streams = 64;
      const analyzers = Array.from(
        { length: streams },
        () => new SileroVADAnalyzer({ sampleRate: 16000, inference, runtime }),
      );
      for (let r = 0; r < 20; r++) await Promise.all(analyzers.map((a, s) => a.analyze(windowAt(r + s * 7))));
      const rounds = 200;
      const delay = monitorEventLoopDelay({ resolution: 1 });
      delay.enable();
      t = performance.now();
      for (let r = 0; r < rounds; r++)
        await Promise.all(analyzers.map((a, s) => a.analyze(windowAt(r + s * 7))));
      const ms = performance.now() - t;
      delay.disable();
      line(`${name}-${inference}-64-streams-per-round`, ms / rounds, "ms/32ms-of-audio");
      line(`${name}-${inference}-64-streams-per-window`, ms / (rounds * streams), "ms/window");
      line(`${name}-${inference}-64-streams-core-share`, (ms / rounds / 32) * 100, "%");
      line(`${name}-${inference}-64-streams-event-loop-max-delay`, delay.max / 1e6, "ms");
    }
  }
}
