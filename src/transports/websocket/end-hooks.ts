import type { Clock } from "../../clock/clock.js";
import { DeadlineExceededError, deadline } from "../../clock/deadline.js";
import { describe } from "../../errors.js";
import type { Logger } from "../../logger.js";

/** Work run once when the task ends the connection itself, before the socket closes. */
export type EndHook = () => void | Promise<void>;

/**
 * The `beforeEndClose` hooks of a {@link WebSocketTransport}: held until the output has played
 * everything at the end, then run together, once, within a bound (docs/design/websocket-transport.md).
 */
export class EndHooks {
  readonly #hooks = new Set<EndHook>();

  /** Adds `hook`; returns a function that removes it. The same function may be added twice. */
  add(hook: EndHook): () => void {
    const entry: EndHook = () => hook();
    this.#hooks.add(entry);
    return () => void this.#hooks.delete(entry);
  }

  /**
   * Runs every hook at once and waits for them at most `boundMs` on `clock`; past it, says so
   * (warn) and returns, the hooks going on by themselves. A hook that throws is logged (warn).
   * Once: the hooks are gone after it. Never rejects.
   */
  async run(options: { clock: Clock; boundMs: number; logger: Logger; name: string }): Promise<void> {
    if (this.#hooks.size === 0) return;
    const { clock, boundMs, logger, name } = options;
    const hooks = [...this.#hooks];
    this.#hooks.clear();
    const all = Promise.all(
      hooks.map(async (hook) => {
        try {
          await hook();
        } catch (error) {
          logger.warn(`${name}: a beforeEndClose hook failed: ${describe(error)}`, { processor: name });
        }
      }),
    );
    try {
      await deadline(clock, all, boundMs, `${name}: beforeEndClose hooks`);
    } catch (error) {
      if (!(error instanceof DeadlineExceededError)) throw error;
      logger.warn(
        `${name}: closing the socket before a beforeEndClose hook finished (it had ${boundMs} ms, ` +
          "nine tenths of the output's closeTimeoutMs); the hook goes on",
        { processor: name },
      );
    }
  }
}
