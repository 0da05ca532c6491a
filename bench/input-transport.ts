/**
 * Input transport benchmark (not a test): the cost of bringing client audio into the pipeline,
 * 48 kHz stereo in 20 ms chunks → 16 kHz mono `InputAudioRawFrame`s, through the whole path
 * (pushAudio → AudioConverter → pushFrame into a queued processor), and the converter alone.
 *
 *   npx tsx bench/input-transport.ts
 */
import { performance } from "node:perf_hooks";
import { AudioConverter } from "../src/audio/audio-converter.js";
import { interleave } from "../src/audio/pcm.js";
import { MemoryTransport } from "../src/index.js";
import { FrameRecorder } from "../src/testing/index.js";
import { chunks, whiteNoise } from "../test/audio/signals.js";
import { startTask } from "../test/support/task.js";

const SECONDS = 60;
const IN_RATE = 48_000;
const stereo = interleave([whiteNoise(IN_RATE * SECONDS, 3000, 1), whiteNoise(IN_RATE * SECONDS, 3000, 2)]);
const pieces = chunks(stereo, (IN_RATE / 50) * 2);

async function converterAlone(): Promise<number> {
  const converter = new AudioConverter({ outRate: 16_000 });
  await converter.prepare(IN_RATE, 2);
  const t0 = performance.now();
  for (const p of pieces) converter.convert(p, IN_RATE, 2);
  const ms = performance.now() - t0;
  converter.dispose();
  return ms;
}

async function wholePath(): Promise<number> {
  const transport = new MemoryTransport({ params: { audioInEnabled: true, audioInSampleRate: IN_RATE } });
  const down = new FrameRecorder();
  const s = startTask([transport.input(), down], { params: { audioInSampleRate: 16_000 } });
  await s.whenStarted();
  const t0 = performance.now();
  for (const p of pieces) await transport.input().pushAudio(p, IN_RATE, 2);
  const ms = performance.now() - t0;
  await s.clock.runUntil(s.task.stopWhenDone());
  return ms;
}

let bestConverter = Infinity;
let bestPath = Infinity;
for (let round = 0; round < 3; round++) {
  bestConverter = Math.min(bestConverter, await converterAlone());
  bestPath = Math.min(bestPath, await wholePath());
}
const chunkCount = pieces.length;
console.log(
  `bench: input-converter-48k-stereo-to-16k-mono ${((SECONDS * 1000) / bestConverter).toFixed(0)} x-realtime`,
);
console.log(
  `bench: input-converter-us-per-20ms-chunk ${((bestConverter * 1000) / chunkCount).toFixed(1)} us`,
);
console.log(
  `bench: input-transport-48k-stereo-to-16k-mono ${((SECONDS * 1000) / bestPath).toFixed(0)} x-realtime`,
);
console.log(`bench: input-transport-us-per-20ms-chunk ${((bestPath * 1000) / chunkCount).toFixed(1)} us`);
