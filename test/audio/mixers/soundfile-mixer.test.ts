import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadSpeexModule } from "../../../src/audio/speex-wasm.js";
import { writeWavFile } from "../../../src/audio/wav.js";
import { rms } from "../../../src/audio/pcm.js";
import {
  InvalidOptionError,
  MemoryTransport,
  MixerEnableFrame,
  MixerSoundError,
  MixerUpdateSettingsFrame,
  Pipeline,
  PipelineTask,
  SoundfileMixer,
  VirtualClock,
  silentLogger,
} from "../../../src/index.js";
import { interleave } from "../../../src/audio/pcm.js";
import { sine, sineFitSnrDb } from "../signals.js";

const OUT_RATE = 24_000;

let dir: string;
/** Paths of the generated sound files. */
const files = {
  /** 1 s of a 500 Hz sine at 16 kHz, mono. */
  sine16k: "",
  /** 0.5 s of a 300 Hz sine at 44.1 kHz, stereo: right channel at half the left's amplitude. */
  stereo44k: "",
  /** 100 ms of a ramp at the output rate (so no resampling): every sample is distinct. */
  ramp24k: "",
  /** 50 ms of a constant at the output rate. */
  const24k: "",
  /** 1 s of a loud 1 kHz sine at the output rate (full scale). */
  loud24k: "",
  /** A RIFF header with no samples. */
  empty: "",
  /** Not a WAV file at all. */
  garbage: "",
};
let ramp: Int16Array;

beforeAll(async () => {
  await loadSpeexModule();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "voicepipe-soundfile-mixer-"));
  const at = (name: string) => path.join(dir, name);
  files.sine16k = at("sine-16k.wav");
  await writeWavFile(files.sine16k, { audio: sine(500, 16_000, 1, 10_000), sampleRate: 16_000 });
  files.stereo44k = at("stereo-44k.wav");
  const left = sine(300, 44_100, 0.5, 12_000);
  const right = sine(300, 44_100, 0.5, 6_000);
  await writeWavFile(files.stereo44k, {
    audio: interleave([left, right]),
    sampleRate: 44_100,
    numChannels: 2,
  });
  files.ramp24k = at("ramp-24k.wav");
  ramp = Int16Array.from({ length: OUT_RATE / 10 }, (_, i) => i * 10 - 12_000);
  await writeWavFile(files.ramp24k, { audio: ramp, sampleRate: OUT_RATE });
  files.const24k = at("const-24k.wav");
  await writeWavFile(files.const24k, {
    audio: new Int16Array(OUT_RATE / 20).fill(5_000),
    sampleRate: OUT_RATE,
  });
  files.loud24k = at("loud-24k.wav");
  await writeWavFile(files.loud24k, { audio: sine(1_000, OUT_RATE, 1, 32_767), sampleRate: OUT_RATE });
  files.empty = at("empty.wav");
  await writeWavFile(files.empty, { audio: new Int16Array(0), sampleRate: OUT_RATE });
  files.garbage = at("garbage.wav");
  fs.writeFileSync(files.garbage, Buffer.from("this is not a RIFF file, just some bytes ".repeat(20)));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Mixes `total` samples of silence through `mixer`, in chunks of `chunk` samples, and joins the results. */
function mixSilence(mixer: SoundfileMixer, total: number, chunk = 960): Int16Array {
  const out = new Int16Array(total);
  for (let offset = 0; offset < total; offset += chunk) {
    const n = Math.min(chunk, total - offset);
    out.set(mixer.mix(new Int16Array(n)), offset);
  }
  return out;
}

/** Index just past the last non-zero sample. */
function endOfSound(audio: Int16Array): number {
  let end = audio.length;
  while (end > 0 && audio[end - 1] === 0) end--;
  return end;
}

