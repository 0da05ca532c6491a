/**
 * Adversarial probes of the audio layer (resampler, Silero VAD, SoundfileMixer, RNNoise filter,
 * AudioBufferProcessor), through the public API only. `held:` attacks did not break anything and
 * stay as regression tests; `broken:` are `it.fails` whose body states the promise (see README.md).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  InputAudioRawFrame,
  UserStartedSpeakingFrame,
  BotStartedSpeakingFrame,
  InvalidOptionError,
  InvalidSampleRateError,
  MAX_SAMPLE_RATE,
  MIN_SAMPLE_RATE,
  MixerEnableFrame,
  MixerSoundError,
  MixerUpdateSettingsFrame,
  OutputAudioRawFrame,
  PcmFormatError,
  RESAMPLER_MAX_EXTRA_FRAMES,
  ResamplerDisposedError,
  SoundfileMixer,
  AudioBufferProcessor,
  AudioFilterNotStartedError,
  RNNoiseFilter,
  VADInputError,
  VADAnalyzer,
  VADProcessor,
  VADSampleRateError,
  type VADParams,
  VADState,
  clearSoundCache,
  createStreamResampler,
  resampleOnce,
  writeWavFile,
  readWavFile,
  ErrorFrame,
  VADAnalysisError,
  type Frame,
} from "../../src/index.js";
import { VirtualClock, runTest } from "../../src/testing/index.js";
import { runIsolated } from "./support.js";
import { startRecordedTask } from "../support/task.js";

/** The process's memory after two full collections (`--expose_gc` turned on for the call). */
async function afterGcMemory(): Promise<() => NodeJS.MemoryUsage> {
  const v8 = await import("node:v8");
  const vm = await import("node:vm");
  v8.setFlagsFromString("--expose_gc");
  const gc = vm.runInNewContext("gc") as () => void;
  return () => {
    gc();
    gc();
    return process.memoryUsage();
  };
}
import {
  SileroVADAnalyzer,
  SileroWorker,
  VADModelLoadError,
  defaultSileroModelPath,
} from "../../src/audio/vad/silero.js";
import { concat } from "../audio/signals.js";

const RUNS = Number(process.env.ADV_RUNS ?? 40);

/** Deterministic pseudo-random PCM16 (xorshift). */
function noise(n: number, seed = 1, amp = 20_000): Int16Array {
  const out = new Int16Array(n);
  let x = seed | 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = (((x % amp) + amp) % amp) - amp / 2;
  }
  return out;
}

function sine(n: number, rate: number, hz = 440, amp = 12_000): Int16Array {
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(amp * Math.sin((2 * Math.PI * hz * i) / rate));
  return out;
}

