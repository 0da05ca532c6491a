import { createReadStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvalidOptionError } from "../../errors.js";
import { PcmStreamReader } from "./pcm-stream-reader.js";
import { Subprocess } from "./subprocess.js";
import type { TTSCommand } from "./tts-commands.js";
import { TTSOutputError } from "./tts-errors.js";
import { TTSService, type TTSServiceEvents, type TTSServiceOptions } from "./tts-service.js";

/** Options of {@link CommandTTSService}. */
export interface CommandTTSServiceOptions extends TTSServiceOptions {
  /** The program to run: `espeakNgCommand()`, `fliteCommand()`, `piperCommand({ model })` or your own. */
  command: TTSCommand;
  /**
   * Longest wait for the program to exit once it has closed its stdout, and for a killed program
   * to be reaped, in ms. @default 2000
   */
  exitTimeoutMs?: number;
}

/** What {@link CommandTTSService} reports about each run of its program (for logs and tests). */
export interface CommandRun {
  /** Process id; undefined when it could not be started. */
  readonly pid: number | undefined;
  readonly binary: string;
}

/** Events of a {@link CommandTTSService}. */
export interface CommandTTSServiceEvents extends TTSServiceEvents {
  /** A run of the program started (one per sentence, and one check at start). */
  processStarted: (run: CommandRun) => void;
  /**
   * A run ended and was reaped (`reaped` false: still there at the deadline). `killed`: we killed
   * it (an interruption, cancel, or a deadline).
   */
  processEnded: (
    run: CommandRun & { code: number | null; signal: string | null; killed: boolean; reaped: boolean },
  ) => void;
}

/** Text spoken once at start to check the program runs and learn its sample rate. */
const CHECK_TEXT = "ok";

/**
 * Text to speech by an installed program run once per sentence (espeak-ng, flite, piper): no
 * network, no key (docs/design/tts-services.md). Each run gets the sentence, writes PCM16 to
 * stdout, which is pushed as it is read; it is killed at once on interruption, cancel or a
 * deadline, and always reaped.
 *
 * At start it runs the program once on a short text: a missing program (or model) is a clear,
 * fatal error then (naming the program and how to install it), not a silent bot later, and the
 * WAV header tells the engine's sample rate.
 *
 * The program gives no word timings, so each sentence's `TTSTextFrame` follows its audio, untimed.
 *
 * @example
 * const tts = new CommandTTSService({ command: espeakNgCommand({ voice: "en-gb" }) });
 */
export class CommandTTSService extends TTSService<CommandTTSServiceEvents> {
  readonly #command: TTSCommand;
  readonly #exitTimeoutMs: number;
  #rate = 0;
  /** Where programs that write files write them (made at connect, removed at disconnect). */
  #tempDir: string | undefined;
  #runs = 0;

  constructor(options: CommandTTSServiceOptions) {
    super(options);
    if (!options?.command || typeof options.command.args !== "function") {
      throw new InvalidOptionError(
        `${this.name}: command is required: espeakNgCommand(), fliteCommand(), piperCommand({ model }) or your own TTSCommand`,
      );
    }
    const exit = options.exitTimeoutMs ?? 2000;
    if (!Number.isFinite(exit) || exit <= 0) {
      throw new InvalidOptionError(
        `${this.name}: exitTimeoutMs must be a positive number of ms (got ${String(exit)})`,
      );
    }
    this.#command = options.command;
    this.#exitTimeoutMs = exit;
  }

  protected override get engineSampleRate(): number {
    return this.#rate;
  }

  protected override get model(): string | undefined {
    return this.#command.model;
  }

  protected override async connect(signal: AbortSignal): Promise<void> {
    await this.clock.track(Promise.resolve(this.#command.prepare?.()));
    if (this.#command.outputFile)
      this.#tempDir = await this.clock.track(mkdtemp(join(tmpdir(), "voicepipe-tts-")));
    const output = this.#command.output;
    if (output !== "wav") this.#rate = output.sampleRate;
    // One run on a short text: the program exists, its voice or model loads, and (for WAV) its rate.
    for await (const _ of this.#run(CHECK_TEXT, signal, (rate) => (this.#rate = rate))) {
      /* the audio of the check is not played */
    }
  }

  protected override async disconnect(): Promise<void> {
    const dir = this.#tempDir;
    this.#tempDir = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
  }

  protected override synthesize(text: string, signal: AbortSignal): AsyncIterable<Int16Array> {
    return this.#run(text, signal, (rate) => {
      if (rate !== this.#rate) {
        throw new TTSOutputError(
          `${this.name}: "${this.#command.binary}" wrote ${rate} Hz audio, but ${this.#rate} Hz at start; ` +
            "its voice must not change while the service runs",
        );
      }
    });
  }

  async *#run(text: string, signal: AbortSignal, onRate: (rate: number) => void): AsyncGenerator<Int16Array> {
    const command = this.#command;
    const output = command.output;
    const file = this.#tempDir === undefined ? "" : join(this.#tempDir, `${++this.#runs}.wav`);
    const proc = new Subprocess(
      {
        binary: command.binary,
        args: command.args(text, file),
        stdin: command.stdin(text),
        env: command.env,
        installHint: command.installHint,
      },
      signal,
    );
    const run = { pid: proc.pid, binary: command.binary };
    this.emit("processStarted", run);
    const reader = new PcmStreamReader(
      `the output of "${command.binary}"`,
      output === "wav" ? undefined : output,
    );
    let formatChecked = false;
    const read = (bytes: Buffer): Int16Array => {
      const audio = reader.push(bytes);
      if (!formatChecked && reader.format) {
        formatChecked = true;
        if (reader.format.numChannels !== 1) {
          throw new TTSOutputError(
            `${this.name}: "${command.binary}" wrote ${reader.format.numChannels}-channel audio; only mono is read`,
          );
        }
        onRate(reader.format.sampleRate);
      }
      return audio;
    };
    try {
      try {
        for await (const bytes of proc.stdout) {
          if (file !== "") continue; // it writes a file; stdout is only drained
          const audio = read(bytes as Buffer);
          if (audio.length > 0) yield audio;
        }
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        if (proc.spawnError) throw proc.spawnError;
        throw error;
      }
      if (signal.aborted) throw signal.reason;
      await proc.finished(this.clock, this.#exitTimeoutMs); // a spawn error or a failed exit throws here
      if (file !== "") {
        for await (const bytes of createReadStream(file, { signal })) {
          const audio = read(bytes as Buffer);
          if (audio.length > 0) yield audio;
        }
      }
      reader.end();
    } finally {
      if (file !== "") await rm(file, { force: true });
      const reaped = await proc.dispose(this.clock, this.#exitTimeoutMs);
      const exit = proc.exit;
      this.emit("processEnded", {
        ...run,
        code: exit?.code ?? null,
        signal: exit?.signal ?? null,
        killed: proc.killed,
        reaped,
      });
    }
  }
}
