import type { PipelineTask } from "./task.js";

/** Options of a {@link PipelineRunner}. */
export interface PipelineRunnerOptions {
  /** Cancel the running tasks on SIGINT (Ctrl-C). @default true */
  handleSigint?: boolean;
  /** Cancel the running tasks on SIGTERM. @default true */
  handleSigterm?: boolean;
}

/**
 * Runs tasks to completion and turns SIGINT/SIGTERM into `cancel()`, so Ctrl-C ends a bot
 * within its `cancelTimeoutMs`. Signal handlers are installed only while a task runs and
 * removed afterwards.
 *
 * @example
 * await new PipelineRunner().run(task);
 */
export class PipelineRunner {
  readonly #options: Required<PipelineRunnerOptions>;
  readonly #running = new Set<PipelineTask>();
  #onSignal: ((signal: NodeJS.Signals) => void) | undefined;

  constructor(options: PipelineRunnerOptions = {}) {
    this.#options = {
      handleSigint: options.handleSigint ?? true,
      handleSigterm: options.handleSigterm ?? true,
    };
  }

  /** Runs `task` and resolves when it has finished. */
  async run(task: PipelineTask): Promise<void> {
    this.#running.add(task);
    this.#install();
    try {
      await task.run();
    } finally {
      this.#running.delete(task);
      if (this.#running.size === 0) this.#uninstall();
    }
  }

  /** Cancels every task this runner is running. */
  async cancel(reason = "runner cancelled"): Promise<void> {
    await Promise.all([...this.#running].map((t) => t.cancel(reason)));
  }

  #install(): void {
    if (this.#onSignal) return;
    this.#onSignal = (signal) => void this.cancel(`${signal} received`);
    if (this.#options.handleSigint) process.on("SIGINT", this.#onSignal);
    if (this.#options.handleSigterm) process.on("SIGTERM", this.#onSignal);
  }

  #uninstall(): void {
    if (!this.#onSignal) return;
    process.off("SIGINT", this.#onSignal);
    process.off("SIGTERM", this.#onSignal);
    this.#onSignal = undefined;
  }
}
