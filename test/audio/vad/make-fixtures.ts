/**
 * Regenerates the VAD speech fixtures in `test/fixtures/vad-*.wav` and their truth `vad-*.json`.
 * Not a test: run it by hand with `npx tsx test/audio/vad/make-fixtures.ts` (needs `flite`,
 * `espeak-ng` and `sox`: `apt-get install -y flite espeak-ng sox`).
 * sox runs with `-D` (no dither), so running this twice gives the same bytes.
 *
 * Each fixture is silence, a sentence, silence, a short phrase, silence. Every TTS clip is trimmed
 * to its non-silent samples (first and last sample with |x| ≥ 64, about −54 dBFS) before it is
 * placed, so the recorded spans are exactly where speech samples are. A low white-noise floor
 * (seeded, so the files are reproducible) is mixed over the whole file.
 */
import { seededRandom } from "../signals.js";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  encodePcm16Wav,
  fixturePath,
  readPcm16Wav,
  type SpeechSpan,
  type VadFixtureTruth,
} from "./support.js";

type Piece = { silenceMs: number } | { tts: "flite" | "espeak"; text: string };

const RATE = 16_000;
const THRESHOLD = 64;

const FIXTURES: Record<string, { pieces: Piece[]; noiseFloorDbfs: number | null; also8k?: boolean }> = {
  "vad-flite": {
    pieces: [
      { silenceMs: 1000 },
      { tts: "flite", text: "The quick brown fox jumps over the lazy dog near the river bank." },
      { silenceMs: 1500 },
      { tts: "flite", text: "Hello there." },
      { silenceMs: 1000 },
    ],
    noiseFloorDbfs: -60,
    also8k: true,
  },
  "vad-espeak": {
    pieces: [
      { silenceMs: 1000 },
      { tts: "espeak", text: "Please book a table for two people at seven tonight." },
      { silenceMs: 1500 },
      { tts: "espeak", text: "Thank you." },
      { silenceMs: 1000 },
    ],
    noiseFloorDbfs: -60,
  },
};

function synthesize(tts: "flite" | "espeak", text: string, dir: string): Int16Array {
  const raw = join(dir, "raw.wav");
  const out = join(dir, "out.wav");
  if (tts === "flite") execFileSync("flite", ["-voice", "slt", "-t", text, "-o", raw]);
  else execFileSync("espeak-ng", ["-v", "en-us", "-w", raw, text]);
  execFileSync("sox", ["-D", raw, "-r", String(RATE), "-c", "1", "-b", "16", out]);
  const wav = readPcm16Wav(out);
  let first = 0;
  while (first < wav.samples.length && Math.abs(wav.samples[first]!) < THRESHOLD) first++;
  let last = wav.samples.length - 1;
  while (last > first && Math.abs(wav.samples[last]!) < THRESHOLD) last--;
  return wav.samples.slice(first, last + 1);
}

/** Deterministic uniform noise in [-1, 1) (mulberry32). */
function noise(seed: number): () => number {
  const next = seededRandom(seed);
  return () => next() * 2 - 1;
}

const dir = mkdtempSync(join(tmpdir(), "vad-fixtures-"));
try {
  for (const [name, spec] of Object.entries(FIXTURES)) {
    const parts: Int16Array[] = [];
    const speech: SpeechSpan[] = [];
    let at = 0;
    for (const piece of spec.pieces) {
      if ("silenceMs" in piece) {
        const n = (piece.silenceMs * RATE) / 1000;
        parts.push(new Int16Array(n));
        at += n;
      } else {
        const clip = synthesize(piece.tts, piece.text, dir);
        speech.push({
          startMs: (at * 1000) / RATE,
          endMs: ((at + clip.length) * 1000) / RATE,
          text: piece.text,
        });
        parts.push(clip);
        at += clip.length;
      }
    }
    const samples = new Int16Array(at);
    let offset = 0;
    for (const p of parts) {
      samples.set(p, offset);
      offset += p.length;
    }
    if (spec.noiseFloorDbfs !== null) {
      // Uniform noise in [-a, a) has RMS a/√3.
      const amplitude = 32768 * 10 ** (spec.noiseFloorDbfs / 20) * Math.sqrt(3);
      const next = noise(0x5eed);
      for (let i = 0; i < samples.length; i++) {
        samples[i] = Math.max(-32768, Math.min(32767, Math.round(samples[i]! + amplitude * next())));
      }
    }
    const wavPath = fixturePath(`${name}.wav`);
    writeFileSync(wavPath, encodePcm16Wav(samples, RATE));
    const truth: VadFixtureTruth = {
      sampleRate: RATE,
      durationMs: (samples.length * 1000) / RATE,
      noiseFloorDbfs: spec.noiseFloorDbfs,
      speech,
    };
    writeFileSync(fixturePath(`${name}.json`), JSON.stringify(truth, null, 2) + "\n");
    if (spec.also8k) {
      const path8k = fixturePath(`${name}-8k.wav`);
      execFileSync("sox", ["-D", wavPath, "-r", "8000", "-c", "1", "-b", "16", path8k]);
      writeFileSync(
        fixturePath(`${name}-8k.json`),
        JSON.stringify({ ...truth, sampleRate: 8000 }, null, 2) + "\n",
      );
      readFileSync(path8k); // fail loudly if sox wrote nothing
    }
    console.log(
      `${name}: ${truth.durationMs} ms, speech ${speech.map((s) => `${s.startMs}-${s.endMs}`).join(", ")}`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
