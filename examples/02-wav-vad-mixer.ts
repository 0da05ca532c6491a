/**
 * A WAV file goes through voice activity detection and out to another WAV file, with
 * background sound mixed in: file in → Silero VAD → loop-back "bot" → output transport with
 * a SoundfileMixer → file out.
 *
 * It runs on a VirtualClock, so the 9 s recording is processed as fast as the machine goes
 * (offline batch mode); pass --realtime to run it on the real clock. Any WAV file works: other
 * rates and stereo are converted to the pipeline's 16 kHz mono by the input transport.
 *
 *   npx tsx examples/02-wav-vad-mixer.ts [input.wav] [output.wav] [--realtime]
 *
 * Exit code 0 when speech was found and written; 1, with one line saying why, when the pipeline
 * reported an error (the library has already logged it) or no speech was found.
 */
import { fileURLToPath } from "node:url";
import { SileroVADAnalyzer } from "../src/audio/vad/silero.js";
import {
  type ErrorFrame,
  type Frame,
  type FrameDirection,
  FrameProcessor,
  InputAudioRawFrame,
  OutputAudioRawFrame,
  Pipeline,
  PipelineTask,
  SoundfileMixer,
  SystemClock,
  VADProcessor,
  VADUserStartedSpeakingFrame,
  VADUserStoppedSpeakingFrame,
  VirtualClock,
  WavFileTransport,
  readWavFile,
} from "../src/index.js";

const args = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const realtime = process.argv.includes("--realtime");
const asset = (name: string): string => fileURLToPath(new URL(`./assets/${name}`, import.meta.url));
const inputPath = args[0] ?? asset("speech.wav");
const outputPath = args[1] ?? "voicepipe-example-output.wav";

/** Says what the VAD heard, and plays the user's audio back out (a stand-in for a bot's voice). */
class LoopBack extends FrameProcessor {
  /** Utterances the VAD found. */
  utterances = 0;

  override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
    const at = `${(this.clock.now() / 1000).toFixed(2)} s`;
    if (frame instanceof VADUserStartedSpeakingFrame) {
      this.utterances++;
      console.log(`${at}  user started speaking`);
    }
    if (frame instanceof VADUserStoppedSpeakingFrame) console.log(`${at}  user stopped speaking`);
    if (frame instanceof InputAudioRawFrame) {
      return this.pushFrame(
        new OutputAudioRawFrame(frame.audio, frame.sampleRate, frame.numChannels),
        direction,
      );
    }
    return super.processFrame(frame, direction);
  }
}

const files = new WavFileTransport({
  inputPath,
  outputPath,
  params: {
    audioOutSampleRate: 16_000,
    audioOutEndSilenceMs: 1_000,
    audioOutMixer: new SoundfileMixer({ soundFiles: { ambience: asset("ambience.wav") }, volume: 0.25 }),
  },
});
const clock = realtime ? new SystemClock() : new VirtualClock();
const vad = new VADProcessor({ analyzer: new SileroVADAnalyzer() });
const loopBack = new LoopBack({ name: "loopback" });
const task = new PipelineTask(new Pipeline([files.input(), vad, loopBack, files.output()]), {
  clock,
  params: { audioInSampleRate: 16_000, audioOutSampleRate: 16_000 },
});
// Errors are logged by voicepipe as they happen (once each); here they are only counted.
const errors: ErrorFrame[] = [];
task.on("pipelineError", (e) => void errors.push(e));

console.log(`reading ${inputPath}`);
const started = performance.now();
const done = task.run();
try {
  // Offline: move virtual time as fast as the pipeline goes; the input ends the task when played.
  if (clock instanceof VirtualClock) await clock.runUntil(done, { maxMs: 10 * 60_000 });
  await done;
} catch (error) {
  fail(`the pipeline did not finish: ${error instanceof Error ? error.message : String(error)}`);
}

if (errors.some((e) => e.fatal)) {
  fail("the pipeline stopped on a fatal error (logged above); nothing useful was written");
} else if (errors.length > 0) {
  fail(`${errors.length} error(s) were reported (logged above); ${outputPath} may be incomplete`);
} else if (loopBack.utterances === 0) {
  fail(`no speech was found in ${inputPath}; nothing but background sound was written to ${outputPath}`);
} else {
  const out = await readWavFile(outputPath);
  const seconds = out.audio.length / out.numChannels / out.sampleRate;
  console.log(
    `wrote ${outputPath}: ${seconds.toFixed(2)} s at ${out.sampleRate} Hz with background sound ` +
      `(${((performance.now() - started) / 1000).toFixed(2)} s of real time)`,
  );
}

/** Says why the example failed, in one line, and sets a non-zero exit code. */
function fail(why: string): void {
  console.error(`failed: ${why}`);
  process.exitCode = 1;
}
