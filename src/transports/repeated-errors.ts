/**
 * Says a repeated problem once, then counts it: the first occurrence of each kind goes to
 * `report` (an ErrorFrame upstream, a log line); later ones only increase its count, and
 * {@link summarize} logs one line per kind that repeated. Kinds are a small fixed set chosen
 * by the caller, so the map never grows with the session.
 */
export class RepeatedErrors {
  readonly #counts = new Map<string, { count: number; message: string }>();

  constructor(
    private readonly report: (message: string) => void,
    private readonly log: (message: string) => void,
  ) {}

  /** Reports `message` the first time `kind` happens; counts it after that. */
  once(kind: string, message: () => string): void {
    const seen = this.#counts.get(kind);
    if (seen) {
      seen.count++;
      return;
    }
    const text = message();
    this.#counts.set(kind, { count: 1, message: text });
    this.report(text);
  }

  /** How many times `kind` happened. */
  count(kind: string): number {
    return this.#counts.get(kind)?.count ?? 0;
  }

  /** Logs one line for each kind that happened more than once, and forgets the counts. */
  summarize(): void {
    for (const { count, message } of this.#counts.values()) {
      if (count > 1) this.log(`${message} (${count} times in all)`);
    }
    this.#counts.clear();
  }
}
