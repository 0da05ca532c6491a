import type { TranscriptionTotals } from "../../frames/transcribing.js";

/**
 * Most STT services followed at once. One is the rule; a switcher or parallel branches make a few.
 * Past it the service heard from longest ago is forgotten, so a misbuilt pipeline cannot grow it.
 */
const MAX_SOURCES = 8;

/**
 * Whether transcriptions announced by `TranscriptionPendingFrame`s are still unanswered, from the
 * totals each frame carries (docs/design/conversation.md). Keeps the highest totals seen per
 * service: the pending and settled frames travel in different lanes and may arrive out of order,
 * and a frame that never arrives is made up for by the next one. Two numbers per service, whatever
 * the length of the session.
 */
export class PendingTranscriptions {
  readonly #totals = new Map<number, { requested: number; settled: number }>();

  /** Takes the totals a pending or settled frame carries. */
  observe(frame: TranscriptionTotals): void {
    const known = this.#totals.get(frame.sourceId);
    if (known) {
      known.requested = Math.max(known.requested, frame.requested);
      known.settled = Math.max(known.settled, frame.settled);
      // Most recently heard last, so the one dropped at the bound is the one silent longest.
      this.#totals.delete(frame.sourceId);
      this.#totals.set(frame.sourceId, known);
      return;
    }
    if (this.#totals.size >= MAX_SOURCES) this.#totals.delete(this.#totals.keys().next().value!);
    this.#totals.set(frame.sourceId, { requested: frame.requested, settled: frame.settled });
  }

  /** Some service has a transcription not yet answered: a final may still come. */
  get pending(): boolean {
    for (const t of this.#totals.values()) if (t.requested > t.settled) return true;
    return false;
  }

  /**
   * Some service announces its transcriptions: when nothing is pending, no final is on its way
   * from it (a streaming STT announces nothing, and its final may come at any time).
   */
  get announced(): boolean {
    return this.#totals.size > 0;
  }

  /** The session ended: forget every service. */
  clear(): void {
    this.#totals.clear();
  }
}
