import { VADState } from "./vad-state.js";

/** What one window did to a {@link VADStateMachine}. */
export type VADStep = "started" | "stopped" | undefined;

/**
 * The QUIET → STARTING → SPEAKING → STOPPING machine of {@link VADState}, counted in model
 * windows. Pure and synchronous: feed it one speech/non-speech decision per window.
 *
 * Semantics (Pipecat's): a speech window moves QUIET to STARTING and STOPPING back to SPEAKING;
 * a non-speech window moves STARTING back to QUIET (a blip shorter than the start count never
 * starts anything) and SPEAKING to STOPPING. `startWindows` speech windows in a row confirm a
 * start; `stopWindows` non-speech windows in a row confirm a stop.
 */
export class VADStateMachine {
  #state: VADState = VADState.QUIET;
  #startWindows: number;
  #stopWindows: number;
  #starting = 0;
  #stopping = 0;

  /** Both counts are clamped to at least one window. */
  constructor(startWindows: number, stopWindows: number) {
    this.#startWindows = Math.max(1, Math.round(startWindows));
    this.#stopWindows = Math.max(1, Math.round(stopWindows));
  }

  /** The current state. */
  get state(): VADState {
    return this.#state;
  }

  /** Speech windows needed to confirm a start. */
  get startWindows(): number {
    return this.#startWindows;
  }

  /** Non-speech windows needed to confirm a stop. */
  get stopWindows(): number {
    return this.#stopWindows;
  }

  /**
   * Changes the counts at run time. The state and the run counted so far are kept: a run
   * already as long as a new, shorter count completes on the next window that continues it.
   */
  configure(startWindows: number, stopWindows: number): void {
    this.#startWindows = Math.max(1, Math.round(startWindows));
    this.#stopWindows = Math.max(1, Math.round(stopWindows));
  }

  /** Feeds one window's decision; returns `"started"`/`"stopped"` when it confirmed one. */
  step(speech: boolean): VADStep {
    const before = this.#state;
    if (speech) {
      if (before === VADState.QUIET) {
        this.#state = VADState.STARTING;
        this.#starting = 1;
      } else if (before === VADState.STARTING) {
        this.#starting++;
      } else if (before === VADState.STOPPING) {
        this.#state = VADState.SPEAKING;
        this.#stopping = 0;
      }
    } else if (before === VADState.STARTING) {
      this.#state = VADState.QUIET;
      this.#starting = 0;
    } else if (before === VADState.SPEAKING) {
      this.#state = VADState.STOPPING;
      this.#stopping = 1;
    } else if (before === VADState.STOPPING) {
      this.#stopping++;
    }
    if (this.#state === VADState.STARTING && this.#starting >= this.#startWindows) {
      this.#state = VADState.SPEAKING;
      this.#starting = 0;
      return "started";
    }
    if (this.#state === VADState.STOPPING && this.#stopping >= this.#stopWindows) {
      this.#state = VADState.QUIET;
      this.#stopping = 0;
      return "stopped";
    }
    return undefined;
  }

  /** Back to QUIET with no run counted. */
  reset(): void {
    this.#state = VADState.QUIET;
    this.#starting = 0;
    this.#stopping = 0;
  }
}
