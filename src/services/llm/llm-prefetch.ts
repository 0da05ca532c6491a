import type { Clock, TimerHandle } from "../../clock/clock.js";
import { deadline } from "../../clock/deadline.js";
import { whenAborted } from "../../clock/when-aborted.js";
import type { LLMContextSnapshot } from "../../context/llm-context.js";
import { VoicepipeError } from "../../errors.js";
import type { LLMCompletionRequest, LLMStreamEvent } from "./llm-stream.js";

/**
 * Most stream events one preemptive answer holds before its turn is confirmed. Past it the
 * stream is simply not read further until the answer is claimed (the provider's socket buffers,
 * then waits); an answer's text comes in a few hundred pieces, so this bounds only a runaway one.
 */
export const PREFETCH_MAX_EVENTS = 4096;

/**
 * Most characters of text and tool-call arguments one preemptive answer holds before its turn is
 * confirmed; past it the stream is not read further until claimed, as for
 * {@link PREFETCH_MAX_EVENTS}. A spoken answer is a few hundred characters.
 */
export const PREFETCH_MAX_CHARS = 1_000_000;

/**
 * Longest time a preemptive answer waits for its turn to be confirmed, in ms. A user who goes on
 * talking this long has made it stale anyway; its request is closed.
 */
export const PREFETCH_UNCLAIMED_MS = 10_000;

/** Why a preemptive answer was let go: named in the abort so a debugger sees it. */
export class PrefetchDiscardedError extends VoicepipeError {
  readonly code = "VP_LLM_PREFETCH_DISCARDED";
  constructor(service: string, why: string) {
    super(`${service}: the preemptive answer was discarded (${why})`, { stack: false });
  }
}

/** What an {@link LLMPrefetch} needs from its service. */
export interface LLMPrefetchHost {
  readonly name: string;
  readonly clock: Clock;
  readonly stallTimeoutMs: number;
  /** Opens one streamed request (the provider's `streamCompletion`). */
  stream(request: LLMCompletionRequest): AsyncIterable<LLMStreamEvent>;
  /** Told once when the prefetch is discarded unclaimed, for whatever reason. */
  discarded(prefetch: LLMPrefetch): void;
  /**
   * Told each piece of the answer's text as it is held, and once more with `last` (and no text)
   * when the answer is complete; never after the claim or a discard. Must not throw.
   */
  heard(prefetch: LLMPrefetch, text: string, last: boolean): void;
}

/** Ids of prefetches, unique in the process (a TTS tells one held answer from the next by it). */
let prefetches = 0;

/**
 * One answer requested before the user's turn was confirmed (preemptive generation,
 * docs/design/llm-services.md): `request` (the context as the turn would make it) is sent at once
 * and its stream events are held here, bounded, until the completion of the confirmed turn claims
 * them ({@link claim}) or the answer is discarded ({@link discard}).
 *
 * It pushes nothing and records nothing: only the claimer turns events into frames, tool calls and
 * metrics, exactly as for a request it made itself, so a claimed answer is indistinguishable from a
 * fresh one that was very fast. A prefetch that fails or stalls before it is claimed is dropped
 * quietly: the confirmed turn then makes its own request, with its own retry and reporting.
 *
 * Every wait has a deadline: each read `stallTimeoutMs`, the whole prefetch
 * {@link PREFETCH_UNCLAIMED_MS} until claimed.
 */
export class LLMPrefetch {
  /** This answer's id (`LLMPreemptiveTextFrame.answerId`). */
  readonly id = ++prefetches;
  /** The request that was sent. */
  readonly request: LLMContextSnapshot;
  readonly #host: LLMPrefetchHost;
  readonly #controller = new AbortController();
  /** Stops the pump's wait (claim or discard); the request itself stays open when claimed. */
  readonly #pumpStop = new AbortController();
  readonly #events: LLMStreamEvent[] = [];
  #iterator: AsyncIterator<LLMStreamEvent> | undefined;
  /** The read under way, if any: a claimer takes it over. */
  #inflight: Promise<IteratorResult<LLMStreamEvent>> | undefined;
  /** When the read under way began (clock ms): a claimer's wait for it counts from then. */
  #inflightSince = 0;
  /** Characters of text and arguments held. */
  #chars = 0;
  #done = false;
  #failed = false;
  #claimed = false;
  #unclaimed: TimerHandle | undefined;

