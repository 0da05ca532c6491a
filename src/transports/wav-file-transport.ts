import { type FileHandle, open } from "node:fs/promises";
import { int16ToBytes } from "../audio/pcm.js";
import { MAX_SAMPLE_RATE, MIN_SAMPLE_RATE } from "../audio/resampler.js";
import { type WavAudio, WavFileWriteError, readWavFile, writeWav } from "../audio/wav.js";
import type { OutputAudioRawFrame } from "../frames/audio.js";
import { EndTaskFrame } from "../frames/lifecycle.js";
import { CancelledError, InvalidOptionError, describe } from "../errors.js";
import { untilAborted } from "../clock/when-aborted.js";
import { BaseInputTransport } from "./base-input-transport.js";
import { BaseOutputTransport, type OutputOpenInfo } from "./base-output-transport.js";
import { BaseTransport } from "./base-transport.js";
import type { TransportParams } from "./transport-params.js";

/** Options of {@link WavFileTransport}. */
export interface WavFileTransportOptions {
  /** WAV file to play into the pipeline as the user's audio. */
  inputPath?: string;
  /** WAV file to write the pipeline's output to (16-bit PCM at the output rate). */
  outputPath?: string;
  params?: Partial<TransportParams>;
  /** Input frame length, in ms. @default 20 */
  inputFrameMs?: number;
  /** Ask the task to end (an `EndTaskFrame`) when the input file has been played. @default true */
  endWhenInputDone?: boolean;
}

/**
 * Plays a WAV file into the pipeline at the pace of the task clock, one `inputFrameMs` frame
 * per tick. On a `VirtualClock`, that is as fast as the pipeline goes: offline batch use.
 *
 * The file is read when the pipeline starts (`open`); a file that is missing, a directory or not
 * a WAV is a fatal error naming the path. A truncated file is played as far as it goes, with one
 * warning that names the file and how much is missing. Audio of any rate and channel count is
 * converted to the pipeline's (mono unless `audioInChannels` says otherwise).
 */
export class WavFileInputTransport extends BaseInputTransport {
  #playing: AbortController | undefined;
  /** Frames of input pushed so far. */
  framesPushed = 0;

  constructor(
    private readonly path: string,
    params: Partial<TransportParams>,
    private readonly frameMs: number,
    private readonly endWhenDone: boolean,
  ) {
    super({ ...params, audioInEnabled: true }, { name: "wav-file-input" });
  }

  protected override async open(): Promise<void> {
    const wav = await this.clock.track(readWavFile(this.path));
    if (wav.sampleRate < MIN_SAMPLE_RATE || wav.sampleRate > MAX_SAMPLE_RATE) {
      throw new InvalidOptionError(
        `${this.path} is sampled at ${wav.sampleRate} Hz, which cannot be resampled (${MIN_SAMPLE_RATE} to ` +
          `${MAX_SAMPLE_RATE} Hz); convert it first, e.g. \`sox in.wav -r 16000 out.wav\``,
      );
    }
    if (wav.missingFrames) {
      const seconds = (frames: number): string => (frames / wav.sampleRate).toFixed(3);
      const present = wav.audio.length / wav.numChannels;
      this.logger.warn(
        `${this.name}: ${this.path} is truncated: its header announces ${seconds(present + wav.missingFrames)} s ` +
          `of audio but only ${seconds(present)} s is there (${seconds(wav.missingFrames)} s missing); ` +
          "playing what is there",
        { processor: this.name, path: this.path, missingFrames: wav.missingFrames },
      );
    }
    this.#playing = new AbortController();
    void this.#play(wav, AbortSignal.any([this.lifeSignal, this.#playing.signal]));
  }

  protected override close(): void {
    this.#playing?.abort(new CancelledError(this.name, "input closed"));
  }

  async #play(wav: WavAudio, signal: AbortSignal): Promise<void> {
    const step = Math.max(1, Math.round((wav.sampleRate * this.frameMs) / 1000)) * wav.numChannels;
    try {
      // Play into a started pipeline only: every processor ready (a bad outputPath ends the task
      // at the start, before any input is played).
      const started = this.context?.pipelineStarted;
      if (started && !(await untilAborted(started, signal))) return; // the task ended without starting
      const t0 = this.clock.now();
      for (let offset = 0, i = 0; offset < wav.audio.length; offset += step, i++) {
        await this.clock.waitUntil(t0 + i * this.frameMs, signal);
        await this.pushAudio(wav.audio.subarray(offset, offset + step), wav.sampleRate, wav.numChannels);
        this.framesPushed++;
      }
      // In order behind the last audio: the task ends once the file has been played.
      if (this.endWhenDone && !signal.aborted) await this.pushInput(new EndTaskFrame("input file played"));
    } catch (error) {
      if (signal.aborted) return; // stopped by end, cancel or teardown: nothing more to play
      // Anything else would leave the task waiting for input that never comes.
      await this.pushError(error instanceof Error ? error : new Error(describe(error)), { fatal: true });
    }
  }
}

