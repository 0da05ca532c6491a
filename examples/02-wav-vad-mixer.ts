/**
 * A WAV file goes through voice activity detection and out to another WAV file, with
 * background sound mixed in: file in → Silero VAD → loop-back "bot" → output transport with
 * a SoundfileMixer → file out.
 *
 * It runs on a VirtualClock, so the 9 s recording is processed in well under a second of real
 * time (offline batch mode); pass --realtime to run it on the real clock.
 *
 *   npx tsx examples/02-wav-vad-mixer.ts [input.wav] [output.wav] [--realtime]
 */
import { fileURLToPath } from "node:url";
import { SileroVADAnalyzer } from "../src/audio/vad/silero.js";
import {
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
  override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
    const at = `${(this.clock.now() / 1000).toFixed(2)} s`;
    if (frame instanceof VADUserStartedSpeakingFrame) console.log(`${at}  user started speaking`);
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
const task = new PipelineTask(
  new Pipeline([files.input(), vad, new LoopBack({ name: "loopback" }), files.output()]),
  {
    clock,
    params: { audioInSampleRate: 16_000, audioOutSampleRate: 16_000 },
  },
);
task.on("pipelineError", (e) => console.error(`error: ${e.error.message}`));

console.log(`reading ${inputPath}`);
const started = performance.now();
const done = task.run();
// Offline: move virtual time as fast as the pipeline goes; the input ends the task when played.
if (clock instanceof VirtualClock) await clock.runUntil(done, { maxMs: 10 * 60_000 });
await done;

const out = await readWavFile(outputPath);
const seconds = out.audio.length / out.numChannels / out.sampleRate;
console.log(
  `wrote ${outputPath}: ${seconds.toFixed(2)} s at ${out.sampleRate} Hz with background sound ` +
    `(${((performance.now() - started) / 1000).toFixed(2)} s of real time)`,
);
