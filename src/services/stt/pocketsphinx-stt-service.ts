import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeWav } from "../../audio/wav.js";
import { InvalidOptionError } from "../../errors.js";
import { Subprocess, type SubprocessErrors } from "../tts/subprocess.js";
import {
  type SegmentInfo,
  SegmentedSTTService,
  type SegmentedSTTServiceOptions,
} from "./segmented-stt-service.js";
import { STTBinaryNotFoundError, STTCommandFailedError } from "./stt-errors.js";
import { MAX_TRANSCRIPT_CHARS } from "./stt-service.js";

/** Options of {@link PocketsphinxSTTService}. */
export interface PocketsphinxSTTServiceOptions extends SegmentedSTTServiceOptions {
  /** The program: a name looked up on `PATH`, or a path. @default "pocketsphinx_continuous" */
  binary?: string;
  /** Acoustic model folder (`-hmm`). @default the installed en-us model */
  hmm?: string;
  /** Language model file (`-lm`). @default the installed en-us model */
  lm?: string;
  /** Pronunciation dictionary (`-dict`). @default the installed en-us dictionary */
  dict?: string;
  /**
   * A JSGF grammar file (`-jsgf`): only its phrases can be heard. A small grammar makes the
   * recogniser exact on them (commands, tests); without one it hears open vocabulary, poorly.
   */
  jsgf?: string;
  /** More arguments, put before the input file's. */
  extraArgs?: readonly string[];
  /**
   * Run the program once on a short silence at start, so a missing program or model is one
   * clear error before the user speaks, not a failed turn. @default true
   */
  checkAtStart?: boolean;
}

const INSTALL_HINT = "sudo apt-get install pocketsphinx pocketsphinx-en-us";

/** What pocketsphinx's failures become: worded for a speech recogniser, its FATAL/ERROR lines first. */
const ERRORS: SubprocessErrors = {
  notFound: (binary, hint, cause) => new STTBinaryNotFoundError(binary, hint, cause),
  failed: (binary, code, signal, stderr) =>
    new STTCommandFailedError(binary, code, signal, problemLines(stderr)),
};

/**
 * Offline speech-to-text with an installed CMU PocketSphinx (`pocketsphinx_continuous`, Debian's
 * `pocketsphinx` and `pocketsphinx-en-us` packages). Segmented: each user turn (from the VAD's
 * start, with `prerollMs` before it, to its stop) is written as a WAV to the program's stdin, and
 * what it prints is the final transcript. No network, no key: the recogniser of the offline bot
 * and of the local speech loop test. Accuracy on open vocabulary is modest; with a `jsgf`
 * grammar it is exact on the grammar's phrases. See docs/design/stt-services.md.
 *
 * Guarantees: every run has a deadline (`requestTimeoutMs`) and is killed (with what it started)
 * on that deadline, on cancel and on the task's end; a missing program or model is one clear
 * error at start (`checkAtStart`) naming the program and how to install it; a failing run is
 * reported once per cause with the program's own error line, and the next turn runs again.
 */
export class PocketsphinxSTTService extends SegmentedSTTService {
  readonly #binary: string;
  readonly #modelArgs: readonly string[];
  readonly #checkAtStart: boolean;

  constructor(options: PocketsphinxSTTServiceOptions = {}) {
    super({ sampleRate: 16_000, model: "pocketsphinx", ...options });
    this.#binary = text(this.name, "binary", options.binary) ?? "pocketsphinx_continuous";
    const args: string[] = [];
    for (const flag of ["hmm", "lm", "dict", "jsgf"] as const) {
      const value = text(this.name, flag, options[flag]);
      if (value !== undefined) args.push(`-${flag}`, value);
    }
    for (const arg of options.extraArgs ?? []) {
      if (typeof arg !== "string") throw new InvalidOptionError(`${this.name}: extraArgs must be strings`);
      args.push(arg);
    }
    this.#modelArgs = args;
    this.#checkAtStart = options.checkAtStart ?? true;
  }

  protected override async connect(): Promise<void> {
    if (!this.#checkAtStart) return;
    // 200 ms of silence: the program starts, loads its model and grammar, and prints nothing.
    const silence = new Int16Array(Math.round(this.sampleRate / 5));
    await this.clock.track(this.#run(silence, this.sampleRate, new AbortController().signal));
  }

  protected override transcribe(audio: Int16Array, { sampleRate, signal }: SegmentInfo): Promise<string> {
    return this.#run(audio, sampleRate, signal);
  }

  async #run(audio: Int16Array, sampleRate: number, signal: AbortSignal): Promise<string> {
    // The audio goes in a file of its own: the program opens its input by name, and Node's pipes
    // to a child are sockets, which `/dev/stdin` cannot open. The folder goes with the run.
    const dir = await mkdtemp(join(tmpdir(), "voicepipe-sphinx-"));
    try {
      const input = join(dir, "turn.wav");
      await writeFile(input, writeWav({ audio, sampleRate }));
      signal.throwIfAborted();
      const proc = new Subprocess(
        {
          binary: this.#binary,
          args: [...this.#modelArgs, "-samprate", String(sampleRate), "-infile", input],
          installHint: INSTALL_HINT,
          errors: ERRORS,
        },
        signal,
      );
      try {
        let out = "";
        for await (const chunk of proc.stdout) {
          if (out.length < MAX_TRANSCRIPT_CHARS) out += chunk.toString("utf8");
        }
        // Its stdout has closed: it has exited or is about to. The request's own deadline (and
        // `signal`) bound the whole run; this bound only keeps a wedged exit from outliving it.
        await proc.finished(this.clock, 5_000);
        return transcriptOf(out.slice(0, MAX_TRANSCRIPT_CHARS));
      } finally {
        await proc.dispose(this.clock, 2_000);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

/** The program prints one line per utterance it found in the audio: the turn's text is all of them. */
function transcriptOf(stdout: string): string {
  return stdout
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "")
    .join(" ");
}

/** PocketSphinx logs INFO lines to stderr; its FATAL and ERROR lines say what went wrong. */
function problemLines(stderr: string): string {
  const lines = stderr.split(/\r?\n/).filter((line) => /^(FATAL|ERROR)/.test(line));
  return lines.length > 0 ? lines.join("\n") : stderr;
}

function text(owner: string, setting: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.trim() === "" || value.includes("\0")) {
    throw new InvalidOptionError(
      `${owner}: ${setting} must be a non-empty path or name (got ${JSON.stringify(value)})`,
    );
  }
  return value;
}
