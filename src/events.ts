import type { Logger } from "./logger.js";

/** A map from event name to handler signature. */
export type EventMap = { [name: string]: (...args: never[]) => unknown };

type AnyHandler = (...args: never[]) => unknown;

/**
 * Typed events that can never block or break their emitter: handlers run synchronously in
 * registration order, a handler that throws is logged and skipped, and a handler that returns
 * a promise is not awaited (a rejection is logged). Used by processors and tasks.
 */
export class TypedEvents<E extends EventMap> {
  readonly #handlers = new Map<PropertyKey, AnyHandler[]>();

  constructor(
    private readonly owner: string,
    private readonly logger: () => Logger,
  ) {}

  /** Adds `handler` for `event`; returns a function that removes it. */
  on<K extends keyof E>(event: K, handler: E[K]): () => void {
    const list = this.#handlers.get(event) ?? [];
    list.push(handler as AnyHandler);
    this.#handlers.set(event, list);
    return () => this.off(event, handler);
  }

  /** Adds `handler` for the next `event` only. */
  once<K extends keyof E>(event: K, handler: E[K]): () => void {
    const off = this.on(event, ((...args: never[]) => {
      off();
      return (handler as (...a: never[]) => unknown)(...args);
    }) as E[K]);
    return off;
  }

  /** Removes `handler` from `event`. */
  off<K extends keyof E>(event: K, handler: E[K]): void {
    const list = this.#handlers.get(event);
    if (!list) return;
    const i = list.indexOf(handler as AnyHandler);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.#handlers.delete(event);
  }

  /** Number of handlers for `event`. */
  listenerCount(event: keyof E): number {
    return this.#handlers.get(event)?.length ?? 0;
  }

  /** Removes every handler. */
  clear(): void {
    this.#handlers.clear();
  }

  /** Calls every handler of `event`. Never throws and never waits. */
  emit<K extends keyof E>(event: K, ...args: Parameters<E[K]>): void {
    const list = this.#handlers.get(event);
    if (!list) return;
    for (const handler of [...list]) {
      try {
        const result = (handler as (...a: Parameters<E[K]>) => unknown)(...args);
        if (result instanceof Promise) result.catch((error: unknown) => this.#report(event, error));
      } catch (error) {
        this.#report(event, error);
      }
    }
  }

  #report(event: keyof E, error: unknown): void {
    this.logger().error(`${this.owner}: a "${String(event)}" event handler threw`, {
      processor: this.owner,
      error,
    });
  }
}