describe("SoundfileMixer: loading and resampling", () => {
  it("resamples a 16 kHz file to the output rate so a sine keeps its frequency and duration", async () => {
    const mixer = new SoundfileMixer({ soundFiles: { tone: files.sine16k }, volume: 1, loop: false });
    await mixer.start(OUT_RATE, 1);
    expect(mixer.active).toBe(true);
    const out = mixSilence(mixer, 2 * OUT_RATE);
    // One second of sound at the output rate, then nothing.
    expect(endOfSound(out)).toBeGreaterThan(OUT_RATE - 24);
    expect(endOfSound(out)).toBeLessThanOrEqual(OUT_RATE);
    const body = out.subarray(200, OUT_RATE - 200);
    // Played at the right rate it is 500 Hz; played raw at 24 kHz it would be 750 Hz.
    expect(sineFitSnrDb(body, 500, OUT_RATE)).toBeGreaterThan(40);
    expect(sineFitSnrDb(body, 750, OUT_RATE)).toBeLessThan(0);
    expect(rms(body)).toBeGreaterThan(10_000 / Math.SQRT2 - 200);
    expect(rms(body)).toBeLessThan(10_000 / Math.SQRT2 + 200);
    expect(mixer.active).toBe(false);
  });

  it("mixes a stereo 44.1 kHz file down to mono and resamples it to the output rate", async () => {
    const mixer = new SoundfileMixer({ soundFiles: { music: files.stereo44k }, volume: 1, loop: false });
    await mixer.start(OUT_RATE, 1);
    const out = mixSilence(mixer, OUT_RATE);
    const expectedLength = Math.round((0.5 * 44_100 * OUT_RATE) / 44_100);
    expect(endOfSound(out)).toBeGreaterThan(expectedLength - 24);
    expect(endOfSound(out)).toBeLessThanOrEqual(expectedLength);
    const body = out.subarray(200, expectedLength - 200);
    expect(sineFitSnrDb(body, 300, OUT_RATE)).toBeGreaterThan(40);
    // The average of the two channels: (12000 + 6000) / 2 = 9000 peak.
    expect(rms(body) * Math.SQRT2).toBeGreaterThan(9_000 - 150);
    expect(rms(body) * Math.SQRT2).toBeLessThan(9_000 + 150);
  });

  it("plays the same sound on every channel of a stereo output", async () => {
    const mixer = new SoundfileMixer({ soundFiles: { ramp: files.ramp24k }, volume: 1 });
    await mixer.start(OUT_RATE, 2);
    const out = mixer.mix(new Int16Array(200)); // 100 stereo frames
    for (let i = 0; i < 100; i++) {
      expect(out[2 * i]).toBe(ramp[i]);
      expect(out[2 * i + 1]).toBe(ramp[i]);
    }
  });
});

