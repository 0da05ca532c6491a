import { type FileHandle, open } from "node:fs/promises";
import { int16ToBytes } from "../audio/pcm.js";
import { type WavAudio, readWavFile, writeWav } from "../audio/wav.js";
import type { OutputAudioRawFrame } from "../frames/audio.js";
import { FrameDirection } from "../frames/frame.js";
import { EndTaskFrame, type StartFrame } from "../frames/lifecycle.js";
import { InvalidOptionError } from "../errors.js";
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
 */
export class WavFileInputTransport extends BaseInputTransport {
  #wav: WavAudio | undefined;
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

  protected override async start(frame: StartFrame): Promise<void> {
    try {
      this.#wav = await this.clock.track(readWavFile(this.path));
    } catch (error) {
      // Nothing to play means nothing will ever end the input: fatal, so the task ends now.
      await this.pushError(error instanceof Error ? error : new Error(String(error)), { fatal: true });
      return;
    }
    await super.start(frame);
    void this.#play(this.#wav);
  }

  async #play(wav: WavAudio): Promise<void> {
    const step = Math.max(1, Math.round((wav.sampleRate * this.frameMs) / 1000)) * wav.numChannels;
    const t0 = this.clock.now();
    try {
      for (let offset = 0, i = 0; offset < wav.audio.length; offset += step, i++) {
        await this.clock.waitUntil(t0 + i * this.frameMs, this.lifeSignal);
        await this.pushAudio(wav.audio.subarray(offset, offset + step), wav.sampleRate, wav.numChannels);
        this.framesPushed++;
      }
      if (this.endWhenDone && !this.lifeSignal.aborted) {
        await this.pushFrame(new EndTaskFrame("input file played"), FrameDirection.DOWNSTREAM);
      }
    } catch {
      // Aborted by end, cancel or teardown: nothing more to play.
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

  protected override async open(info: OutputOpenInfo): Promise<void> {
    const format = info.format!; // audio output is always on for this transport
    this.#file = await this.clock.track(open(this.path, "w"));
    const header = writeWav({
      audio: new Int16Array(0),
      sampleRate: format.sampleRate,
      numChannels: format.numChannels,
    });
    await this.clock.track(this.#file.write(header));
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
    if (options.inputPath) {
      this.#input = new WavFileInputTransport(
        options.inputPath,
        params,
        options.inputFrameMs ?? 20,
        options.endWhenInputDone ?? true,
      );
    }
    if (options.outputPath) this.#output = new WavFileOutputTransport(options.outputPath, params);
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
