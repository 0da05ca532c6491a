import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { setImmediate as nextTurn } from "node:timers/promises";
import type { Clock } from "../../clock/clock.js";
import { deadline } from "../../clock/deadline.js";
import { TTSBinaryNotFoundError, TTSCommandFailedError } from "./tts-errors.js";

/** How a program is run. */
export interface SubprocessSpec {
  /** The program: a name looked up on `PATH`, or a path. */
  readonly binary: string;
  readonly args: readonly string[];
  /** Written to its stdin, which is then closed. @default nothing (stdin closed at once) */
  readonly stdin?: string | Uint8Array;
  /** Environment. @default the process's */
  readonly env?: NodeJS.ProcessEnv;
  /** How to install the program, for the error when it is missing. */
  readonly installHint: string;
  /**
   * The errors a missing or failing program becomes, worded for its user (a speech-to-text
   * program is not a TTS program). @default {@link TTSBinaryNotFoundError}, {@link TTSCommandFailedError}
   */
  readonly errors?: SubprocessErrors;
}

/** Makes the errors of a {@link Subprocess} (see {@link SubprocessSpec.errors}). */
export interface SubprocessErrors {
  notFound(binary: string, installHint: string, cause: unknown): Error;
  failed(binary: string, exitCode: number | null, exitSignal: string | null, stderr: string): Error;
}

const TTS_ERRORS: SubprocessErrors = {
  notFound: (binary, hint, cause) => new TTSBinaryNotFoundError(binary, hint, cause),
  failed: (binary, code, signal, stderr) => new TTSCommandFailedError(binary, code, signal, stderr),
};

/** How a program ended. */
export interface SubprocessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Most bytes of stderr kept for error messages (the last ones). */
const STDERR_TAIL_BYTES = 2048;

/**
 * One run of a program, with the hygiene a long-lived server needs: it runs in a process group of
 * its own, so killing it also kills what it started (a shell script's children keep the pipes
 * open otherwise); `signal` kills the group at once (SIGKILL) and closes our ends of the pipes;
 * the end of stderr is kept, bounded, for the error message; a spawn failure (ENOENT) becomes a
 * {@link TTSBinaryNotFoundError}.
 *
 * Always call {@link dispose} in `finally`: it kills the program if it still runs and waits,
 * bounded, until it has been reaped, so no zombie, pipe or handle is left behind.
 */
export class Subprocess {
  readonly #spec: SubprocessSpec;
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #signal: AbortSignal;
  readonly #closed: Promise<SubprocessExit>;
  #stderr = "";
  #spawnError: Error | undefined;
  #exit: SubprocessExit | undefined;
  #killed = false;

  constructor(spec: SubprocessSpec, signal: AbortSignal) {
    this.#spec = spec;
    this.#signal = signal;
    this.#child = spawn(spec.binary, spec.args, {
      stdio: ["pipe", "pipe", "pipe"],
      env: spec.env,
      detached: true, // its own process group: kill(-pid) reaches its children too
      windowsHide: true,
    });
    const child = this.#child;
    this.#closed = new Promise<SubprocessExit>((resolve) => {
      child.once("close", (code, sig) => {
        this.#exit = { code, signal: sig };
        signal.removeEventListener("abort", this.#onAbort);
        resolve(this.#exit);
      });
    });
    child.once("error", (error: NodeJS.ErrnoException) => {
      // Spawn failures (ENOENT, EACCES) come here; 'close' follows.
      this.#spawnError =
        error.code === "ENOENT"
          ? (spec.errors ?? TTS_ERRORS).notFound(spec.binary, spec.installHint, error)
          : error;
    });
    child.stderr.on("data", (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString("utf8")).slice(-STDERR_TAIL_BYTES);
    });
    // A program that exits before reading its input makes the write fail with EPIPE: expected, and
    // its exit status says what went wrong.
    child.stdin.on("error", noop);
    child.stdin.end(spec.stdin ?? "");
    if (signal.aborted) this.#onAbort();
    else signal.addEventListener("abort", this.#onAbort, { once: true });
  }

  /** The process id (undefined when the spawn failed). */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** How it ended, once it has been reaped. */
  get exit(): SubprocessExit | undefined {
    return this.#exit;
  }

  /** Whether it was killed by us (abort or dispose). */
  get killed(): boolean {
    return this.#killed;
  }

  /** The program's stdout, read as it writes. Ends when it closes stdout or is killed. */
  get stdout(): AsyncIterable<Buffer> {
    return this.#child.stdout;
  }

  /** The end of what it wrote to stderr (at most 2 KiB). */
  get stderr(): string {
    return this.#stderr;
  }

  /**
   * Waits, at most `timeoutMs`, for the program to exit and its pipes to close; throws a
   * {@link TTSBinaryNotFoundError} if it could not be started, a {@link TTSCommandFailedError} if it
   * failed, a `DeadlineExceededError` if it did not end in time.
   */
  async finished(clock: Clock, timeoutMs: number): Promise<SubprocessExit> {
    const exit = await deadline(
      clock,
      this.#closed,
      timeoutMs,
      `waiting for "${this.#spec.binary}" to exit`,
      {
        signal: this.#signal,
        io: true,
      },
    );
    if (this.#spawnError) throw this.#spawnError;
    if (exit.code !== 0)
      throw (this.#spec.errors ?? TTS_ERRORS).failed(this.#spec.binary, exit.code, exit.signal, this.#stderr);
    return exit;
  }

  /** The spawn error, if the program could not be started (known once stdout has ended). */
  get spawnError(): Error | undefined {
    return this.#spawnError;
  }

  /**
   * Kills the program if it still runs and waits, at most `timeoutMs`, until it has been reaped
   * and its pipes are closed. Never throws; returns false if it was still there at the deadline.
   */
  async dispose(clock: Clock, timeoutMs: number): Promise<boolean> {
    if (!this.#exit) this.#kill();
    try {
      await deadline(clock, this.#closed, timeoutMs, `waiting for "${this.#spec.binary}" to be reaped`, {
        io: true,
      });
      // 'close' comes before libuv has closed the process handle (the loop's close phase, after
      // the immediates of this turn): two turns later, nothing of the run is left.
      await clock.track(nextTurn().then(() => nextTurn()));
      return true;
    } catch {
      return false;
    }
  }

  readonly #onAbort = (): void => {
    this.#kill();
  };

  #kill(): void {
    if (this.#exit) return;
    this.#killed = true;
    const pid = this.#child.pid;
    if (pid !== undefined) {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        this.#child.kill("SIGKILL"); // the group is gone already; make sure of the child
      }
    }
    // Our ends of the pipes: a grandchild that left the group cannot keep them open.
    this.#child.stdout.destroy();
    this.#child.stderr.destroy();
    this.#child.stdin.destroy();
  }
}

function noop(): void {}