describe("SoundfileMixer: mixing", () => {
  it("scales the sound by the volume, and a MixerUpdateSettingsFrame changes it at run time", async () => {
    const loud = new SoundfileMixer({ soundFiles: { tone: files.loud24k }, volume: 0.5 });
    const quiet = new SoundfileMixer({ soundFiles: { tone: files.loud24k }, volume: 0.25 });
    await loud.start(OUT_RATE, 1);
    await quiet.start(OUT_RATE, 1);
    expect(loud.volume).toBe(0.5);
    const a = rms(loud.mix(new Int16Array(4_800)));
    const b = rms(quiet.mix(new Int16Array(4_800)));
    expect(a / b).toBeCloseTo(2, 2);
    expect(a).toBeCloseTo((0.5 * 32_767) / Math.SQRT2, -2);

    loud.processFrame(new MixerUpdateSettingsFrame({ volume: 0.1 }));
    expect(loud.volume).toBe(0.1);
    const c = rms(loud.mix(new Int16Array(4_800)));
    expect(c / b).toBeCloseTo(0.4, 2);
  });

  it("adds the sound to the audio rather than replacing it", async () => {
    const mixer = new SoundfileMixer({ soundFiles: { ramp: files.ramp24k }, volume: 1 });
    await mixer.start(OUT_RATE, 1);
    const speech = Int16Array.from({ length: 480 }, (_, i) => (i % 7) * 100);
    const out = mixer.mix(speech);
    for (let i = 0; i < speech.length; i++) expect(out[i]).toBe(speech[i]! + ramp[i]!);
    expect(speech[0]).toBe(0); // the input is never modified
  });

  it("loops the sound at its end, continuing across chunk boundaries", async () => {
    const mixer = new SoundfileMixer({ soundFiles: { ramp: files.ramp24k }, volume: 1 });
    await mixer.start(OUT_RATE, 1);
    const L = ramp.length;
    const out = mixSilence(mixer, Math.round(2.5 * L), 700); // chunks that do not divide the sound
    for (let i = 0; i < out.length; i++) {
      if (out[i] !== ramp[i % L]) throw new Error(`sample ${i}: got ${out[i]}, expected ${ramp[i % L]}`);
    }
    expect(mixer.active).toBe(true);
  });

  it("with loop: false, plays the sound once, passes the rest through, then becomes inactive", async () => {
    const mixer = new SoundfileMixer({ soundFiles: { ramp: files.ramp24k }, volume: 1, loop: false });
    await mixer.start(OUT_RATE, 1);
    const L = ramp.length;
    const first = mixSilence(mixer, L - 100);
    expect(mixer.active).toBe(true);
    // The chunk that crosses the end: the sound's last 100 samples, then the input untouched.
    const input = new Int16Array(300).fill(7);
    const crossing = mixer.mix(input);
    expect(Array.from(crossing.subarray(0, 100))).toEqual(Array.from(ramp.subarray(L - 100), (v) => v + 7));
    expect(Array.from(crossing.subarray(100))).toEqual(new Array(200).fill(7));
    expect(mixer.active).toBe(false);
    expect(mixer.sound).toBeUndefined();
    const after = new Int16Array(100).fill(-3);
    expect(Array.from(mixer.mix(after))).toEqual(Array.from(after));
    expect(first[0]).toBe(ramp[0]);
  });

  it("turning looping off at run time stops the sound at its end", async () => {
    const mixer = new SoundfileMixer({ soundFiles: { ramp: files.ramp24k }, volume: 1 });
    await mixer.start(OUT_RATE, 1);
    mixSilence(mixer, ramp.length + 10); // wrapped once already
    mixer.processFrame(new MixerUpdateSettingsFrame({ loop: false }));
    const out = mixSilence(mixer, ramp.length);
    expect(endOfSound(out)).toBe(ramp.length - 10);
    expect(mixer.active).toBe(false);
  });

  it("switching the sound with MixerUpdateSettingsFrame restarts at the new sound's beginning", async () => {
    const mixer = new SoundfileMixer({
      soundFiles: { flat: files.const24k, ramp: files.ramp24k },
      defaultSound: "flat",
      volume: 1,
    });
    await mixer.start(OUT_RATE, 1);
    expect(mixer.sound).toBe("flat");
    expect(Array.from(mixer.mix(new Int16Array(10)))).toEqual(new Array(10).fill(5_000));
    mixer.processFrame(new MixerUpdateSettingsFrame({ sound: "ramp" }));
    expect(mixer.sound).toBe("ramp");
    expect(Array.from(mixer.mix(new Int16Array(50)))).toEqual(Array.from(ramp.subarray(0, 50)));
    // And back: the first sound starts over too.
    mixer.processFrame(new MixerUpdateSettingsFrame({ sound: "flat" }));
    const back = mixSilence(mixer, OUT_RATE / 20 + 10);
    expect(endOfSound(back)).toBe(back.length); // looped, so no gap
    expect(back[OUT_RATE / 20 - 1]).toBe(5_000);
  });

  it("a new sound after a non-looping one ended makes the mixer active again", async () => {
    const mixer = new SoundfileMixer({
      soundFiles: { flat: files.const24k, ramp: files.ramp24k },
      volume: 1,
      loop: false,
    });
    await mixer.start(OUT_RATE, 1);
    mixSilence(mixer, OUT_RATE / 10);
    expect(mixer.active).toBe(false);
    mixer.processFrame(new MixerUpdateSettingsFrame({ sound: "ramp" }));
    expect(mixer.active).toBe(true);
    expect(mixer.mix(new Int16Array(3))[2]).toBe(ramp[2]);
  });

  it("MixerEnableFrame(false) passes audio through untouched, and (true) resumes where it was", async () => {
    const mixer = new SoundfileMixer({ soundFiles: { ramp: files.ramp24k }, volume: 1 });
    await mixer.start(OUT_RATE, 1);
    mixer.mix(new Int16Array(100));
    mixer.processFrame(new MixerEnableFrame(false));
    expect(mixer.active).toBe(false);
    const speech = Int16Array.from({ length: 480 }, (_, i) => i - 240);
    expect(Array.from(mixer.mix(speech))).toEqual(Array.from(speech));
    mixer.processFrame(new MixerEnableFrame(true));
    expect(mixer.active).toBe(true);
    expect(mixer.mix(new Int16Array(1))[0]).toBe(ramp[100]);
  });

  it("starts passing audio through when created with mixing: false", async () => {
    const mixer = new SoundfileMixer({ soundFiles: { ramp: files.ramp24k }, volume: 1, mixing: false });
    await mixer.start(OUT_RATE, 1);
    expect(mixer.active).toBe(false);
    const speech = new Int16Array(100).fill(42);
    expect(Array.from(mixer.mix(speech))).toEqual(Array.from(speech));
  });

  it("clips at full scale instead of wrapping around", async () => {
    const mixer = new SoundfileMixer({ soundFiles: { tone: files.loud24k }, volume: 1 });
    await mixer.start(OUT_RATE, 1);
    // A full-scale square wave under a full-scale sine: every sum is past the range on one side.
    const n = OUT_RATE / 10;
    const square = Int16Array.from({ length: n }, (_, i) =>
      Math.floor(i / 12) % 2 === 0 ? 32_767 : -32_768,
    );
    const sound = sine(1_000, OUT_RATE, 0.1, 32_767);
    const out = mixer.mix(square);
    for (let i = 0; i < n; i++) {
      const exact = square[i]! + sound[i]!;
      const expected = Math.max(-32_768, Math.min(32_767, exact));
      if (Math.abs(out[i]! - expected) > 1) {
        throw new Error(`sample ${i}: ${square[i]} + ${sound[i]} gave ${out[i]}, expected ${expected}`);
      }
    }
    expect(Math.max(...out)).toBe(32_767);
    expect(Math.min(...out)).toBe(-32_768);
  });
});

