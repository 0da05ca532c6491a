import type { Logger } from "../logger.js";

/** Options of {@link RepeatReporter}. */
export interface RepeatReporterOptions {
  /** Who reports (a processor's name): starts every summary line and is its `processor` field. */
  owner: string;
  /** Where summaries go. A function, so a processor can hand over the logger it gets at setup. */
  logger: () => Logger;
  /**
   * Where {@link RepeatReporter.reportOnce} sends a cause's first occurrence (e.g. an `ErrorFrame`
   * upstream), apart from where summaries go. @default a line on `logger()` at the cause's level
   */
  report?: (message: string) => void;
  /** Time in ms, for spacing summaries (a processor passes its task clock's `now`). */
  now: () => number;
  /** Least time between two summary lines of one cause, in ms of `now()`. @default 10000 */
  summaryIntervalMs?: number;
  /**
   * Most causes tracked at once; further causes share one "other causes" entry, so a stream of
   * ever-different causes cannot grow memory or flood the log. @default 64
   */
  maxCauses?: number;
}

interface Cause {
  /** The first occurrence's text, repeated in summaries. */
  readonly message: string;
  readonly level: "warn" | "error";
  /** Occurrences since the cause was first seen (or resolved). */
  total: number;
  /** Occurrences not yet summarised. */
  pending: number;
  /** When the last summary (or the first occurrence) was. */
  sinceMs: number;
}

const OTHER = "\u0000other causes";

/**
 * Says a repeated problem once, then counts it: the answer to "a bad chunk logged per frame".
 *
 * The caller reports the first occurrence of a cause itself (an `ErrorFrame` via `pushError`, or a
 * log line that says what to do) when {@link occurred} returns true, or lets {@link reportOnce}
 * hand it to the `report` option. Later occurrences of the same
 * cause are only counted; one summary line ("… happened 57 more times in the last 10.0 s") is
 * logged at most every `summaryIntervalMs` while they keep coming, and the rest when the cause is
 * {@link resolved} or at {@link flush} (call it at end, cancel and teardown).
 *
 * Guarantees: at most one first report per cause until it is resolved; at most one summary line
 * per cause per `summaryIntervalMs`, plus one at resolve/flush; memory bounded by `maxCauses`. No
 * timer: summaries are written from `occurred`, `resolved` and `flush`, so nothing is left running.
 *
 * @example
 * const repeats = new RepeatReporter({ owner: this.name, logger: () => this.logger, now: () => this.clock.now() });
 * if (repeats.occurred(`rate:${rate}`, message)) void this.pushError(message);
 * // or, with `report: (m) => void this.pushError(m)` among the options:
 * repeats.reportOnce("pts", () => `${this.name}: a frame has pts NaN; …`);
 * // at end / cancel / teardown:
 * repeats.flush();
 */
export class RepeatReporter {
  readonly #owner: string;
  readonly #logger: () => Logger;
  readonly #report: ((message: string) => void) | undefined;
  readonly #now: () => number;
  readonly #intervalMs: number;
  readonly #maxCauses: number;
  readonly #causes = new Map<string, Cause>();

  constructor(options: RepeatReporterOptions) {
    this.#owner = options.owner;
    this.#logger = options.logger;
    this.#report = options.report;
    this.#now = options.now;
    this.#intervalMs = options.summaryIntervalMs ?? 10_000;
    this.#maxCauses = options.maxCauses ?? 64;
  }

  /**
   * Records one occurrence of `cause` (a short stable key, e.g. `"rate:44100"`).
   * Returns true for the first occurrence since creation or since the cause was resolved: report
   * that one yourself, with what to do. Returns false for a repeat (counted, summarised later).
   *
   * @param message - What the first occurrence said; summaries repeat it so they read alone. A
   *   function is called only for a first occurrence, so a repeat (per frame) builds no string.
   * @param level - Level of the summary lines. @default "error"
   */
  occurred(cause: string, message: string | (() => string), level: "warn" | "error" = "error"): boolean {
    let key = cause;
    if (!this.#causes.has(key) && this.#causes.size >= this.#maxCauses) key = OTHER;
    const known = this.#causes.get(key);
    const now = this.#now();
    if (!known) {
      const said = typeof message === "string" ? message : message();
      const text = key === OTHER ? `other problems (first: ${said})` : said;
      this.#causes.set(key, { message: text, level, total: 1, pending: 0, sinceMs: now });
      return true;
    }
    known.total++;
    known.pending++;
    if (now - known.sinceMs >= this.#intervalMs) this.#summarise(known, now);
    return false;
  }

  /**
   * {@link occurred}, with the first report made here: the first occurrence's message goes to
   * the `report` option (or, without one, to the log at `level`); repeats are only counted and
   * summarised. For callers whose first report is a plain message.
   */
  reportOnce(cause: string, message: () => string, level: "warn" | "error" = "error"): void {
    let said = "";
    const first = this.occurred(cause, () => (said = message()), level);
    if (!first) return;
    if (this.#report) this.#report(said);
    else this.#logger()[level](said, { processor: this.#owner });
  }

  /** Occurrences of `cause` since it was first seen or last resolved (0 if none). */
  count(cause: string): number {
    return this.#causes.get(cause)?.total ?? 0;
  }

  /**
   * The cause is over (e.g. the model works again): summarises its repeats not yet said and
   * forgets it, so a new occurrence is reported again.
   */
  resolved(cause: string): void {
    const known = this.#causes.get(cause);
    if (!known) return;
    this.#summarise(known, this.#now());
    this.#causes.delete(cause);
  }

  /**
   * Summarises every cause's repeats not yet said (call at end, cancel and teardown). The causes
   * stay known: a cause that occurs again later is counted, never reported as new. Idempotent.
   */
  flush(): void {
    if (this.#causes.size === 0) return;
    const now = this.#now();
    for (const known of this.#causes.values()) this.#summarise(known, now);
  }

  #summarise(cause: Cause, now: number): void {
    if (cause.pending > 0) {
      const seconds = ((now - cause.sinceMs) / 1000).toFixed(1);
      const times = cause.pending === 1 ? "1 more time" : `${cause.pending} more times`;
      // Messages usually start with the owner's name already: say it once.
      const prefix = `${this.#owner}: `;
      const message = cause.message.startsWith(prefix) ? cause.message.slice(prefix.length) : cause.message;
      this.#logger()[cause.level](`${prefix}${times} in the last ${seconds} s: ${message}`, {
        processor: this.#owner,
        repeats: cause.pending,
        total: cause.total,
      });
    }
    cause.pending = 0;
    cause.sinceMs = now;
  }
}