  constructor(host: LLMPrefetchHost, request: LLMContextSnapshot) {
    this.#host = host;
    this.request = request;
    this.#unclaimed = host.clock.setTimer(() => {
      this.#unclaimed = undefined;
      this.discard(`not claimed within ${PREFETCH_UNCLAIMED_MS} ms`);
    }, PREFETCH_UNCLAIMED_MS);
    void this.#pump();
  }

  /** Whether it can still be claimed: not failed, discarded or claimed. */
  get live(): boolean {
    return !this.#failed && !this.#claimed && !this.#controller.signal.aborted;
  }

  /** Stream events held so far (bounded by {@link PREFETCH_MAX_EVENTS}). */
  get held(): number {
    return this.#events.length;
  }

  /**
   * Whether `snapshot` is exactly the request this prefetch made: as many messages, each the same
   * frozen object except the last (the turn's message, parsed twice), which must be equal as data;
   * the same tool list and tool choice. Cheap: identity checks and one serialised message.
   */
  matches(snapshot: LLMContextSnapshot): boolean {
    const sent = this.request;
    const n = sent.messages.length;
    if (n === 0 || snapshot.messages.length !== n || snapshot.tools !== sent.tools) return false;
    if (JSON.stringify(snapshot.toolChoice) !== JSON.stringify(sent.toolChoice)) return false;
    for (let i = 0; i < n - 1; i++) if (snapshot.messages[i] !== sent.messages[i]) return false;
    const [mine, theirs] = [sent.messages[n - 1], snapshot.messages[n - 1]];
    return mine === theirs || JSON.stringify(mine) === JSON.stringify(theirs);
  }

  /**
   * Takes the answer over: the events held, then the rest of the stream as it comes. `signal`
   * now owns the request (its abort closes it). Returns nothing when the prefetch can no longer
   * be used (failed, discarded, or already claimed): the caller makes its own request.
   */
  claim(signal: AbortSignal): AsyncIterator<LLMStreamEvent> | undefined {
    if (!this.live || signal.aborted) return undefined;
    this.#claimed = true;
    this.#clearTimer();
    this.#pumpStop.abort();
    whenAborted(signal, () => this.#controller.abort(signal.reason));
    const events = this.#events;
    const host = this.#host;
    const iterator = (): AsyncIterator<LLMStreamEvent> => this.#iterator!;
    const done = (): boolean => this.#done;
    const takeInflight = (): Promise<IteratorResult<LLMStreamEvent>> | undefined => {
      const read = this.#inflight;
      this.#inflight = undefined;
      if (!read) return undefined;
      // The stall deadline of the read under way runs from when it began, not from the claim:
      // a stream silent across the claim is a stall after `stallTimeoutMs` in all.
      const left = Math.max(0, host.stallTimeoutMs - (host.clock.now() - this.#inflightSince));
      return deadline(host.clock, read, left, `${host.name}: waiting for the next piece of the answer`, {
        io: true,
      });
    };
    return {
      next: async (): Promise<IteratorResult<LLMStreamEvent>> => {
        const held = events.shift();
        if (held !== undefined) return { done: false, value: held };
        const read = takeInflight();
        if (read) return read;
        if (done()) return { done: true, value: undefined };
        return iterator().next();
      },
      return: async (): Promise<IteratorResult<LLMStreamEvent>> => {
        events.length = 0;
        this.#controller.abort(new PrefetchDiscardedError(this.#host.name, "its answer was closed"));
        await this.#iterator?.return?.();
        return { done: true, value: undefined };
      },
    };
  }

  /** Closes the request and drops what it held (a newer turn, an interruption, the service stopping). */
  discard(why: string): void {
    if (this.#claimed) return;
    this.#clearTimer();
    this.#events.length = 0;
    this.#pumpStop.abort();
    if (this.#controller.signal.aborted) return;
    this.#controller.abort(new PrefetchDiscardedError(this.#host.name, why));
    this.#iterator?.return?.().catch(() => undefined);
    this.#host.discarded(this);
  }

  /** Reads the stream into the hold until the answer is complete, claimed, discarded, full or broken. */
  async #pump(): Promise<void> {
    const host = this.#host;
    const what = `${host.name}: waiting for the next piece of a preemptive answer`;
    try {
      const stream = host.stream({ context: this.request, signal: this.#controller.signal });
      this.#iterator = stream[Symbol.asyncIterator]();
      while (
        !this.#pumpStop.signal.aborted &&
        this.#events.length < PREFETCH_MAX_EVENTS &&
        this.#chars < PREFETCH_MAX_CHARS
      ) {
        const read = this.#iterator.next();
        this.#inflight = read;
        this.#inflightSince = host.clock.now();
        const next = await deadline(host.clock, read, host.stallTimeoutMs, what, {
          io: true,
          signal: this.#pumpStop.signal,
        });
        if (this.#inflight !== read) return; // claimed meanwhile: the claimer took this read
        this.#inflight = undefined;
        if (next.done) {
          this.#done = true;
          host.heard(this, "", true);
          return;
        }
        const event = next.value;
        this.#events.push(event);
        this.#chars += heldChars(event);
        if (event.type === "text" && event.text !== "") host.heard(this, event.text, false);
        // The answer is complete: what follows (usage, the body's end) is the claimer's to read.
        if (event.type === "complete") {
          host.heard(this, "", true);
          return;
        }
      }
    } catch {
      if (this.#claimed) return; // the claimer has the read under way, and its outcome
      // Failed or stalled before it was claimed: dropped; the confirmed turn asks again.
      this.#failed = true;
      this.discard("its request failed");
    }
  }

  #clearTimer(): void {
    this.#unclaimed?.cancel();
    this.#unclaimed = undefined;
  }
}

/** Characters an event holds (text and tool-call arguments; the rest is small and bounded). */
function heldChars(event: LLMStreamEvent): number {
  if (event.type === "text") return event.text.length;
  if (event.type === "tool-call") return (event.arguments?.length ?? 0) + (event.name?.length ?? 0);
  return 0;
}