describe("SoundfileMixer: errors", () => {
  it("fails at construction when a sound file is missing, naming the sound and the path", () => {
    const missing = path.join(dir, "no-such-file.wav");
    let error: unknown;
    try {
      new SoundfileMixer({ soundFiles: { ok: files.ramp24k, hold: missing } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MixerSoundError);
    expect((error as MixerSoundError).code).toBe("VP_MIXER_SOUND");
    expect((error as Error).message).toContain(missing);
    expect((error as Error).message).toContain('"hold"');
  });

  it("fails at start() when a file is not a WAV, naming the sound and the path", async () => {
    const mixer = new SoundfileMixer({ soundFiles: { ok: files.ramp24k, noise: files.garbage } });
    const error = await mixer.start(OUT_RATE, 1).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MixerSoundError);
    expect((error as Error).message).toContain(files.garbage);
    expect((error as Error).message).toContain('"noise"');
  });

  it("fails at start() on a file with no samples, naming the sound", async () => {
    const mixer = new SoundfileMixer({ soundFiles: { hush: files.empty } });
    await expect(mixer.start(OUT_RATE, 1)).rejects.toThrow(/"hush".*empty/);
  });

  it("rejects an empty soundFiles map and an unknown defaultSound", () => {
    expect(() => new SoundfileMixer({ soundFiles: {} })).toThrow(InvalidOptionError);
    expect(() => new SoundfileMixer({ soundFiles: { ramp: files.ramp24k }, defaultSound: "jazz" })).toThrow(
      /defaultSound "jazz".*ramp/,
    );
  });

  it("rejects switching to an unknown sound, listing the known ones, and keeps playing the current one", async () => {
    const mixer = new SoundfileMixer({
      soundFiles: { ramp: files.ramp24k, flat: files.const24k },
      volume: 1,
    });
    await mixer.start(OUT_RATE, 1);
    mixer.mix(new Int16Array(10));
    expect(() => mixer.processFrame(new MixerUpdateSettingsFrame({ sound: "jazz" }))).toThrow(
      /no sound "jazz".*ramp, flat/,
    );
    expect(mixer.sound).toBe("ramp");
    expect(mixer.mix(new Int16Array(1))[0]).toBe(ramp[10]);
  });

  it("a settings frame rejected for an unknown sound changes nothing", async () => {
    const mixer = new SoundfileMixer({ soundFiles: { ramp: files.ramp24k }, volume: 0.2 });
    await mixer.start(OUT_RATE, 1);
    expect(() => mixer.processFrame(new MixerUpdateSettingsFrame({ sound: "jazz", volume: 0.9 }))).toThrow(
      /no sound "jazz"/,
    );
    expect(mixer.volume).toBe(0.2);
  });

  it.each([1.5, -0.1, Number.NaN])("rejects a volume of %s with a message giving the range", (volume) => {
    expect(() => new SoundfileMixer({ soundFiles: { ramp: files.ramp24k }, volume })).toThrow(
      /volume must be between 0 and 1/,
    );
  });

  it("rejects an out-of-range volume at run time and keeps the old one", async () => {
    const mixer = new SoundfileMixer({ soundFiles: { ramp: files.ramp24k }, volume: 0.3 });
    await mixer.start(OUT_RATE, 1);
    expect(() => mixer.processFrame(new MixerUpdateSettingsFrame({ volume: 2 }))).toThrow(
      /volume must be between 0 and 1 \(got 2\)/,
    );
    expect(mixer.volume).toBe(0.3);
  });
});

describe("SoundfileMixer: stop", () => {
  it("stop() releases the sounds: inactive, and mix returns its input", async () => {
    const mixer = new SoundfileMixer({ soundFiles: { ramp: files.ramp24k }, volume: 1 });
    await mixer.start(OUT_RATE, 1);
    expect(mixer.active).toBe(true);
    mixer.stop();
    expect(mixer.active).toBe(false);
    expect(mixer.sound).toBeUndefined();
    const input = new Int16Array(100).fill(9);
    expect(mixer.mix(input)).toBe(input);
    // Switching sound after stop does not bring a released buffer back.
    mixer.processFrame(new MixerUpdateSettingsFrame({ sound: "ramp" }));
    expect(mixer.active).toBe(false);
    expect(mixer.mix(input)).toBe(input);
    mixer.stop(); // idempotent
  });

  it("can be started again after stop, from the start of the sound", async () => {
    const mixer = new SoundfileMixer({ soundFiles: { ramp: files.ramp24k }, volume: 1 });
    await mixer.start(OUT_RATE, 1);
    mixer.mix(new Int16Array(500));
    mixer.stop();
    await mixer.start(OUT_RATE, 1);
    expect(mixer.mix(new Int16Array(1))[0]).toBe(ramp[0]);
  });
});

describe("SoundfileMixer in an output transport", () => {
  it("plays a non-looping sound once as background, then the output goes idle", async () => {
    const clock = new VirtualClock();
    const mixer = new SoundfileMixer({ soundFiles: { ramp: files.ramp24k }, volume: 1, loop: false });
    const transport = new MemoryTransport({
      params: { audioOutEnabled: true, audioOutSampleRate: OUT_RATE, audioOutMixer: mixer },
    });
    const task = new PipelineTask(new Pipeline([transport.output()]), {
      clock,
      logger: silentLogger,
      idleTimeoutMs: null,
    });
    const done = task.run();
    await clock.advance(1_000);
    const output = transport.output();
    const written = output.written.map((w) => w.frame.audio);
    const chunk = written[0]!.length;
    // 100 ms of sound in 40 ms chunks: three chunks, then nothing more is written.
    expect(output.writeCalls).toBe(Math.ceil(ramp.length / chunk));
    expect(written[0]![0]).toBe(ramp[0]);
    expect(written[1]![0]).toBe(ramp[chunk]);
    await clock.advance(1_000);
    expect(output.writeCalls).toBe(Math.ceil(ramp.length / chunk));
    await clock.runUntil(task.cancel());
    await done;
  });

  it("reports a sound file that cannot be read when the output starts, and plays on without the mixer", async () => {
    const clock = new VirtualClock();
    const mixer = new SoundfileMixer({ soundFiles: { noise: files.garbage } });
    const transport = new MemoryTransport({
      params: { audioOutEnabled: true, audioOutSampleRate: OUT_RATE, audioOutMixer: mixer },
    });
    const task = new PipelineTask(new Pipeline([transport.output()]), {
      clock,
      logger: silentLogger,
      idleTimeoutMs: null,
    });
    const errors: string[] = [];
    task.on("pipelineError", (e) => void errors.push(e.error.message));
    const done = task.run();
    await clock.advance(500);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/mixer .*failed to start/);
    expect(errors[0]).toContain(files.garbage);
    expect(errors[0]).toContain('"noise"');
    expect(transport.output().writeCalls).toBe(0); // no mixer, nothing queued: idle
    await clock.runUntil(task.stopWhenDone());
    await done;
  });

  it("reports a MixerUpdateSettingsFrame for an unknown sound as a pipeline error naming it", async () => {
    const clock = new VirtualClock();
    const mixer = new SoundfileMixer({ soundFiles: { ramp: files.ramp24k } });
    const transport = new MemoryTransport({
      params: { audioOutEnabled: true, audioOutSampleRate: OUT_RATE, audioOutMixer: mixer },
    });
    const task = new PipelineTask(new Pipeline([transport.output()]), {
      clock,
      logger: silentLogger,
      idleTimeoutMs: null,
    });
    const errors: string[] = [];
    task.on("pipelineError", (e) => void errors.push(e.error.message));
    const done = task.run();
    await clock.advance(100);
    task.queueFrame(new MixerUpdateSettingsFrame({ sound: "jazz" }));
    await clock.advance(100);
    expect(errors.join("\n")).toMatch(/no sound "jazz" \(known: ramp\)/);
    expect(mixer.sound).toBe("ramp");
    await clock.runUntil(task.cancel());
    await done;
  });
});
