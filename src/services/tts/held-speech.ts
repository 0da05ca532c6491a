import type { Clock, TimerHandle } from "../../clock/clock.js";
import { untilAborted, whenAborted } from "../../clock/when-aborted.js";
import { EngineReads } from "./engine-reads.js";
import { VoicepipeError } from "../../errors.js";
import { PieceStall } from "./piece-stall.js";
import type { SynthesisOutput, SynthesisRequest } from "./tts-service.js";

/**
 * Longest time speech synthesised ahead waits for its answer to be confirmed, in ms (as long as the
 * LLM holds the answer it came from).
 */
export const HELD_SPEECH_UNCLAIMED_MS = 10_000;

/** Most outputs (audio chunks and word timings) held before the answer is confirmed. */
export const HELD_SPEECH_MAX_OUTPUTS = 4096;

/** Most audio held before the answer is confirmed, in seconds of the engine's audio. */
export const HELD_SPEECH_MAX_SECONDS = 60;

/** Why speech synthesised ahead was let go: named in the abort, so a debugger sees it. */
export class HeldSpeechDiscardedError extends VoicepipeError {
  readonly code = "VP_TTS_HELD_SPEECH_DISCARDED";
  constructor(service: string, why: string) {
    super(`${service}: the speech synthesised ahead was discarded (${why})`, { stack: false });
  }
}

/** What a {@link HeldSpeech} needs from its service. */
export interface HeldSpeechHost {
  readonly name: string;
  readonly clock: Clock;
  readonly stallTimeoutMs: number;
  readonly synthesisTimeoutMs: number;
  readonly releaseTimeoutMs: number;
  /** The engine's sample rate (the audio bound is counted in its samples). */
  readonly engineSampleRate: number;
  /** The service's engine (`TTSService.synthesize`). */
  synthesize(text: string, signal: AbortSignal, request: SynthesisRequest): AsyncIterable<SynthesisOutput>;
  /** Told once when it is discarded unclaimed, for whatever reason (a timer, a bound, its engine failing, the service). Must not throw. */
  discarded(): void;
  /** The provider's context of an unclaimed synthesis is over (`TTSService.endContext`, "interrupted"). Must not throw. */
  contextDropped(contextId: string): void;
}

/**
 * The first sentence of an answer not confirmed yet, synthesised ahead (preemptive speech,
 * docs/design/tts-services.md): the engine runs at once on its own provider context and what it
 * yields is held here, bounded, until the service speaks the confirmed answer's first sentence. If
 * that is the same text, {@link claim} hands the held outputs over, then the rest as the engine
 * makes them, and the piece is spoken through the same code as any (frames, resampling, words,
 * stall bounds); otherwise {@link discard} stops the engine and cancels its context.
 *
 * Nothing is pushed from here. A synthesis that fails or stalls before it is claimed is dropped
 * quietly: the confirmed answer is then synthesised as usual, with its own reporting.
 *
 * Every wait has a deadline: each engine output `stallTimeoutMs`, the piece `synthesisTimeoutMs`,
 * {@link HELD_SPEECH_UNCLAIMED_MS} until claimed, and letting go `releaseTimeoutMs`. Held: at most
 * {@link HELD_SPEECH_MAX_OUTPUTS} outputs and {@link HELD_SPEECH_MAX_SECONDS} of audio (past
 * either it is discarded).
 */
export class HeldSpeech {
  /** The speakable text sent to the engine: a piece it can stand for must be exactly this. */
  readonly speakable: string;
  /** The provider's context it runs on: the claiming response goes on in it. */
  readonly contextId: string;
  readonly #host: HeldSpeechHost;
  readonly #control = new AbortController();
  readonly #outputs: SynthesisOutput[] = [];
  #heldSamples = 0;
  /** Wakes the claimer's wait for the next output. */
  #wake: (() => void) | undefined;
  #done = false;
  #error: unknown;
  #claimed = false;
  #contextDropped = false;
  /** The engine was asked: its provider context exists. */
  #sent = false;
  #discarded = false;
  #unclaimed: TimerHandle | undefined;
  /** The pump's own bounds, until claimed: then the claimer's (its stall and synthesis bounds) take over. */
  #stall: PieceStall | undefined;
  #overall: TimerHandle | undefined;
  /** Settles once the engine has let go (bounded by `releaseTimeoutMs` after an abort). */
  readonly settled: Promise<void>;

