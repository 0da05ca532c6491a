import type { PipelineTask, TaskOutcome } from "./task.js";

/** Options of a {@link PipelineRunner}. */
export interface PipelineRunnerOptions {
  /** Cancel the running tasks on SIGINT (Ctrl-C). @default true */
  handleSigint?: boolean;
  /** Cancel the running tasks on SIGTERM. @default true */
  handleSigterm?: boolean;
}

type Signal = "SIGINT" | "SIGTERM";

/**
 * One listener per signal for the whole process, however many runners and sessions run: a
 * listener per runner made Node warn past ten concurrent sessions. A signal cancels the tasks
 * of every runner that asked for it. Installed while a task runs, removed after the last.
 */
const runnersBySignal: Record<Signal, Set<PipelineRunner>> = { SIGINT: new Set(), SIGTERM: new Set() };
const listeners: Record<Signal, () => void> = {
  SIGINT: () => onSignal("SIGINT"),
  SIGTERM: () => onSignal("SIGTERM"),
};

function onSignal(signal: Signal): void {
  for (const runner of [...runnersBySignal[signal]]) void runner.cancel(`${signal} received`);
}

function listen(signal: Signal, runner: PipelineRunner): void {
  const runners = runnersBySignal[signal];
  if (runners.size === 0) process.on(signal, listeners[signal]);
  runners.add(runner);
}

function unlisten(signal: Signal, runner: PipelineRunner): void {
  const runners = runnersBySignal[signal];
  if (!runners.delete(runner)) return;
  if (runners.size === 0) process.off(signal, listeners[signal]);
}

/**
 * Runs tasks to completion and turns SIGINT/SIGTERM into `cancel()`, so Ctrl-C ends a bot
 * within its `cancelTimeoutMs`. The process has one listener per signal, shared by every
 * runner, present only while a task runs.
 *
 * @example
 * const outcome = await new PipelineRunner().run(task);
 * if (outcome.how === "failed") process.exitCode = 1;
 */
export class PipelineRunner {
  readonly #options: Required<PipelineRunnerOptions>;
  readonly #running = new Set<PipelineTask>();

  constructor(options: PipelineRunnerOptions = {}) {
    this.#options = {
      handleSigint: options.handleSigint ?? true,
      handleSigterm: options.handleSigterm ?? true,
    };
  }

  /** Runs `task` and resolves with how it ended (see `TaskOutcome`); never rejects. */
  async run(task: PipelineTask): Promise<TaskOutcome> {
    this.#running.add(task);
    if (this.#running.size === 1) {
      if (this.#options.handleSigint) listen("SIGINT", this);
      if (this.#options.handleSigterm) listen("SIGTERM", this);
    }
    try {
      return await task.run();
    } finally {
      this.#running.delete(task);
      if (this.#running.size === 0) {
        unlisten("SIGINT", this);
        unlisten("SIGTERM", this);
      }
    }
  }

  /** Cancels every task this runner is running. */
  async cancel(reason = "runner cancelled"): Promise<void> {
    await Promise.all([...this.#running].map((t) => t.cancel(reason)));
  }
}
