/**
 * Silero VAD cost: model load time (in the shared worker and on the main thread), ms per 32 ms
 * window for one stream and for 64 streams sharing the process-wide session, and how long the
 * event loop is blocked meanwhile. The runtime is onnxruntime-web (WebAssembly, one thread).
 *
 *   npx tsx bench/silero-vad.ts
 *
 * Prints `bench: <name> <value> <unit>` lines. Audio is the speech fixture, fed one 512-sample
 * window per call at 16 kHz (each stream starts at a different offset).
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import {
  SileroVADAnalyzer,
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

let t = performance.now();
await SileroWorker.shared().load(defaultSileroModelPath());
line("silero-vad-worker-load", performance.now() - t, "ms");
t = performance.now();
await loadSileroSession();
line("silero-vad-session-load", performance.now() - t, "ms");

// Inference on the shared worker thread (the default) and on the main thread.
for (const inference of ["worker", "main-thread"] as const) {
  // One stream.
  {
    const vad = new SileroVADAnalyzer({ sampleRate: 16000, inference });
    for (let i = 0; i < 200; i++) await vad.analyze(windowAt(i)); // warm up
    const n = 3000;
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    t = performance.now();
    for (let i = 0; i < n; i++) await vad.analyze(windowAt(i));
    const ms = performance.now() - t;
    delay.disable();
    line(`silero-vad-${inference}-1-stream`, ms / n, "ms/window");
    line(`silero-vad-${inference}-1-stream-realtime-factor`, (n * 32) / ms, "x");
    line(`silero-vad-${inference}-1-stream-event-loop-max-delay`, delay.max / 1e6, "ms");
  }

  // 64 streams sharing the session, analysed concurrently (one window each per round).
  {
    const streams = 64;
    const analyzers = Array.from(
      { length: streams },
      () => new SileroVADAnalyzer({ sampleRate: 16000, inference }),
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
    line(`silero-vad-${inference}-64-streams-per-round`, ms / rounds, "ms/32ms-of-audio");
    line(`silero-vad-${inference}-64-streams-per-window`, ms / (rounds * streams), "ms/window");
    line(`silero-vad-${inference}-64-streams-core-share`, (ms / rounds / 32) * 100, "%");
    line(`silero-vad-${inference}-64-streams-event-loop-max-delay`, delay.max / 1e6, "ms");
  }
}
