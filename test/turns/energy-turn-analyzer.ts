import type { TurnAnalyzer, TurnVerdict } from "../../src/audio/turn/turn-analyzer.js";

const BLOCK = 320; // 20 ms at 16 kHz

/** RMS of a block, 0 … 1. */
function rms(audio: Int16Array, from: number, to: number): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum += (audio[i]! / 32768) ** 2;
  return Math.sqrt(sum / Math.max(1, to - from));
}

/**
 * A real (if simple) turn analyzer for tests, honouring the whole `TurnAnalyzer` contract: it
 * keeps the newest `windowMs` of audio in a fixed ring (never more), and decides from the energy
 * at the end of the speech: speech that trails off (its last 100 ms quieter than `ratio` × the
 * turn's voiced mean) is complete; speech cut off at full strength (mid-word) is not. A turn with
 * no voiced audio is an error. It also counts the voiced ms it was given since the last clear,
 * so a test can check that the start of the turn (before the VAD's start) reached it.
 */
export class EnergyTurnAnalyzer implements TurnAnalyzer {
  readonly sampleRate = 16_000;
  readonly #ring: Int16Array;
  #written = 0;
  /** Voiced 20 ms blocks appended since the last clear (counted as they arrive). */
  voicedMs = 0;
  /** `voicedMs` at each clear: one entry per turn. */
  readonly turnsVoicedMs: number[] = [];
  readonly verdicts: TurnVerdict[] = [];
  #pending = new Int16Array(0);

  constructor(
    readonly windowMs = 8000,
    readonly threshold = 0.01,
    readonly ratio = 0.5,
  ) {
    this.#ring = new Int16Array((this.sampleRate * windowMs) / 1000);
  }

  /** Samples held: never more than the window. */
  get held(): number {
    return Math.min(this.#written, this.#ring.length);
  }

  appendAudio(audio: Int16Array): void {
    for (let i = 0; i < audio.length; i++) this.#ring[(this.#written + i) % this.#ring.length] = audio[i]!;
    this.#written += audio.length;
    // Count voiced blocks as they complete.
    const joined = new Int16Array(this.#pending.length + audio.length);
    joined.set(this.#pending);
    joined.set(audio, this.#pending.length);
    let at = 0;
    for (; at + BLOCK <= joined.length; at += BLOCK)
      if (rms(joined, at, at + BLOCK) >= this.threshold) this.voicedMs += 20;
    this.#pending = joined.slice(at);
  }

  async analyze(signal: AbortSignal): Promise<TurnVerdict> {
    if (signal.aborted) throw signal.reason;
    await new Promise((r) => setImmediate(r)); // an inference takes a turn of the event loop
    if (signal.aborted) throw signal.reason;
    const audio = this.#linear();
    const blocks: number[] = [];
    for (let at = 0; at + BLOCK <= audio.length; at += BLOCK) blocks.push(rms(audio, at, at + BLOCK));
    let end = blocks.length;
    while (end > 0 && blocks[end - 1]! < this.threshold) end--;
    const voiced = blocks.slice(0, end).filter((b) => b >= this.threshold);
    if (voiced.length === 0) throw new Error("EnergyTurnAnalyzer: no speech in the turn's audio");
    const mean = voiced.reduce((a, b) => a + b, 0) / voiced.length;
    const tail = blocks.slice(Math.max(0, end - 5), end);
    const last = tail.reduce((a, b) => a + b, 0) / tail.length;
    const probability = Math.max(0, Math.min(1, 1 - last / mean));
    const verdict = { complete: last < this.ratio * mean, probability, inferenceMs: 0 };
    this.verdicts.push(verdict);
    return verdict;
  }

  clear(): void {
    this.turnsVoicedMs.push(this.voicedMs);
    this.voicedMs = 0;
    this.#written = 0;
    this.#pending = new Int16Array(0);
  }

  #linear(): Int16Array {
    const n = this.held;
    const out = new Int16Array(n);
    const start = this.#written - n;
    for (let i = 0; i < n; i++) out[i] = this.#ring[(start + i) % this.#ring.length]!;
    return out;
  }
}