  constructor(host: HeldSpeechHost, speakable: string, contextId: string) {
    this.#host = host;
    this.speakable = speakable;
    this.contextId = contextId;
    this.#unclaimed = host.clock.setTimer(() => {
      this.#unclaimed = undefined;
      this.discard(`not claimed within ${HELD_SPEECH_UNCLAIMED_MS} ms`);
    }, HELD_SPEECH_UNCLAIMED_MS);
    // A microtask later: an engine that throws at once must find `settled` already there.
    this.settled = Promise.resolve().then(() => this.#pump());
  }

  /** Whether it can still be claimed: not failed, discarded or claimed. */
  get live(): boolean {
    return this.#error === undefined && !this.#claimed && !this.#control.signal.aborted;
  }

  /**
   * Takes the synthesis over: the outputs held, then the rest as the engine makes them. `signal`
   * now owns it (its abort stops the engine). Returns nothing when it can no longer be used.
   */
  claim(signal: AbortSignal): AsyncIterator<SynthesisOutput> | undefined {
    if (!this.live || signal.aborted) return undefined;
    this.#claimed = true;
    this.#clearTimer();
    // From now on the claimer waits on this pump under its own bounds, which report a stall as
    // any piece's; its abort reaches the engine through the control below.
    this.#stall?.stop();
    this.#overall?.cancel();
    const stopFollowing = whenAborted(signal, () => this.#control.abort(signal.reason));
    void this.settled.then(stopFollowing);
    return {
      next: () => this.#next(),
      return: async () => {
        this.#outputs.length = 0;
        if (!this.#done)
          this.#control.abort(new HeldSpeechDiscardedError(this.#host.name, "its piece was closed"));
        await this.settled;
        return { done: true, value: undefined };
      },
    };
  }

  /**
   * Stops the engine and drops what it held, unless claimed; its provider context is cancelled once
   * the engine has let go (a synthesis that finished left it open for the answer to go on in).
   */
  discard(why: string): void {
    if (this.#claimed || this.#discarded) return;
    this.#discarded = true;
    this.#clearTimer();
    this.#outputs.length = 0;
    if (!this.#control.signal.aborted)
      this.#control.abort(new HeldSpeechDiscardedError(this.#host.name, why));
    this.#host.discarded();
    void this.settled.then(() => this.#dropContext());
  }

  async #next(): Promise<IteratorResult<SynthesisOutput>> {
    for (;;) {
      const output = this.#outputs.shift();
      if (output !== undefined) return { done: false, value: output };
      if (this.#error !== undefined) throw this.#error;
      if (this.#done) return { done: true, value: undefined };
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  #woken(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Reads the engine into the hold (or, once claimed, for the claimer) until it is done or stopped. */
  async #pump(): Promise<void> {
    const host = this.#host;
    const control = this.#control;
    if (control.signal.aborted) return; // discarded before it began: the engine is not asked
    const stall = (this.#stall = new PieceStall(host.clock, host.stallTimeoutMs, () =>
      control.abort(
        new HeldSpeechDiscardedError(host.name, `the engine gave nothing for ${host.stallTimeoutMs} ms`),
      ),
    ));
    const overall = (this.#overall = host.clock.setTimer(
      () =>
        control.abort(new HeldSpeechDiscardedError(host.name, `not done in ${host.synthesisTimeoutMs} ms`)),
      host.synthesisTimeoutMs,
    ));
    const request: SynthesisRequest = {
      contextId: this.contextId,
      index: 0,
      waitForConnection: (opened) => stall.connection(untilAborted(opened, control.signal)),
      waitForRateLimit: (until) => stall.aside(untilAborted(until, control.signal)),
    };
    const maxSamples = HELD_SPEECH_MAX_SECONDS * host.engineSampleRate;
    let reads: EngineReads | undefined;
    try {
      this.#sent = true;
      const iterator = host.synthesize(this.speakable, control.signal, request)[Symbol.asyncIterator]();
      reads = new EngineReads(iterator, stall, control.signal);
      for (;;) {
        const result = await reads.next();
        if (result.done) break;
        const output = result.value;
        if (output instanceof Int16Array) {
          if (output.length === 0) continue;
          this.#heldSamples += this.#claimed ? 0 : output.length;
        }
        this.#outputs.push(output);
        if (
          !this.#claimed &&
          (this.#outputs.length > HELD_SPEECH_MAX_OUTPUTS || this.#heldSamples > maxSamples)
        ) {
          this.discard("it held more than its bound before the answer was confirmed");
          throw control.signal.reason;
        }
        this.#woken();
      }
      this.#done = true;
    } catch (error) {
      this.#error = control.signal.aborted ? control.signal.reason : error;
      if (!control.signal.aborted) control.abort(this.#error);
      // Failed or stalled before it was claimed: dropped now (its answer is synthesised as usual).
      if (!this.#claimed) this.discard("its engine failed or stalled");
    } finally {
      stall.stop();
      overall.cancel();
      this.#woken();
      if (control.signal.aborted && reads) {
        // Past the bound the engine is left to finish on its own, as a piece's would be.
        await reads
          .letGo(
            host.clock,
            host.releaseTimeoutMs,
            `${host.name}: waiting for a synthesis made ahead to stop`,
          )
          .catch(noop);
      }
    }
  }

  /** Once, after a discard: a claimed synthesis's context is the claiming response's to end. */
  #dropContext(): void {
    if (this.#contextDropped || !this.#sent) return;
    this.#contextDropped = true;
    this.#host.contextDropped(this.contextId);
  }

  #clearTimer(): void {
    this.#unclaimed?.cancel();
    this.#unclaimed = undefined;
  }
}

function noop(): void {}
