/**
 * How to run the local TTS programs `CommandTTSService` knows: espeak-ng, flite and piper. Each is a
 * {@link TTSCommand}; write your own for another program that writes PCM16 (WAV or raw) to stdout.
 */
import { readFile, stat } from "node:fs/promises";
import { MAX_SAMPLE_RATE, MIN_SAMPLE_RATE } from "../../audio/resampler.js";
import { InvalidOptionError, describe } from "../../errors.js";
import { wireText } from "../../wire-values.js";
import type { PcmFormat } from "./pcm-stream-reader.js";
import { TTSModelNotFoundError } from "./tts-errors.js";

/** How to run one program that turns text into speech on its stdout. */
export interface TTSCommand {
  /** The program: a name looked up on `PATH`, or a path. */
  readonly binary: string;
  /** How to install it, said when it is missing (e.g. "sudo apt-get install espeak-ng"). */
  readonly installHint: string;
  /** The voice or model, named in metrics. */
  readonly model?: string;
  /**
   * Its arguments to speak `text`. With {@link outputFile}, `file` is where it must write its WAV
   * (a fresh path in a temp dir of the service's own, read then removed after each run).
   */
  args(text: string, file: string): string[];
  /**
   * It writes its audio to a file named in its arguments, not to stdout: the file is read once the
   * program has exited. For programs that cannot write to a pipe (flite opens its output by name,
   * and Node's stdout pipes cannot be opened as `/dev/stdout`). @default false
   */
  readonly outputFile?: boolean;
  /** What to write to its stdin for `text` (then stdin is closed); undefined: nothing. */
  stdin(text: string): string | undefined;
  /**
   * What it writes to stdout: a PCM16 WAV (the rate is read from the header: the service runs it
   * once at start to learn it), or raw PCM16 in a known format. Read after {@link prepare}.
   */
  readonly output: "wav" | PcmFormat;
  /** Checks what it needs before the first run (a model file) and learns what it must. */
  prepare?(): Promise<void>;
  /** Environment to run it in. @default the process's */
  readonly env?: NodeJS.ProcessEnv;
}

/** Options of {@link espeakNgCommand}. */
export interface EspeakNgOptions {
  /** Voice name (`espeak-ng --voices` lists them). @default "en-us" */
  voice?: string;
  /** Speaking rate, in words per minute (80 … 450). @default 175 */
  wordsPerMinute?: number;
  /** Pitch, 0 … 99. @default 50 */
  pitch?: number;
  /** The program. @default "espeak-ng" */
  binary?: string;
}

/**
 * espeak-ng (GPL, run as a separate program): fast (hundreds of times real time), robotic, many
 * languages. Writes a 22050 Hz WAV; text goes on stdin, so a text starting with "-" is never an option.
 */
export function espeakNgCommand(options: EspeakNgOptions = {}): TTSCommand {
  const voice = options.voice ?? "en-us";
  const wpm = checkRange("espeakNgCommand", "wordsPerMinute", options.wordsPerMinute ?? 175, 80, 450);
  const pitch = checkRange("espeakNgCommand", "pitch", options.pitch ?? 50, 0, 99);
  return {
    binary: options.binary ?? "espeak-ng",
    installHint: "sudo apt-get install espeak-ng, or brew install espeak-ng",
    model: voice,
    // -b 1: the input is UTF-8. --stdout: a WAV on stdout. Text comes from stdin.
    args: () => ["--stdout", "-b", "1", "-v", voice, "-s", String(wpm), "-p", String(pitch)],
    stdin: (text) => text,
    output: "wav",
  };
}

/** Options of {@link fliteCommand}. */
export interface FliteOptions {
  /** Voice (`flite -lv` lists them); "slt" is 16 kHz, "kal" 8 kHz. @default "slt" */
  voice?: string;
  /** The program. @default "flite" */
  binary?: string;
}

/**
 * CMU Flite (BSD-style licence): small, fast, intelligible. Writes a WAV (16 kHz for "slt") to a
 * file: flite opens its output by name, and `/dev/stdout` cannot be opened when stdout is the
 * socket Node gives a child (flite then writes nothing and still exits 0). Flite synthesises a
 * whole utterance before writing it anyway, so nothing is lost by reading the file after it exits.
 * The text is one argument after `-t`, so it is never read as an option.
 */
