/**
 * Smart Turn v3 runner cost, on the stand-in model with Smart Turn's interface
 * (`test/fixtures/smart-turn-test.onnx`: the real model is not shipped, so this measures the
 * runner — features, hand-off to the worker, a trivial model run — not Smart Turn's own network):
 * Whisper features of 8 s alone (in one go, and in the analyzer's event-loop-friendly slices),
 * one `analyze()` on 8 s of audio, and the longest event-loop delay during it.
 *
 *   npx tsx bench/smart-turn.ts [path/to/smart-turn-v3.2-cpu.onnx]
 *
 * Pass a real Smart Turn file to time the whole thing with the real network.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import {
  SMART_TURN_SAMPLES,
  SmartTurnAnalyzer,
  WhisperFeatureExtractor,
} from "../src/audio/turn/smart-turn/index.js";
import { whiteNoise } from "../test/audio/signals.js";

const modelPath =
  process.argv[2] ?? fileURLToPath(new URL("../test/fixtures/smart-turn-test.onnx", import.meta.url));
const audio = whiteNoise(SMART_TURN_SAMPLES, 6000, 9);
const line = (name: string, value: number, unit: string): void =>
  console.log(`bench: ${name} ${value.toFixed(value < 10 ? 3 : 1)} ${unit}`);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

const extractor = new WhisperFeatureExtractor();
for (let i = 0; i < 5; i++) extractor.extract(audio); // warm up the JIT
const sync: number[] = [];
for (let i = 0; i < 20; i++) {
  const t = performance.now();
  extractor.extract(audio);
  sync.push(performance.now() - t);
}
line("smart-turn-features-8s", median(sync), "ms");
const sliced: number[] = [];
for (let i = 0; i < 20; i++) {
  const t = performance.now();
  await extractor.extractAsync(audio);
  sliced.push(performance.now() - t);
}
line("smart-turn-features-8s-sliced", median(sliced), "ms");

const turn = new SmartTurnAnalyzer({ modelPath });
let t = performance.now();
await turn.load();
line("smart-turn-load", performance.now() - t, "ms");
turn.appendAudio(audio, true);
const never = new AbortController().signal;
for (let i = 0; i < 5; i++) await turn.analyze(never);
const runs: number[] = [];
const delay = monitorEventLoopDelay({ resolution: 1 });
delay.enable();
for (let i = 0; i < 20; i++) {
  t = performance.now();
  await turn.analyze(never);
  runs.push(performance.now() - t);
}
delay.disable();
line("smart-turn-analyze-8s", median(runs), "ms");
line("smart-turn-analyze-8s-p90", [...runs].sort((a, b) => a - b)[18]!, "ms");
line("smart-turn-analyze-event-loop-max-delay", delay.max / 1e6, "ms");
await turn.release();