/** Writes the pipeline's output audio to a 16-bit PCM WAV file, streaming (never the whole call in memory). */
export class WavFileOutputTransport extends BaseOutputTransport {
  #file: FileHandle | undefined;
  #bytes = 0;
  #closing: Promise<void> | undefined;

  constructor(
    private readonly path: string,
    params: Partial<TransportParams>,
  ) {
    super({ ...params, audioOutEnabled: true }, { name: "wav-file-output" });
  }

  /** Bytes of audio written so far. */
  get bytesWritten(): number {
    return this.#bytes;
  }

  /**
   * Creates the file and writes its header. A path that cannot be written (no such directory, a
   * directory, no permission) fails the open, which is fatal: the task ends at the start, before
   * any input is played, instead of processing the whole input for nothing.
   */
  protected override async open(info: OutputOpenInfo): Promise<void> {
    const format = info.format!; // audio output is always on for this transport
    try {
      const file = await this.clock.track(open(this.path, "w"));
      if (this.#closing) {
        // Closed (a cancel) while the file was being opened: close() found no file to close.
        await this.clock.track(file.close());
        return;
      }
      this.#file = file;
      const header = writeWav({
        audio: new Int16Array(0),
        sampleRate: format.sampleRate,
        numChannels: format.numChannels,
      });
      await this.clock.track(this.#file.write(header));
    } catch (error) {
      throw new WavFileWriteError(this.path, error);
    }
  }

  protected override async writeAudio(frame: OutputAudioRawFrame): Promise<boolean> {
    if (!this.#file || this.#closing) return false;
    const bytes = int16ToBytes(frame.audio);
    await this.clock.track(this.#file.write(bytes, 0, bytes.length, 44 + this.#bytes));
    this.#bytes += bytes.length;
    return true;
  }

  protected override close(): Promise<void> {
    return this.#close();
  }

  /** Patches the header's sizes and closes the file. */
  #close(): Promise<void> {
    this.#closing ??= this.clock.track(this.#patchAndClose());
    return this.#closing;
  }

  async #patchAndClose(): Promise<void> {
    const file = this.#file;
    if (!file) return;
    const sizes = new DataView(new ArrayBuffer(4));
    sizes.setUint32(0, 36 + this.#bytes, true);
    await file.write(new Uint8Array(sizes.buffer), 0, 4, 4);
    sizes.setUint32(0, this.#bytes, true);
    await file.write(new Uint8Array(sizes.buffer), 0, 4, 40);
    await file.close();
  }
}

/**
 * File in → pipeline → file out, for tests, examples and offline batch jobs.
 *
 * @example
 * const files = new WavFileTransport({ inputPath: "in.wav", outputPath: "out.wav" });
 * const task = new PipelineTask(new Pipeline([files.input(), vad, files.output()]));
 */
export class WavFileTransport extends BaseTransport {
  readonly #input: WavFileInputTransport | undefined;
  readonly #output: WavFileOutputTransport | undefined;

  constructor(options: WavFileTransportOptions) {
    super();
    if (!options.inputPath && !options.outputPath) {
      throw new InvalidOptionError("WavFileTransport needs an inputPath, an outputPath, or both");
    }
    const params = options.params ?? {};
    const frameMs = options.inputFrameMs ?? 20;
    if (!Number.isFinite(frameMs) || frameMs < 1 || frameMs > 1_000) {
      throw new InvalidOptionError(
        `WavFileTransport: inputFrameMs must be a number of ms from 1 to 1000 (got ${String(options.inputFrameMs)})`,
      );
    }
    if (options.outputPath) this.#output = new WavFileOutputTransport(options.outputPath, params);
    if (options.inputPath) {
      this.#input = new WavFileInputTransport(
        options.inputPath,
        params,
        frameMs,
        options.endWhenInputDone ?? true,
      );
    }
  }

  input(): WavFileInputTransport {
    if (!this.#input)
      throw new InvalidOptionError("WavFileTransport: no inputPath was given, so there is no input()");
    return this.#input;
  }

  output(): WavFileOutputTransport {
    if (!this.#output)
      throw new InvalidOptionError("WavFileTransport: no outputPath was given, so there is no output()");
    return this.#output;
  }
}