export function fliteCommand(options: FliteOptions = {}): TTSCommand {
  const voice = options.voice ?? "slt";
  return {
    binary: options.binary ?? "flite",
    installHint: "sudo apt-get install flite",
    model: voice,
    args: (text, file) => ["-voice", voice, "-o", file, "-t", text],
    stdin: () => undefined,
    output: "wav",
    outputFile: true,
  };
}

/** Options of {@link piperCommand}. */
export interface PiperOptions {
  /** Path of the voice model (`…/en_US-lessac-medium.onnx`). Required. */
  model: string;
  /** Path of its config, which gives the sample rate. @default `${model}.json` */
  config?: string;
  /** Speaker id, for models with several speakers. */
  speaker?: number;
  /**
   * The flag that makes it write raw PCM to stdout: `--output_raw` for the piper program of the
   * rhasspy/piper releases, `--output-raw` for the Python `piper-tts` package. @default "--output_raw"
   */
  rawFlag?: "--output_raw" | "--output-raw";
  /** The program. @default "piper" */
  binary?: string;
}

/**
 * Piper (neural, natural voices, MIT for the rhasspy releases): loads its model on every run,
 * which takes a while for large models (raise `stallTimeoutMs` for them). Reads a line of text on
 * stdin and writes raw PCM16 at the model's rate (from its config).
 */
export function piperCommand(options: PiperOptions): TTSCommand {
  if (typeof options?.model !== "string" || options.model === "") {
    throw new InvalidOptionError(
      'piperCommand: model must be the path of a Piper voice model (e.g. "voices/en_US-lessac-medium.onnx"), ' +
        "with its .onnx.json config beside it; download voices from https://huggingface.co/rhasspy/piper-voices",
    );
  }
  const model = options.model;
  const config = options.config ?? `${model}.json`;
  let format: PcmFormat | undefined;
  const speaker = options.speaker === undefined ? [] : ["--speaker", String(options.speaker)];
  return {
    binary: options.binary ?? "piper",
    installHint:
      "download the piper program from https://github.com/rhasspy/piper/releases or pip install piper-tts; " +
      `it will run the model ${model}`,
    model,
    args: () => ["--model", model, "--config", config, ...speaker, options.rawFlag ?? "--output_raw"],
    // One line is one utterance: a sentence that holds newlines is spoken as one.
    stdin: (text) => `${text.replace(/[\r\n]+/gu, " ")}\n`,
    get output(): PcmFormat {
      if (!format) throw new InvalidOptionError("piperCommand: output read before prepare()");
      return format;
    },
    async prepare() {
      try {
        await stat(model);
      } catch (error) {
        throw new TTSModelNotFoundError(
          "model",
          model,
          "the Piper voice model was not found; give the path of a downloaded .onnx voice " +
            "(https://huggingface.co/rhasspy/piper-voices)",
          error,
        );
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(await readFile(config, "utf8"));
      } catch (error) {
        throw new TTSModelNotFoundError(
          "config",
          config,
          `the Piper voice config could not be read (${describe(error)}); it comes with the model as <model>.onnx.json`,
          error,
        );
      }
      // The file comes with a download: `null`, a list, or a rate no resampler takes are all possible.
      const audio = isRecord(parsed) ? parsed["audio"] : undefined;
      const rate = isRecord(audio) ? audio["sample_rate"] : undefined;
      if (
        typeof rate !== "number" ||
        !Number.isInteger(rate) ||
        rate < MIN_SAMPLE_RATE ||
        rate > MAX_SAMPLE_RATE
      ) {
        throw new TTSModelNotFoundError(
          "config",
          config,
          `the Piper voice config has no audio.sample_rate from ${MIN_SAMPLE_RATE} to ${MAX_SAMPLE_RATE} Hz (got ${wireText(rate)})`,
        );
      }
      format = { sampleRate: rate, numChannels: 1 };
    },
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function checkRange(owner: string, option: string, value: number, min: number, max: number): number {
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new InvalidOptionError(
      `${owner}: ${option} must be a number from ${min} to ${max} (got ${String(value)})`,
    );
  }
  return Math.round(value);
}