/** Cuts `audio` into chunks of the given sizes (cycled), 0-length chunks included. */
function cut(audio: Int16Array, sizes: readonly number[]): Int16Array[] {
  const out: Int16Array[] = [];
  let o = 0;
  let k = 0;
  while (o < audio.length) {
    const n = Math.min(sizes[k++ % sizes.length]!, audio.length - o);
    out.push(audio.subarray(o, o + n));
    o += n;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
describe("streaming resampler", () => {
  const rateArb = fc.oneof(
    fc.constantFrom(8000, 11_025, 16_000, 22_050, 24_000, 44_100, 48_000, MIN_SAMPLE_RATE, 7919, 96_000),
    fc.integer({ min: MIN_SAMPLE_RATE, max: 200_000 }),
  );

  it("held: a stream cut into chunks of any size (0 and 1 included) resamples to the same samples as whole, with exactly ceil(n × out/in) frames", async () => {
    await fc.assert(
      fc.asyncProperty(
        rateArb,
        rateArb,
        fc.integer({ min: 1, max: 2 }),
        fc.array(fc.integer({ min: 0, max: 700 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 3000 }),
        fc.integer({ min: 0, max: 10 }),
        async (inRate, outRate, channels, sizes, frames, quality) => {
          fc.pre(sizes.some((s) => s > 0));
          const audio = noise(frames * channels, inRate);
          const whole = await createStreamResampler({ inRate, outRate, channels, quality });
          const chunked = await createStreamResampler({ inRate, outRate, channels, quality });
          try {
            const a = whole.resample(audio).slice();
            const parts: Int16Array[] = [];
            let total = 0;
            for (const c of cut(
              audio,
              sizes.map((s) => s * channels),
            )) {
              const out = chunked.resample(c).slice();
              total += c.length / channels;
              // one call: at most ceil(in × ratio) + RESAMPLER_MAX_EXTRA_FRAMES frames
              expect(out.length / channels).toBeLessThanOrEqual(
                Math.ceil(((c.length / channels) * outRate) / inRate) + RESAMPLER_MAX_EXTRA_FRAMES,
              );
              parts.push(out);
            }
            const b = concat(parts);
            expect(b.length / channels).toBe(Math.ceil((total * outRate) / inRate));
            expect(a.length).toBe(b.length);
            expect(b).toEqual(a);
          } finally {
            whole.dispose();
            chunked.dispose();
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("held: an invalid rate, channel count or quality is refused with a clear error before anything is loaded", async () => {
    for (const bad of [
      NaN,
      Infinity,
      -Infinity,
      0,
      -16_000,
      999,
      MAX_SAMPLE_RATE + 1,
      16_000.5,
      "16000",
      null,
      undefined,
      2 ** 53,
    ]) {
      await expect(createStreamResampler({ inRate: bad as number, outRate: 16_000 })).rejects.toBeInstanceOf(
        InvalidSampleRateError,
      );
      await expect(createStreamResampler({ inRate: 16_000, outRate: bad as number })).rejects.toBeInstanceOf(
        InvalidSampleRateError,
      );
      await expect(resampleOnce(new Int16Array(10), bad as number, 16_000)).rejects.toBeInstanceOf(
        InvalidSampleRateError,
      );
    }
    for (const channels of [0, -1, 1.5, NaN, 65]) {
      await expect(createStreamResampler({ inRate: 8000, outRate: 16_000, channels })).rejects.toBeInstanceOf(
        InvalidOptionError,
      );
    }
    for (const quality of [-1, 11, 2.5, NaN, Infinity]) {
      await expect(createStreamResampler({ inRate: 8000, outRate: 16_000, quality })).rejects.toBeInstanceOf(
        InvalidOptionError,
      );
    }
    const err = await createStreamResampler({ inRate: NaN, outRate: 16_000 }).catch((e: unknown) => e);
    expect(String((err as Error).message)).toMatch(/inRate.*NaN/);
  });

  it("held: misuse after dispose throws ResamplerDisposedError (stream and pass-through), dispose is idempotent", async () => {
    for (const [inRate, outRate] of [
      [16_000, 48_000],
      [16_000, 16_000],
    ] as const) {
      const r = await createStreamResampler({ inRate, outRate });
      r.resample(new Int16Array(7));
      r.dispose();
      r.dispose();
      expect(r.disposed).toBe(true);
      expect(() => r.resample(new Int16Array(160))).toThrow(ResamplerDisposedError);
      expect(() => r.resample(new Int16Array(0))).toThrow(ResamplerDisposedError);
      expect(() => r.flush()).toThrow(ResamplerDisposedError);
      expect(() => r.reset()).toThrow(ResamplerDisposedError);
    }
  });

  it("held: a partial frame is refused with PcmFormatError and leaves the stream as it was", async () => {
    const r = await createStreamResampler({ inRate: 44_100, outRate: 16_000, channels: 2 });
    const ref = await createStreamResampler({ inRate: 44_100, outRate: 16_000, channels: 2 });
    const audio = noise(2 * 441, 5);
    const a = r.resample(audio.subarray(0, 200)).slice();
    expect(() => r.resample(new Int16Array(3))).toThrow(PcmFormatError);
    const b = r.resample(audio.subarray(200)).slice();
    expect(concat([a, b])).toEqual(ref.resample(audio).slice());
    r.dispose();
    ref.dispose();
  });

  it("held: flush then reset then misuse: flush returns the tail and the next chunk starts a new stream", async () => {
    const r = await createStreamResampler({ inRate: 8000, outRate: 22_050 });
    const audio = sine(8000, 8000);
    const first = concat([r.resample(audio).slice(), r.flush().slice()]);
    r.reset();
    r.reset();
    expect(r.flush().length).toBeGreaterThanOrEqual(0); // flush of nothing: no crash
    const second = concat([r.resample(audio).slice(), r.flush().slice()]);
    expect(second).toEqual(first);
    r.dispose();
  });

  it("held: extreme ratios (1 kHz ↔ 768 kHz) in 1-sample and huge chunks keep the exact output count", async () => {
    for (const [inRate, outRate] of [
      [MIN_SAMPLE_RATE, MAX_SAMPLE_RATE],
      [MAX_SAMPLE_RATE, MIN_SAMPLE_RATE],
      [MAX_SAMPLE_RATE - 1, MIN_SAMPLE_RATE + 1],
    ] as const) {
      const r = await createStreamResampler({ inRate, outRate });
      let inFrames = 0;
      let outFrames = 0;
      for (let i = 0; i < 2000; i++) {
        outFrames += r.resample(new Int16Array([i * 7])).length;
        inFrames++;
      }
      const huge = noise(inRate >= 100_000 ? 3 * inRate : 20 * inRate, 9); // seconds of audio in one call
      outFrames += r.resample(huge).length;
      inFrames += huge.length;
      expect(outFrames).toBe(Math.ceil((inFrames * outRate) / inRate));
      r.dispose();
    }
  });

  it("held: resampleOnce gives exactly round(n × out/in) frames for empty, 1-sample and odd clips", async () => {
    await fc.assert(
      fc.asyncProperty(rateArb, rateArb, fc.integer({ min: 0, max: 2000 }), async (inRate, outRate, n) => {
        const out = await resampleOnce(noise(n, n + 1), inRate, outRate);
        expect(out.length).toBe(Math.round((n * outRate) / inRate));
      }),
      { numRuns: RUNS },
    );
  });

  it("held: 5,000 streams created and disposed keep the heap flat (state is freed)", async () => {
    const make = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const r = await createStreamResampler({ inRate: 48_000, outRate: 16_000 + (i % 3) * 1000 });
        r.resample(new Int16Array(960));
        r.dispose();
      }
    };
    await make(500);
    const before = process.memoryUsage();
    await make(5000);
    const after = process.memoryUsage();
    // wasm memory shows in arrayBuffers / rss; a leak of a few tens of KB per stream would be > 100 MB
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(32 * 1024 * 1024);
  });
});

// ---------------------------------------------------------------------------------------------
describe("SoundfileMixer", () => {
  let dir: string;
  const files: Record<string, string> = {};
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "vp-adv-mix-"));
    files.tone = join(dir, "tone.wav");
    await writeWavFile(files.tone, {
      audio: sine(16_000, 16_000, 300, 10_000),
      sampleRate: 16_000,
      numChannels: 1,
    });
    files.ramp = join(dir, "ramp.wav");
    const ramp = new Int16Array(1000);
    for (let i = 0; i < ramp.length; i++) ramp[i] = i * 10 + 1;
    await writeWavFile(files.ramp, { audio: ramp, sampleRate: 8000, numChannels: 1 });
    files.empty = join(dir, "empty.wav");
    await writeWavFile(files.empty, { audio: new Int16Array(0), sampleRate: 16_000, numChannels: 1 });
    files.one48 = join(dir, "one48.wav");
    await writeWavFile(files.one48, { audio: new Int16Array([12_345]), sampleRate: 48_000, numChannels: 1 });
    files.garbage = join(dir, "garbage.wav");
    await writeFile(files.garbage, "this is not a wav file at all, just text");
    files.stereo = join(dir, "stereo.wav");
    await writeWavFile(files.stereo, { audio: noise(2 * 777, 3), sampleRate: 11_025, numChannels: 2 });
  });
  afterAll(async () => {
    clearSoundCache();
    await rm(dir, { recursive: true, force: true });
  });

  it("held: a volume that is NaN, negative, above 1, infinite or not a number is refused at construction and by a control frame, and a refused frame changes nothing", async () => {
    for (const volume of [NaN, -0.1, 1.0001, Infinity, -Infinity, "0.5"]) {
      expect(() => new SoundfileMixer({ soundFiles: { t: files.tone! }, volume: volume as number })).toThrow(
        InvalidOptionError,
      );
    }
    const m = new SoundfileMixer({ soundFiles: { tone: files.tone!, ramp: files.ramp! }, volume: 0.5 });
    await m.start(8000, 1);
    for (const volume of [NaN, -1, 2, Infinity]) {
      expect(() =>
        m.processFrame(new MixerUpdateSettingsFrame({ sound: "ramp", volume, loop: false })),
      ).toThrow(InvalidOptionError);
      expect(m.volume).toBe(0.5);
      expect(m.sound).toBe("tone");
    }
    expect(() => m.processFrame(new MixerUpdateSettingsFrame({ sound: "nope", volume: 0.1 }))).toThrow(
      InvalidOptionError,
    );
    expect(m.volume).toBe(0.5);
    m.stop();
  });

  it("held: a missing file fails at construction, an empty / unreadable / too short one at start, each a MixerSoundError naming the path", async () => {
    expect(() => new SoundfileMixer({ soundFiles: { x: join(dir, "missing.wav") } })).toThrow(
      MixerSoundError,
    );
    for (const name of ["empty", "garbage", "one48"] as const) {
      const m = new SoundfileMixer({ soundFiles: { [name]: files[name]! } });
      // one48 at 8 kHz: 1 sample × 1/6 rounds to 0 samples: "empty", still a clear error
      const err = await Promise.resolve(m.start(8000, 1)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MixerSoundError);
      expect((err as Error).message).toContain(files[name]!);
      expect(m.active).toBe(false);
      const audio = noise(160, 2);
      expect(m.mix(audio)).toEqual(audio);
    }
  });

  it("held: a file deleted between construction and start fails the start with MixerSoundError", async () => {
    const p = join(dir, "doomed.wav");
    await writeWavFile(p, { audio: sine(100, 8000), sampleRate: 8000, numChannels: 1 });
    const m = new SoundfileMixer({ soundFiles: { d: p } });
    await rm(p);
    await expect(Promise.resolve(m.start(8000, 1))).rejects.toBeInstanceOf(MixerSoundError);
  });

  it("held: looping playback is continuous across chunks of any size and channel count (silence in = sound × volume out)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(8000, 11_025, 16_000, 24_000, 44_100),
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.integer({ min: 0, max: 900 }), { minLength: 1, maxLength: 6 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        async (rate, channels, sizes, volume) => {
          fc.pre(sizes.some((s) => s > 0));
          const m = new SoundfileMixer({ soundFiles: { ramp: files.ramp! }, volume });
          await m.start(rate, channels);
          const ref = new SoundfileMixer({ soundFiles: { ramp: files.ramp! }, volume });
          await ref.start(rate, channels);
          const frames = 5000;
          const whole = ref.mix(new Int16Array(frames * channels)).slice();
          const parts = cut(
            new Int16Array(frames * channels),
            sizes.map((s) => s * channels),
          ).map((c) => m.mix(c).slice());
          const got = concat(parts);
          expect(got.length).toBe(whole.length);
          expect(got).toEqual(whole);
          // every channel of a frame carries the same background sample
          for (let i = 0; i < got.length; i += channels)
            for (let c = 1; c < channels; c++) expect(got[i + c]).toBe(got[i]);
          m.stop();
          ref.stop();
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("held: with loop off the sound plays once, then the mixer passes audio through and is no longer active", async () => {
    const m = new SoundfileMixer({ soundFiles: { ramp: files.ramp! }, volume: 1, loop: false });
    await m.start(8000, 1);
    const out = m.mix(new Int16Array(1500)).slice();
    expect(Array.from(out.subarray(0, 3))).toEqual([1, 11, 21]);
    expect(out.subarray(1000).every((v) => v === 0)).toBe(true);
    expect(m.active).toBe(false);
    const next = noise(100, 4);
    expect(m.mix(next)).toEqual(next);
  });

  it("held: clipping: loud audio plus a loud sound stays within PCM16 (no wrap-around)", async () => {
    const loud = join(dir, "loud.wav");
    await writeWavFile(loud, { audio: new Int16Array(100).fill(32_767), sampleRate: 8000, numChannels: 1 });
    const m = new SoundfileMixer({ soundFiles: { l: loud }, volume: 1 });
    await m.start(8000, 1);
    const out = m.mix(new Int16Array(100).fill(30_000));
    expect(out.every((v) => v === 32_767)).toBe(true);
    const m2 = new SoundfileMixer({ soundFiles: { l: loud }, volume: 1 });
    await m2.start(8000, 1);
    const out2 = m2.mix(new Int16Array(100).fill(-32_768));
    expect(out2.every((v) => v === -1)).toBe(true);
  });

  it("held: misuse after stop: mix passes audio through, control frames are accepted, a second stop is harmless, a restart plays again", async () => {
    const m = new SoundfileMixer({ soundFiles: { tone: files.tone!, stereo: files.stereo! } });
    await m.start(16_000, 1);
    m.stop();
    m.stop();
    expect(m.active).toBe(false);
    const a = noise(320, 6);
    expect(m.mix(a)).toEqual(a);
    m.processFrame(new MixerUpdateSettingsFrame({ sound: "stereo", volume: 1 }));
    m.processFrame(new MixerEnableFrame(false));
    m.processFrame(new MixerEnableFrame(true));
    expect(m.mix(a)).toEqual(a);
    await m.start(16_000, 2);
    expect(m.active).toBe(true);
    expect(m.sound).toBe("stereo");
    expect(m.mix(new Int16Array(64)).some((v) => v !== 0)).toBe(true);
    m.stop();
  });

  // Was a HOLE (fixed 2026-12-01). "A rejected frame changes nothing" and an unknown sound is refused with InvalidOptionError
  // (`no sound "x"`). What happens instead: a sound named after an Object.prototype member
  // ("toString", "constructor", "__proto__", "hasOwnProperty") is accepted; the mixer then has no
  // sound: measured `sound === undefined`, `active === false`, mix() adds nothing: the background
  // silently stops. Root cause: src/audio/mixers/soundfile-mixer.ts `processFrame()` checks
  // `!(sound in this.#files)`, and `in` sees the prototype chain (the constructor's `defaultSound`
  // check uses `names.includes` and is right).
  it('fixed: a MixerUpdateSettingsFrame naming an unknown sound ("toString") is refused and changes nothing', async () => {
    const m = new SoundfileMixer({ soundFiles: { tone: files.tone! } });
    await m.start(16_000, 1);
    for (const sound of ["toString", "constructor", "__proto__", "hasOwnProperty"]) {
      expect(() => m.processFrame(new MixerUpdateSettingsFrame({ sound }))).toThrow(InvalidOptionError);
      expect(m.sound).toBe("tone");
      expect(m.active).toBe(true);
    }
    m.stop();
  });

  // Was a HOLE (fixed 2026-12-01). Clear errors for invalid settings; mix() is "pure CPU work ... called on every tick" and
  // returns "exactly audio.length samples" with the background mixed in. What happens instead:
  // `start(rate, numChannels)` accepts any channel count. With 0 (or a negative count) the next
  // `mix()` never returns: `for (i = 0; i < audio.length; i += channels)` with channels 0 spins
  // forever (measured: a child process killed at its 5 s limit; see the next probe). With NaN or 1.5,
  // mix() returns samples that were never written, from the shared pool: measured
  // [2683, 8224, 8224, 8224, 8224, 8224] for six samples of 1 with a 5000 background at NaN channels.
  // Root cause: src/audio/mixers/soundfile-mixer.ts `start()` stores `numChannels` unchecked and
  // `mix()` steps by it over a `pooledInt16` buffer ("every sample is written below" only holds for
  // a positive integer). (The output transport passes its own validated channel count, so this
  // bites direct users of the public mixer.)
  it("fixed: start() refuses a channel count that is not a positive integer", async () => {
    for (const channels of [0, -1, NaN, 1.5]) {
      const m = new SoundfileMixer({ soundFiles: { tone: files.tone! } });
      await expect(Promise.resolve(m.start(16_000, channels))).rejects.toBeInstanceOf(InvalidOptionError);
    }
  });

  it("fixed: mix() always returns (never spins), whatever start() was given", () => {
    const r = runIsolated(
      `
        import { SoundfileMixer, writeWavFile } from "@SRC@/index.ts";
        const p = ${JSON.stringify(join(tmpdir(), `vp-adv-spin-${process.pid}.wav`))};
        await writeWavFile(p, { audio: new Int16Array(800).fill(5000), sampleRate: 8000 });
        const m = new SoundfileMixer({ soundFiles: { t: p }, volume: 1 });
        let started = "resolved";
        try { await m.start(8000, 0); } catch { started = "rejected"; }
        if (started === "resolved") m.mix(new Int16Array(6));
        console.log(JSON.stringify({ started }));
      `,
      5_000,
    );
    expect(r.timedOut).toBe(false);
  }, 20_000);

  // Was a HOLE (fixed 2026-12-01). What happens instead: `stop()` called while `start()` reads the files returns at once,
  // then `start()` resolves and stores the decoded sounds: measured `active === true` after the stop,
  // `mix()` of 160 samples adds the tone, and the decoded sounds stay held until another stop().
  // Root cause: src/audio/mixers/soundfile-mixer.ts `start()` (lines ~117-135) has no stopped/
  // generation flag: after its `await` it does `this.#sounds.set(...)` and `this.#select(...)`
  // whatever `stop()` did meanwhile. (Inside an output transport the GuardedMixer calls stop() again
  // once a late start settles, which hides it; a direct user of the public mixer is not covered.)
  it("fixed: stop() while start() is reading files leaves the mixer stopped (stop releases what start acquired)", async () => {
    clearSoundCache();
    const m = new SoundfileMixer({ soundFiles: { tone: files.tone! } });
    const starting = Promise.resolve(m.start(16_000, 1));
    m.stop();
    await starting.catch(() => undefined);
    expect(m.active).toBe(false);
    const a = noise(160, 8);
    expect(m.mix(a)).toEqual(a);
  });

  // Was a HOLE (fixed 2026-12-01). AudioMixer contract (src/audio/mixers/audio-mixer.ts, `start`): "give up when
  // `context.signal` aborts (cancel)". What happens instead: with a signal aborted before the call,
  // `SoundfileMixer.start()` still reads and decodes every file, resolves, and the mixer is active
  // (measured: "resolved", active === true). Root cause: soundfile-mixer.ts `start()` never reads
  // `context.signal` (only `context.clock`).
  it("fixed: start() gives up when context.signal is already aborted (rejects, or leaves the mixer inactive)", async () => {
    clearSoundCache();
    const m = new SoundfileMixer({ soundFiles: { tone: files.tone! } });
    const ac = new AbortController();
    ac.abort(new Error("cancelled"));
    const clock = new VirtualClock();
    const result = await Promise.resolve(m.start(16_000, 1, { clock, signal: ac.signal })).then(
      () => "resolved",
      () => "rejected",
    );
    expect(result === "rejected" || m.active === false).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
describe("Silero VAD analyzer", () => {
  let speech: Int16Array;
  beforeAll(async () => {
    speech = (await readWavFile(join(import.meta.dirname, "../fixtures/vad-flite.wav"))).audio;
  });

  it("held: unsupported rates are refused with VADSampleRateError, bad chunks and a missing rate with VADInputError", async () => {
    for (const rate of [44_100, 48_000, 0, -16_000, NaN, Infinity, 16_000.5, 32_000]) {
      expect(() => new SileroVADAnalyzer({ sampleRate: rate })).toThrow(VADSampleRateError);
      const a = new SileroVADAnalyzer();
      expect(() => a.setSampleRate(rate)).toThrow(VADSampleRateError);
      expect(a.sampleRate).toBeUndefined();
    }
    const a = new SileroVADAnalyzer();
    await expect(a.analyze(new Int16Array(512))).rejects.toBeInstanceOf(VADInputError);
    a.setSampleRate(16_000);
    for (const bad of [
      new Float32Array([NaN, Infinity]),
      [1, 2, 3],
      Buffer.alloc(1024),
      null,
      undefined,
      new Uint16Array(512),
    ]) {
      await expect(a.analyze(bad as unknown as Int16Array)).rejects.toBeInstanceOf(VADInputError);
    }
    expect(() => new SileroVADAnalyzer({ inference: "gpu" as never })).toThrow(InvalidOptionError);
    expect(() => new SileroVADAnalyzer({ resetIntervalMs: NaN })).toThrow(InvalidOptionError);
    expect(() => new SileroVADAnalyzer({ resetIntervalMs: -1 })).toThrow(InvalidOptionError);
  });

  it("held: a second analyze() while one runs is refused with VADInputError, and the first completes", async () => {
    const a = new SileroVADAnalyzer({ sampleRate: 16_000 });
    await a.ready();
    const first = a.analyze(noise(16_000, 3));
    await expect(a.analyze(new Int16Array(512))).rejects.toBeInstanceOf(VADInputError);
    const r = await first;
    expect(r.windows).toBe(Math.floor(16_000 / 512));
  });

  it("held: any chunking (0- and 1-sample chunks included) gives the same states, transitions and window counts as the whole stream", async () => {
    const audio = speech;
    const run = async (sizes: readonly number[]) => {
      const a = new SileroVADAnalyzer({ sampleRate: 16_000, inference: "this-thread" });
      const transitions: unknown[] = [];
      let windows = 0;
      for (const c of sizes.length ? cut(audio, sizes) : [audio]) {
        const r = await a.analyze(c);
        windows += r.windows;
        transitions.push(...r.transitions);
      }
      return { transitions, windows, state: a.state, streamMs: a.streamMs, buffered: a.bufferedSamples };
    };
    const whole = await run([]);
    expect(whole.transitions.length).toBeGreaterThanOrEqual(2); // the fixture has speech
    expect(whole.windows).toBe(Math.floor(audio.length / 512));
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 5 }),
        async (sizes) => {
          fc.pre(sizes.some((s) => s > 0));
          expect(await run(sizes)).toEqual(whole);
        },
      ),
      { numRuns: 4 },
    );
    const ones = await run([1, 0, 1, 1, 2]);
    expect(ones).toEqual(whole);
  });

  it("held: silence, full-scale square waves, clipping noise and DC stay in range: confidence 0..1, no transitions out of nothing, no hang", async () => {
    const a = new SileroVADAnalyzer({ sampleRate: 8000, inference: "this-thread", skipQuietWindows: false });
    const n = 8000 * 3;
    const square = new Int16Array(n).map((_, i) => (i % 16 < 8 ? 32_767 : -32_768));
    const dc = new Int16Array(n).fill(-32_768);
    for (const audio of [new Int16Array(n), square, noise(n, 11, 65_535), dc]) {
      a.reset();
      const r = await a.analyze(audio);
      expect(r.windows).toBe(Math.floor(n / 256));
      expect(a.lastConfidence).toBeGreaterThanOrEqual(0);
      expect(a.lastConfidence).toBeLessThanOrEqual(1);
      expect(Number.isFinite(a.lastVolume)).toBe(true);
    }
    a.reset();
    const silent = await a.analyze(new Int16Array(n));
    expect(silent.transitions).toEqual([]);
    expect(silent.state).toBe(VADState.QUIET);
  });

  it("held: 24 analyzers at once on the shared worker all finish, each with the windows of its own stream", async () => {
    const analyzers = Array.from({ length: 24 }, () => new SileroVADAnalyzer({ sampleRate: 16_000 }));
    await analyzers[0]!.ready();
    const t0 = performance.now();
    const chunk = 320;
    const results = await Promise.all(
      analyzers.map(async (a, k) => {
        const audio = k % 2 ? speech.subarray(0, 16_000 * 3) : noise(16_000 * 3, k + 1);
        let windows = 0;
        for (let o = 0; o < audio.length; o += chunk)
          windows += (await a.analyze(audio.subarray(o, o + chunk))).windows;
        return windows;
      }),
    );
    expect(results.every((w) => w === Math.floor((16_000 * 3) / 512))).toBe(true);
    expect(performance.now() - t0).toBeLessThan(25_000);
  });

  it("held: a model file that is not a model fails ready() with VADModelLoadError, and every later window fails at once with it (no hang, no retry per window)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vp-adv-vad-"));
    try {
      const bad = join(dir, "bad.onnx");
      await writeFile(bad, "not an onnx model");
      for (const modelPath of [bad, join(dir, "missing.onnx")]) {
        for (const inference of ["worker", "this-thread"] as const) {
          const a = new SileroVADAnalyzer({ sampleRate: 16_000, modelPath, inference });
          await expect(a.ready()).rejects.toBeInstanceOf(VADModelLoadError);
          const t0 = performance.now();
          for (let i = 0; i < 5; i++)
            await expect(a.analyze(noise(512, i + 1))).rejects.toBeInstanceOf(VADModelLoadError);
          expect(performance.now() - t0).toBeLessThan(1000);
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("held: stopping the shared worker during an analysis rejects it at once with VADAnalysisError (every wait bounded)", async () => {
    const a = new SileroVADAnalyzer({ sampleRate: 16_000 });
    await a.ready();
    const worker = SileroWorker.shared();
    const runsBefore = worker.runs;
    // Two minutes of audio (3,750 windows, one round trip each) and the worker stopped as soon as
    // the first window is answered: the analysis is in flight whatever the machine's speed (a fixed
    // 30 ms wait let a fast machine finish ten seconds of audio first).
    const p = a.analyze(noise(16_000 * 120, 5)).then(
      () => "resolved",
      (e: unknown) => e,
    );
    const waitStart = performance.now();
    while (worker.runs === runsBefore && performance.now() - waitStart < 10_000)
      await new Promise((r) => setImmediate(r));
    expect(worker.runs).toBeGreaterThan(runsBefore);
    const t0 = performance.now();
    await worker.terminate();
    const settled = await p;
    expect(settled).toBeInstanceOf(VADAnalysisError);
    expect(performance.now() - t0).toBeLessThan(2000);
    // let the shared worker come back for later tests
    await a.ready();
    await a.analyze(noise(1600, 2)).catch(() => undefined);
  });

  // Was a HOLE (fixed 2026-12-01). SileroWorker promises "a worker that dies fails what is in flight and is started again on
  // the next request" (and terminate(): "The next request starts a new one"). What happens instead:
  // the next request after a restart is a `run` whose worker must first load the model, and that
  // load is done under the run's deadline (`timeoutMs`, 2 s by default), not the load's (15×). With
  // the shared worker and an analyzer that had loaded before, measured here: the first analyze()
  // after `SileroWorker.shared().terminate()` rejected after 2,039 ms with "inference of 1 window(s)
  // did not answer within its deadline" (the next one took 559 ms, then 12 ms); a VADProcessor
  // reports that as an analysis failure and the audio goes unanalysed. The repro below makes it
  // independent of machine speed: it times a fresh worker's start + load (L), then uses a worker whose
  // run deadline is L/3 (its load deadline is then 5 L): loading works, a warm run takes a few ms,
  // and the first run after terminate() fails its deadline because it carries the model load.
  // Root cause: src/audio/vad/silero-worker.ts `run()` never checks `#loaded` (cleared by `onLost`)
  // and the worker's `open()` loads lazily; and silero-vad-analyzer.ts `voiceConfidence()` only calls
  // `ready()` while `#workerModel` is undefined, which a worker restart never resets.
  it("fixed: a SileroWorker that was stopped answers the next request (the model is loaded again under the load deadline, not a window's)", async () => {
    const path = defaultSileroModelPath();
    const probe = new SileroWorker(10_000);
    const t0 = performance.now();
    await probe.load(path);
    const loadMs = performance.now() - t0;
    await probe.terminate();
    const w = new SileroWorker(Math.max(20, loadMs / 3));
    try {
      await w.load(path);
      const input = new Float32Array(64 + 512);
      const state = new Float32Array(256);
      await w.run(path, input, state, 16_000); // works while loaded
      await w.terminate();
      const out = await w.run(path, input, state, 16_000);
      expect(out.prob).toBeGreaterThanOrEqual(0);
    } finally {
      await w.terminate();
    }
  });

  it("held: changing the sample rate between calls resets the stream; mid-stream the next windows are at the new size", async () => {
    const a = new SileroVADAnalyzer({ sampleRate: 16_000, inference: "this-thread" });
    await a.analyze(speech.subarray(0, 16_000 + 100));
    expect(a.bufferedSamples).toBe((16_000 + 100) % 512);
    a.setSampleRate(8000);
    expect(a.bufferedSamples).toBe(0);
    expect(a.streamMs).toBe(0);
    expect(a.state).toBe(VADState.QUIET);
    const r = await a.analyze(new Int16Array(8000));
    expect(r.windows).toBe(Math.floor(8000 / 256));
    expect(a.windowSize).toBe(256);
    a.setSampleRate(8000); // same rate: no reset
    expect(a.streamMs).toBe((31 * 256 * 1000) / 8000);
  });
});

// ---------------------------------------------------------------------------------------------
describe("VADAnalyzer base (public abstract class) with a scripted model", () => {
  /** 10 ms windows at 16 kHz; the model says what the script says, window by window. */
  class Scripted extends VADAnalyzer {
    readonly sampleRates = [16_000];
    calls = 0;
    constructor(
      readonly script: readonly number[],
      params: Partial<VADParams>,
    ) {
      super({ sampleRate: 16_000, params: { minVolume: 0, ...params }, skipQuietWindows: false });
    }
    protected windowSamples(): number {
      return 160;
    }
    protected voiceConfidence(): Promise<number> {
      return Promise.resolve(this.script[this.calls++] ?? 0);
    }
  }

  it("held: for any params and any chunking, starts and stops come exactly after round(startMs/10) speech / round(stopMs/10) silent windows in a row (min 1), alternate, and speechMs ≤ atMs", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(0, 1, 0.69, 0.7, NaN, 2, -1), { minLength: 1, maxLength: 300 }),
        fc.record({
          confidence: fc.double({ min: 0, max: 1, noNaN: true }),
          startMs: fc.oneof(fc.constantFrom(0, 4, 5, 6, 15, 1e9), fc.integer({ min: 0, max: 300 })),
          stopMs: fc.oneof(fc.constantFrom(0, 4, 5, 6, 15, 1e9), fc.integer({ min: 0, max: 300 })),
        }),
        fc.array(fc.integer({ min: 0, max: 2000 }), { minLength: 1, maxLength: 5 }),
        async (script, params, sizes) => {
          fc.pre(sizes.some((x) => x > 0));
          const a = new Scripted(script, params);
          const audio = new Int16Array(script.length * 160).fill(3000);
          const got: Array<{ type: string; atMs: number; speechMs: number }> = [];
          for (const c of cut(audio, sizes)) got.push(...(await a.analyze(c)).transitions);
          // reference: run lengths
          const S = Math.max(1, Math.round(params.startMs / 10));
          const T = Math.max(1, Math.round(params.stopMs / 10));
          const want: Array<{ type: string; atMs: number }> = [];
          let speaking = false;
          let run = 0;
          script.forEach((conf, i) => {
            const speech = conf >= params.confidence;
            if (speech !== speaking) run++;
            else run = 0;
            if (!speaking && run >= S) {
              speaking = true;
              run = 0;
              want.push({ type: "started", atMs: (i + 1) * 10 });
            } else if (speaking && run >= T) {
              speaking = false;
              run = 0;
              want.push({ type: "stopped", atMs: (i + 1) * 10 });
            }
          });
          expect(got.map(({ type, atMs }) => ({ type, atMs }))).toEqual(want);
          for (const t of got) expect(t.speechMs).toBeLessThanOrEqual(t.atMs);
          expect(a.windowsAnalyzed).toBe(script.length);
        },
      ),
      { numRuns: Math.max(RUNS, 100) },
    );
  });

  it("held: out-of-range params are refused by setParams with InvalidOptionError and change nothing", () => {
    const a = new Scripted([], {});
    const before = { ...a.params };
    for (const bad of [
      { confidence: NaN },
      { confidence: 1.01 },
      { minVolume: -0.1 },
      { startMs: -1 },
      { stopMs: Infinity },
      { startMs: NaN },
    ]) {
      expect(() => a.setParams(bad)).toThrow(InvalidOptionError);
      expect({ ...a.params }).toEqual(before);
    }
    expect(() => new VADProcessor({ analyzer: a, speakingIntervalMs: NaN })).toThrow(InvalidOptionError);
    expect(() => new VADProcessor({ analyzer: a, audioIdleTimeoutMs: -5 })).toThrow(InvalidOptionError);
  });
});

// ---------------------------------------------------------------------------------------------
describe("VADProcessor", () => {
  it("held: audio at an unsupported rate and a rate change mid-stream are forwarded unanalysed and reported once per rate, on a virtual clock", async () => {
    const clock = new VirtualClock();
    const analyzer = new SileroVADAnalyzer({ inference: "this-thread" });
    const frames: Frame[] = [];
    for (let i = 0; i < 150; i++) frames.push(new InputAudioRawFrame(new Int16Array(441), 44_100));
    for (let i = 0; i < 50; i++) frames.push(new InputAudioRawFrame(new Int16Array(441), 22_050));
    const { down, up } = await runTest(new VADProcessor({ analyzer }), { framesToSend: frames, clock });
    expect(down.filter((f) => f instanceof InputAudioRawFrame)).toHaveLength(200);
    const errors = up.filter((f) => f instanceof ErrorFrame) as ErrorFrame[];
    expect(errors).toHaveLength(2);
    expect(errors.every((e) => !e.options.fatal)).toBe(true);

    const clock2 = new VirtualClock();
    const analyzer2 = new SileroVADAnalyzer({ inference: "this-thread" });
    const frames2: Frame[] = [];
    for (let i = 0; i < 20; i++) frames2.push(new InputAudioRawFrame(new Int16Array(160), 16_000));
    for (let i = 0; i < 20; i++) frames2.push(new InputAudioRawFrame(new Int16Array(80), 8000));
    const r2 = await runTest(new VADProcessor({ analyzer: analyzer2 }), {
      framesToSend: frames2,
      clock: clock2,
    });
    expect(r2.down.filter((f) => f instanceof InputAudioRawFrame)).toHaveLength(40);
    expect(r2.up.filter((f) => f instanceof ErrorFrame)).toHaveLength(1);
    expect(analyzer2.sampleRate).toBe(16_000);
  });

  it("held: odd frame sizes (0, 1, 7 samples, stereo) are forwarded in order and analysed as one stream", async () => {
    const clock = new VirtualClock();
    const analyzer = new SileroVADAnalyzer({ inference: "this-thread" });
    const frames: Frame[] = [];
    const sizes = [0, 1, 7, 511, 1, 513, 0, 1024];
    let mono = 0;
    for (let i = 0; i < 40; i++) {
      const n = sizes[i % sizes.length]!;
      const stereo = i % 5 === 0;
      frames.push(new InputAudioRawFrame(noise(stereo ? 2 * n : n, i + 1, 2000), 16_000, stereo ? 2 : 1));
      mono += n;
    }
    const { down, up } = await runTest(new VADProcessor({ analyzer }), { framesToSend: frames, clock });
    const audio = down.filter((f) => f instanceof InputAudioRawFrame);
    expect(audio).toEqual(frames);
    expect(up.filter((f) => f instanceof ErrorFrame)).toHaveLength(0);
    expect(analyzer.windowsAnalyzed).toBe(Math.floor(mono / 512));
  });
});

// ---------------------------------------------------------------------------------------------
describe("RNNoiseFilter", () => {
  it("held: bad rates are refused with a clear error, filter() outside start/stop throws AudioFilterNotStartedError, stop is idempotent", async () => {
    const f = new RNNoiseFilter();
    for (const rate of [0, -1, NaN, Infinity, 1.5, "48000"]) {
      await expect(f.start(rate as number)).rejects.toBeInstanceOf(InvalidOptionError);
    }
    for (const rate of [1, 999, MAX_SAMPLE_RATE + 1]) {
      await expect(f.start(rate)).rejects.toBeInstanceOf(InvalidSampleRateError);
    }
    expect(() => f.filter(new Int16Array(480))).toThrow(AudioFilterNotStartedError);
    await f.start(48_000);
    expect(f.filter(new Int16Array(480)).length).toBe(480);
    await f.stop();
    await f.stop();
    expect(() => f.filter(new Int16Array(480))).toThrow(AudioFilterNotStartedError);
    expect(f.sampleRate).toBeUndefined();
  });

  it("held: chunking does not change the denoised stream at any rate (1-sample and empty chunks included)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(8000, 16_000, 44_100, 48_000, 11_025),
        fc.array(fc.integer({ min: 0, max: 1500 }), { minLength: 1, maxLength: 5 }),
        async (rate, sizes) => {
          fc.pre(sizes.some((s) => s > 0));
          const audio = concat([sine(rate / 2, rate, 300, 8000), noise(rate / 2, 4, 3000)]);
          const a = new RNNoiseFilter();
          const b = new RNNoiseFilter();
          await a.start(rate);
          await b.start(rate);
          const whole = a.filter(audio).slice();
          const parts = cut(audio, sizes).map((c) => b.filter(c).slice());
          expect(concat(parts)).toEqual(whole);
          await a.stop();
          await b.stop();
        },
      ),
      { numRuns: Math.min(RUNS, 15) },
    );
    const f = new RNNoiseFilter();
    await f.start(48_000);
    let out = 0;
    for (let i = 0; i < 4800; i++) out += f.filter(new Int16Array([i])).length;
    expect(out).toBe(4800); // 10 whole frames of 480
    await f.stop();
  });

  it("held: toggling enabled mid-stream, and extreme audio (full-scale square, DC), stay in PCM16 and keep the output bounded by the input", async () => {
    const f = new RNNoiseFilter();
    await f.start(16_000);
    let inTotal = 0;
    let outTotal = 0;
    for (let i = 0; i < 200; i++) {
      if (i % 7 === 0) f.enabled = !f.enabled;
      const chunk =
        i % 3 === 0
          ? new Int16Array(333).map((_, k) => (k % 10 < 5 ? 32_767 : -32_768))
          : new Int16Array(160).fill(i % 2 ? 32_767 : -32_768);
      const out = f.filter(chunk);
      inTotal += chunk.length;
      outTotal += out.length;
      expect(f.vadProbability).toBeGreaterThanOrEqual(0);
      expect(f.vadProbability).toBeLessThanOrEqual(1);
    }
    expect(outTotal).toBeLessThanOrEqual(inTotal);
    expect(outTotal).toBeGreaterThan(inTotal * 0.8);
    await f.stop();
  });

  // Was a HOLE (fixed 2026-12-01). `stop()`: "Frees the denoiser state, buffers and resamplers ... Idempotent", and `filter()`
  // "Throws AudioFilterNotStartedError ... after stop()". What happens instead: a `stop()` called
  // while `start()` is loading returns at once (nothing running yet), then `start()` finishes and
  // installs its state: after both settled, measured `filter(480 samples)` returned 480 denoised
  // samples and `sampleRate` was 48000; the wasm state stays allocated until the next stop().
  // Root cause: src/audio/filters/rnnoise-filter.ts `start()` (lines ~90-135) awaits the module and
  // the resamplers after `await this.stop()` and then assigns `this.#running` unconditionally: no
  // generation check against a stop (or another start) made during the await.
  it("fixed: stop() during start() leaves the filter stopped (filter() then throws AudioFilterNotStartedError)", async () => {
    const f = new RNNoiseFilter();
    const starting = f.start(48_000);
    await f.stop();
    await starting;
    expect(f.sampleRate).toBeUndefined();
    expect(() => f.filter(new Int16Array(480))).toThrow(AudioFilterNotStartedError);
  });

  it("held: sequential start()/start()/stop() (a restart) frees every denoiser: RSS flat over 4,000 cycles (the control of the next probe)", async () => {
    const afterGc = await afterGcMemory();
    const rss = (): number => afterGc().rss;
    const before = rss();
    for (let i = 0; i < 4000; i++) {
      const f = new RNNoiseFilter();
      await f.start(48_000);
      await f.start(48_000);
      await f.stop();
    }
    const grown = rss() - before;
    expect(grown).toBeLessThan(24 * 1024 * 1024);
  });

  // Was a HOLE (fixed 2026-12-01; same root cause). "Starting a started filter restarts it with fresh state", memory bounded.
  // What happens instead: two overlapping start() calls both allocate a denoiser; the second
  // overwrites the first, and stop() frees only the second. The first is never freed, not even by
  // the FinalizationRegistry: both were registered with the filter as unregister token, and stop()'s
  // `disownWasm(this)` unregisters both (src/audio/wasm-allocation.ts `watchWasm`/`disownWasm`).
  // Measured: rounds of 1,000 racing start pairs + stop grew RSS by 75, 37, 37, 36 MB (about 37 KB a
  // race, steady); in this probe (after a forced GC) 4,000 races grew it by 145 MB in two runs out of
  // two, while the control above (4,000 sequential start/start/stop) shrank it (-46 and -33 MB).
  // (RSS is the only public view of the module's memory; freed wasm memory can absorb a first batch.)
  it("fixed: overlapping start() calls followed by stop() free every denoiser (RSS stays flat over 4,000 races)", async () => {
    const afterGc = await afterGcMemory();
    const rss = (): number => afterGc().rss;
    const warm = new RNNoiseFilter();
    for (let i = 0; i < 50; i++) {
      await Promise.all([warm.start(48_000), warm.start(48_000)]);
      await warm.stop();
    }
    const before = rss();
    for (let i = 0; i < 4000; i++) {
      const f = new RNNoiseFilter();
      await Promise.all([f.start(48_000), f.start(48_000)]);
      await f.stop();
    }
    const grown = rss() - before;
    expect(grown).toBeLessThan(24 * 1024 * 1024);
  });
});

// ---------------------------------------------------------------------------------------------
describe("AudioBufferProcessor (recording)", () => {
  async function startTask(recorder: AudioBufferProcessor) {
    const { clock, task, done, recorder: down, whenStarted } = startRecordedTask([recorder]);
    await whenStarted();
    return {
      clock,
      task,
      down,
      end: async () => {
        await clock.runUntil(task.stopWhenDone());
        await clock.runUntil(done);
      },
      cancel: async () => {
        await clock.runUntil(task.cancel("test"));
        await clock.runUntil(done);
      },
    };
  }

  function listen(p: AudioBufferProcessor) {
    const data: Array<{ audio: Int16Array; rate: number; ch: number }> = [];
    p.on("audioData", (audio, rate, ch) => void data.push({ audio, rate, ch }));
    return { data, samples: () => data.reduce((n, d) => n + d.audio.length / d.ch, 0) };
  }

  it("held: bad settings are refused with InvalidOptionError", () => {
    for (const o of [
      { sampleRate: NaN },
      { sampleRate: 999 },
      { sampleRate: 16_000.5 },
      { sampleRate: MAX_SAMPLE_RATE + 1 },
      { numChannels: 3 },
      { numChannels: 0 },
      { bufferSizeBytes: -1 },
      { bufferSizeBytes: NaN },
      { bufferSizeBytes: 1 },
      { maxBufferMs: 0 },
      { maxBufferMs: NaN },
      { maxBufferMs: Infinity },
      { turnPrerollMs: -1 },
      { jitterToleranceMs: NaN },
    ]) {
      expect(() => new AudioBufferProcessor(o as never), JSON.stringify(o)).toThrow(InvalidOptionError);
    }
  });

  it("held: an hour of audio in virtual time (odd rates, stereo, 1-sample frames) keeps the heap flat and the recording as long as the clock", async () => {
    const afterGc = await afterGcMemory();
    const heap = (): number => afterGc().heapUsed;
    const recorder = new AudioBufferProcessor({ sampleRate: 8000, numChannels: 2, maxBufferMs: 60_000 });
    let emitted = 0;
    let maxPiece = 0;
    recorder.on("audioData", (audio, _rate, ch) => {
      emitted += audio.length / ch;
      maxPiece = Math.max(maxPiece, audio.length / ch);
    });
    const s = await startTask(recorder);
    const stepMs = 100;
    let atTen = 0;
    for (let t = 0; t < 3_600_000; t += stepMs) {
      // user at 11,025 Hz stereo (1,102.5 samples per 100 ms: alternate 1102/1103), bot at 44.1 kHz
      // in a burst every second, and a 1-sample frame now and then
      const n = (t / stepMs) % 2 ? 1103 : 1102;
      s.task.queueFrame(new InputAudioRawFrame(new Int16Array(2 * n).fill(1000), 11_025, 2));
      if (t % 1000 === 0)
        s.task.queueFrame(new OutputAudioRawFrame(new Int16Array(4410).fill(-1000), 44_100));
      if (t % 7000 === 0) s.task.queueFrame(new InputAudioRawFrame(new Int16Array(1), 16_000));
      await s.clock.advance(stepMs);
      if (t === 600_000) atTen = heap();
    }
    const atSixty = heap();
    await s.end();
    expect(maxPiece).toBeLessThanOrEqual(60_000 * 8);
    // recording covers the session: 3,600 s at 8 kHz, within a frame or two
    expect(Math.abs(emitted - 3_600 * 8000)).toBeLessThan(8000);
    expect(atSixty - atTen).toBeLessThan(16 * 1024 * 1024);
  }, 120_000);

  it("held: a user turn that never stops and a bot that never stops speaking hold at most maxBufferMs each (10 virtual minutes, cap 30 s)", async () => {
    const recorder = new AudioBufferProcessor({
      sampleRate: 16_000,
      maxBufferMs: 30_000,
      enableTurnAudio: true,
    });
    const turns: number[] = [];
    recorder.on("userTurnAudio", (audio) => void turns.push(audio.length));
    recorder.on("botTurnAudio", (audio) => void turns.push(audio.length));
    let maxBuffered = 0;
    const s = await startTask(recorder);
    s.task.queueFrame(new UserStartedSpeakingFrame());
    s.task.queueFrame(new BotStartedSpeakingFrame());
    for (let t = 0; t < 600_000; t += 100) {
      s.task.queueFrame(new InputAudioRawFrame(new Int16Array(1600).fill(500), 16_000));
      s.task.queueFrame(new OutputAudioRawFrame(new Int16Array(2400).fill(-500), 24_000));
      await s.clock.advance(100);
      maxBuffered = Math.max(maxBuffered, recorder.bufferedMs);
    }
    await s.end();
    expect(maxBuffered).toBeLessThanOrEqual(2 * 30_000);
    expect(turns.length).toBeGreaterThanOrEqual(2);
    for (const n of turns) expect(n).toBeLessThanOrEqual(30_000 * 16);
  }, 60_000);

  it("held: cancel or end at any point (before audio, mid-frame-burst, after stopRecording) settles with a recording no longer than the clock", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 60 }),
        fc.boolean(),
        fc.constantFrom(0, 2, 3200, 48_000),
        fc.option(fc.integer({ min: 0, max: 60 })),
        async (cutAfter, cancel, bufferSizeBytes, stopAt) => {
          const recorder = new AudioBufferProcessor({ sampleRate: 16_000, bufferSizeBytes, numChannels: 1 });
          const ev = listen(recorder);
          const s = await startTask(recorder);
          const t0 = s.clock.now();
          for (let i = 0; i < cutAfter; i++) {
            s.task.queueFrame(new InputAudioRawFrame(noise(480, i + 1, 4000), 24_000));
            if (i % 3 === 0)
              s.task.queueFrame(new OutputAudioRawFrame(noise(2 * 960, i + 2, 4000), 48_000, 2));
            if (stopAt === i) await recorder.stopRecording();
            await s.clock.advance(20);
          }
          const elapsed = s.clock.now() - t0;
          await (cancel ? s.cancel() : s.end());
          expect(recorder.recording).toBe(false);
          for (const d of ev.data) expect(d.audio.length % d.ch).toBe(0);
          // faster-than-real-time audio is kept, but here audio is real time: at most the clock, plus a frame
          expect(ev.samples()).toBeLessThanOrEqual(((elapsed + 40) * 16_000) / 1000);
          if (stopAt === null || stopAt === undefined) {
            if (cutAfter > 0) expect(ev.samples()).toBeGreaterThanOrEqual(((elapsed - 40) * 16_000) / 1000);
          }
          if (bufferSizeBytes > 0)
            for (const d of ev.data.slice(0, -1))
              expect(d.audio.length * 2).toBe(bufferSizeBytes - (bufferSizeBytes % 2));
        },
      ),
      { numRuns: Math.min(RUNS, 25) },
    );
  }, 120_000);
});
