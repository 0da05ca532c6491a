import { whenAborted } from "../../clock/when-aborted.js";
import { DeadlineExceededError, deadline } from "../../clock/deadline.js";
import { LLMContext, type LLMContextSnapshot } from "../../context/llm-context.js";
import { InvalidOptionError, LLMContextError, VoicepipeError } from "../../errors.js";
import { type Frame, FrameDirection } from "../../frames/frame.js";
import { FunctionCallsStartedFrame, type FunctionCallInfo } from "../../frames/function-calls.js";
import { InterruptionFrame, type StartFrame } from "../../frames/lifecycle.js";
import {
  LLMContextFrame,
  LLMFullResponseEndFrame,
  LLMFullResponseStartFrame,
  LLMMessagesAppendFrame,
  LLMMessagesUpdateFrame,
  LLMPreemptiveContextFrame,
  LLMPreemptiveTextFrame,
  LLMRunFrame,
  LLMSetToolsFrame,
} from "../../frames/llm.js";
import { type MetricsData, MetricsFrame } from "../../frames/metrics.js";
import { LLMTextFrame } from "../../frames/text.js";
import {
  FrameProcessor,
  type FrameProcessorEvents,
  type FrameProcessorOptions,
} from "../../processors/frame-processor.js";
import { applyContextChange, refusedChange } from "../../processors/aggregators/context-frames.js";
import { RepeatReporter } from "../../reporting/repeat-reporter.js";
import type { FunctionSchema } from "../../context/tools.js";
import type { AnthropicThinkingBlock } from "../../context/messages.js";
import { type FunctionCallBatch, FunctionCallRunner } from "./function-calls/function-call-runner.js";
import type {
  FunctionCallSettings,
  FunctionHandler,
  RegisterFunctionOptions,
} from "./function-calls/function-call-types.js";
import { LLMServiceError } from "./llm-service-error.js";
import type { LLMCompletionRequest, LLMCutShortReason, LLMStreamEvent, LLMUsage } from "./llm-stream.js";
import { LLMPrefetch } from "./llm-prefetch.js";
import { ToolCallAssembler } from "./tool-call-assembler.js";

/** Options common to every LLM service. */
export interface LLMServiceOptions extends FrameProcessorOptions {
  /**
   * The context `LLMRunFrame`, `LLMMessagesAppendFrame`, `LLMMessagesUpdateFrame` and
   * `LLMSetToolsFrame` act on. An `LLMContextFrame` replaces it with the one it carries.
   * @default a new, empty `LLMContext`
   */
  context?: LLMContext;
  /**
   * Longest wait for the next piece of the stream, in ms: for the answer to start (request sent,
   * headers, first chunk) and then between two chunks. Past it the request is abandoned as
   * stalled: retried once when nothing of the answer was pushed yet, else the answer ends there.
   * @default 10000
   */
  stallTimeoutMs?: number;
  /** Wait before the one retry of a failed request (429, 5xx, connection), in ms. @default 500 */
  retryBackoffMs?: number;
  /** Longest wait before a retry when the provider asks for more (`retry-after`), in ms. @default 5000 */
  maxRetryWaitMs?: number;
  /** Push `MetricsFrame`s (ttfb, processing, usage). @default true */
  metrics?: boolean;
  /** How function calls run: timeout, one at a time, bounds (docs/design/function-calls.md). */
  functionCalls?: FunctionCallSettings;
}

/** Events of an LLM service. */
export interface LLMServiceEvents extends FrameProcessorEvents {
  /**
   * A completion failed for good (after its retry, if any). Emitted for every failure, also
   * those whose `ErrorFrame` was not pushed because it repeated one already said.
   */
  completionFailed: (error: LLMServiceError) => void;
}

/** The abort reason of a completion replaced by a newer context. */
class SupersededError extends VoicepipeError {
  readonly code = "VP_LLM_SUPERSEDED";
  constructor(service: string) {
    super(`${service}: a newer context arrived; the answer in progress was stopped`, { stack: false });
  }
}

/** What one completion has produced so far (all attempts together). */
interface Answer {
  readonly startedAtMs: number;
  /** `LLMFullResponseStartFrame` has been pushed: something of the answer went out. */
  started: boolean;
  /**
   * When this attempt's first piece came (text or a tool-call fragment), for the TTFB. A
   * tool-call fragment does not start the answer: nothing of it goes out before the call is
   * whole, so a stall or a break after one can still be retried or failed over.
   */
  firstPieceAtMs: number | undefined;
  usage: LLMUsage | undefined;
  assembler: ToolCallAssembler;
  /** The model stopped before the answer was done, and why. */
  cutShort: LLMCutShortReason | undefined;
  /** Anthropic thinking blocks of this attempt, recorded with its tool calls. */
  thinking: AnthropicThinkingBlock[];
}

let completions = 0;

/**
 * Longest time the rest of a body is read after the provider said the answer was complete, in ms
 * (docs/design/llm-services.md, "The end of an answer"). Reading the body's end lets the HTTP
 * client pool the connection; a body still open past this is abandoned (its socket closed, not
 * reused). Off the answer's path: nobody waits for it.
 */
export const BODY_END_DRAIN_MS = 500;

/** Why a drained body was let go: named in the abort so a debugger sees it. */
class BodyLeftError extends VoicepipeError {
  readonly code = "VP_LLM_BODY_LEFT";
  constructor(service: string) {
    super(`${service}: the answer was complete; the rest of its body was let go`, { stack: false });
  }
}

/**
 * The base of every LLM service (docs/design/llm-services.md). It owns the lifecycle, the
 * frames, deadlines, retries, interruption and metrics; a provider implements two verbs:
 * {@link streamCompletion} (run one streamed request, yield {@link LLMStreamEvent}s) and
 * {@link describeError} (say what a provider error means), plus {@link connect} if it has
 * something to set up at start.
 *
 * On `LLMContextFrame` (or `LLMRunFrame`, or `LLMMessagesAppendFrame`/`LLMMessagesUpdateFrame`
 * with `runLlm`) it takes `context.snapshot()` and streams one answer:
 * `LLMFullResponseStartFrame`, an `LLMTextFrame` per piece of text, then, if the model called
 * tools, the calls recorded in the context (`recordToolCalls`) and a `FunctionCallsStartedFrame`
 * sent both ways, then `LLMFullResponseEndFrame` and `MetricsFrame`s (ttfb, processing, usage).
 *
 * Guarantees:
 * - One request at a time: a new context (or run request) arriving while an answer streams
 *   stops that answer at once (its HTTP request is aborted; what it pushed stands, closed by
 *   `LLMFullResponseEndFrame`) and the new one runs next.
 * - An interruption or cancel aborts the request at once; nothing of it is pushed afterwards.
 * - The answer ends when the provider says it is complete (a `complete` stream event), not when
 *   the body ends: the rest of the body is read in the background for at most
 *   {@link BODY_END_DRAIN_MS}, then let go (docs/design/llm-services.md, "The end of an answer").
 * - Every wait has a deadline (`stallTimeoutMs`); a stalled, rate-limited (429), failing (5xx)
 *   or dropped request is retried once when nothing of its answer went out yet, else reported.
 * - A failure is reported as one `ErrorFrame` per cause (repeats are counted); a rejected or
 *   missing key or a missing SDK marks the service unusable ({@link usable}), and later requests
 *   are refused without reaching the network. A failed request that pushed nothing pushes
 *   nothing downstream (so a switcher can fail over without a seam).
 *
 * Does not guarantee: that a retried answer matches what a stalled one had begun to say (so a
 * stream that stalls after text went out is not retried).
 */
export abstract class LLMService<E extends LLMServiceEvents = LLMServiceEvents> extends FrameProcessor<E> {
  /** The model asked for, reported with metrics. */
  abstract readonly model: string;

  /** Longest wait for the next piece of the stream, in ms (see {@link LLMServiceOptions.stallTimeoutMs}). */
  readonly stallTimeoutMs: number;
  readonly #retryBackoffMs: number;
  readonly #maxRetryWaitMs: number;
  readonly #metrics: boolean;
  #context: LLMContext;
  /** Aborts the completion in progress (a newer context supersedes it). */
  #running: AbortController | undefined;
  /** Why the service cannot work, once it cannot. */
  #unusable: LLMServiceError | undefined;
  readonly #repeats: RepeatReporter;
  readonly #functionCalls: FunctionCallRunner;
  /**
   * Requests whose answer is complete and whose body's end is being read in the background
   * (each for at most {@link BODY_END_DRAIN_MS}); aborted when the service stops.
   */
  readonly #draining = new Set<AbortController>();
  /** The answer started before its turn was confirmed (preemptive generation), if any. */
  #prefetch: LLMPrefetch | undefined;
  /** `connect()` is done: a request can be made. */
  #started = false;
  /**
   * Preemptive answers used as the answer of their confirmed turn (`LLMPreemptiveContextFrame`,
   * docs/design/llm-services.md), over the session.
   */
  preemptiveAnswersUsed = 0;
  /**
   * Preemptive answers discarded, over the session: the turn ended with other words, the context
   * changed, an interruption came, the request failed before it was claimed, or nobody claimed it.
   */
  preemptiveAnswersDiscarded = 0;

  constructor(options: LLMServiceOptions = {}) {
    super(options);
    this.stallTimeoutMs = positive(this.name, "stallTimeoutMs", options.stallTimeoutMs, 10_000);
    this.#retryBackoffMs = positive(this.name, "retryBackoffMs", options.retryBackoffMs, 500, true);
    this.#maxRetryWaitMs = positive(this.name, "maxRetryWaitMs", options.maxRetryWaitMs, 5_000, true);
    this.#metrics = options.metrics ?? true;
    this.#context = options.context ?? new LLMContext();
    this.#repeats = new RepeatReporter({
      owner: this.name,
      logger: () => this.logger,
      now: () => this.clock.now(),
    });
    const service = this; // eslint-disable-line @typescript-eslint/no-this-alias -- the host reads clock and logger late
    this.#functionCalls = new FunctionCallRunner(
      {
        name: this.name,
        get clock() {
          return service.clock;
        },
        get logger() {
          return service.logger;
        },
        broadcast: (make) => this.broadcastFrame(make),
        warnOnce: (cause, message) => this.#repeats.reportOnce(`function:${cause}`, message, "warn"),
      },
      options.functionCalls,
    );
  }

  // ---------------------------------------------------------------- verbs for providers

  /**
   * Runs one streamed completion of `request.context` and yields its pieces. Hand
   * `request.signal` to the provider's client: it aborts on interruption, a newer context, a
   * stall or cancel, and the request must close at once. Throw what the client throws: the base
   * passes it to {@link describeError}. Called once per attempt.
   */
  protected abstract streamCompletion(request: LLMCompletionRequest): AsyncIterable<LLMStreamEvent>;

  /**
   * Says what a provider error means: an {@link LLMServiceError} with the failure kind (which
   * decides retry and usability) and a message naming what to do (e.g. the env var of the key).
   */
  protected abstract describeError(error: unknown): LLMServiceError;

  /**
   * Sets the provider up when the pipeline starts (load the SDK, create the client). Throw an
   * {@link LLMServiceError} (`missing-key`, `missing-sdk`…) to mark the service unusable with
   * that message. @default nothing to do
   */
  protected connect(): void | Promise<void> {}

  // ---------------------------------------------------------------- function calls

  /**
   * Registers the handler of `tool` (made with `defineTool`), replacing one of the same name. When
   * the model calls it, the arguments are checked against the schema and handed over typed; the
   * handler's result (JSON data) goes back to the model (docs/design/function-calls.md). Unless
   * `addToContext: false`, the schema is added to the service's context (replacing a tool of the
   * same name) and to every context adopted later from an `LLMContextFrame`. Throws
   * `LLMContextError` for a malformed schema, `InvalidOptionError` for a bad option.
   *
   * @example
   * const getWeather = defineTool({ name: "get_weather", description: "Weather in a city",
   *   parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } });
   * llm.registerFunction(getWeather, async ({ city }, { signal }) => fetchWeather(city, signal), { timeoutMs: 5_000 });
   */
  registerFunction<T extends FunctionSchema>(
    tool: T,
    handler: FunctionHandler<T>,
    options: RegisterFunctionOptions = {},
  ): void {
    // The runner checks arguments against `tool` before calling the handler, so it gets ToolArguments<T>.
    const registration = this.#functionCalls.register(tool, handler as unknown as FunctionHandler, options);
    if (registration.addToContext) offerTool(this.#context, registration.tool);
  }

  /**
   * Removes the handler of `name` (calls already made still run). A tool this service added to its
   * context is taken out of it. Returns whether there was a handler.
   */
  unregisterFunction(name: string): boolean {
    const registration = this.#functionCalls.registrations.find((r) => r.tool.name === name);
    if (!this.#functionCalls.unregister(name)) return false;
    if (registration?.addToContext && this.#context.tools.some((t) => t.name === name)) {
      this.#context.setTools(this.#context.tools.filter((t) => t.name !== name));
    }
    return true;
  }

  /** Function calls made and not settled yet (running, or waiting their turn). */
  get functionCallsInFlight(): number {
    return this.#functionCalls.inFlight;
  }

  /** Results handlers returned after their call had been cancelled or had timed out: dropped. */
  get lateFunctionResultsDropped(): number {
    return this.#functionCalls.lateResultsDropped;
  }

  // ---------------------------------------------------------------- public state

  /** The context run by `LLMRunFrame` and changed by the message frames: the last one seen. */
  get llmContext(): LLMContext {
    return this.#context;
  }

  /** Whether the service can work: false after a rejected or missing key or a missing SDK. */
  get usable(): boolean {
    return this.#unusable === undefined;
  }

  // ---------------------------------------------------------------- the frame protocol

  /** A newer context stops the answer in progress at once (one request at a time). */
  override queueFrame(
    frame: Frame,
    direction: FrameDirection = FrameDirection.DOWNSTREAM,
  ): void | Promise<void> {
    if (this.#running && direction === FrameDirection.DOWNSTREAM && startsCompletion(frame)) {
      this.#running.abort(new SupersededError(this.name));
    }
    // Taken on arrival, ahead of the lane: the request goes out now, whatever the lane is doing.
    // Before the provider is set up it waits in the lane, behind the start, like any frame.
    if (
      frame instanceof LLMPreemptiveContextFrame &&
      direction === FrameDirection.DOWNSTREAM &&
      this.#started
    ) {
      this.#preempt(frame);
      return;
    }
    return super.queueFrame(frame, direction);
  }

  override processFrame(frame: Frame, direction: FrameDirection, signal?: AbortSignal): void | Promise<void> {
    if (frame instanceof LLMPreemptiveContextFrame && direction === FrameDirection.DOWNSTREAM) {
      this.#preempt(frame); // queued before the start was done
      return;
    }
    if (direction === FrameDirection.DOWNSTREAM && signal) {
      if (frame instanceof LLMContextFrame) {
        this.#adopt(frame.context);
        return this.#complete(frame.context, signal);
      }
      if (frame instanceof LLMRunFrame) return this.#complete(this.#context, signal);
      if (
        frame instanceof LLMMessagesAppendFrame ||
        frame instanceof LLMMessagesUpdateFrame ||
        frame instanceof LLMSetToolsFrame
      ) {
        const refused = applyContextChange(this.#context, frame);
        if (refused) {
          // Said once per kind of frame, then counted: a broken producer must not flood the session.
          if (this.#repeats.occurred(`refused:${frame.constructor.name}`, () => refused.message, "warn"))
            void this.pushError(refusedChange(this.name, frame, refused));
          return;
        }
        if (!(frame instanceof LLMSetToolsFrame) && frame.runLlm)
          return this.#complete(this.#context, signal);
        return;
      }
    }
    if (frame instanceof InterruptionFrame) {
      // Cancellable calls are cancelled once the interruption is on its way, so their
      // FunctionCallCancelFrames follow it instead of overtaking it.
      const forwarded = super.processFrame(frame, direction, signal);
      this.#functionCalls.interrupt();
      this.#discardPrefetch("an interruption");
      return forwarded;
    }
    if (direction === FrameDirection.UPSTREAM && signal) {
      // The assistant aggregator sits after the output transport: once a group of function calls
      // has its results it asks for the answer upstream. The request ends here; after the end
      // began there is nobody left to answer.
      if (frame instanceof LLMContextFrame) {
        if (this.state !== "running") return;
        this.#adopt(frame.context);
        return this.#complete(frame.context, signal);
      }
      if (frame instanceof LLMRunFrame) {
        if (this.state !== "running") return;
        return this.#complete(this.#context, signal);
      }
    }
    return super.processFrame(frame, direction, signal);
  }

  /** Takes `context` as the service's context, offering it the registered tools it lacks. */
  #adopt(context: LLMContext): void {
    if (context === this.#context) return;
    this.#context = context;
    for (const registration of this.#functionCalls.registrations) {
      if (registration.addToContext && !context.tools.some((t) => t.name === registration.tool.name)) {
        offerTool(context, registration.tool);
      }
    }
  }

  protected override async start(_frame: StartFrame): Promise<void> {
    try {
      await this.connect();
    } catch (error) {
      if (!(error instanceof LLMServiceError)) throw error;
      this.#fail(error);
    }
    this.#started = true;
  }

  protected override async end(): Promise<void> {
    this.#discardPrefetch("the pipeline ended");
    await this.#functionCalls.end();
    this.#letGoOfBodies();
    this.#repeats.flush();
  }

  protected override cancel(): void {
    this.#functionCalls.close("the pipeline was cancelled");
    this.#discardPrefetch("the pipeline was cancelled");
    this.#letGoOfBodies();
    this.#repeats.flush();
  }

  protected override cleanup(): void {
    this.#functionCalls.close("torn down");
    this.#discardPrefetch("torn down");
    this.#letGoOfBodies();
    this.#repeats.flush();
  }

  /** Bodies still being read after their answer: closed now (the service is stopping). */
  #letGoOfBodies(): void {
    for (const request of this.#draining) request.abort(new BodyLeftError(this.name));
    this.#draining.clear();
  }

  /** Requests whose body's end is still being read after their answer was complete. */
  get bodiesDraining(): number {
    return this.#draining.size;
  }

  // ---------------------------------------------------------------- preemptive generation

  /**
   * Starts the answer of a turn not confirmed yet (docs/design/llm-services.md, "Preemptive
   * generation"): the request goes out now and its answer is held until a context that matches
   * claims it. Not while an answer streams (it will change the context) or when the service
   * cannot work.
   */
  #preempt(frame: LLMPreemptiveContextFrame): void {
    this.#discardPrefetch("a newer preemptive request");
    if (this.state !== "running" || this.#running || this.#unusable) return;
    const context = frame.context;
    this.#adopt(context);
    // Adopting may have offered the context this service's tools: the request carries them, as
    // the confirmed turn's will.
    const request =
      context.tools === frame.request.tools && context.toolChoice === frame.request.toolChoice
        ? frame.request
        : Object.freeze({ ...frame.request, tools: context.tools, toolChoice: context.toolChoice });
    const service = this; // eslint-disable-line @typescript-eslint/no-this-alias -- the host reads clock late
    this.#prefetch = new LLMPrefetch(
      {
        name: this.name,
        get clock() {
          return service.clock;
        },
        stallTimeoutMs: this.stallTimeoutMs,
        stream: (request) => this.streamCompletion(request),
        discarded: (prefetch) => {
          this.preemptiveAnswersDiscarded++;
          if (this.#prefetch === prefetch) this.#prefetch = undefined;
        },
        // The held text goes on as it comes, so a TTS can synthesise the first sentence ahead
        // (docs/design/tts-services.md, "Preemptive speech"); nothing else acts on these frames.
        heard: (prefetch, text, last) => {
          if (this.#prefetch !== prefetch) return;
          void this.pushFrame(new LLMPreemptiveTextFrame(prefetch.id, text, last));
        },
      },
      request,
    );
  }

  /**
   * Discards the answer held for a turn not confirmed yet, if any (its request is closed). Called by
   * `LLMSwitcher` on the service it switches away from: the confirmed turn will go elsewhere.
   * Returns whether there was one.
   */
  discardPreemptiveAnswer(why = "discarded by request"): boolean {
    const had = this.#prefetch !== undefined;
    this.#discardPrefetch(why);
    return had;
  }

  /** The preemptive answer that is exactly the request for `snapshot`, taken; any other is discarded. */
  #takePrefetch(snapshot: LLMContextSnapshot): LLMPrefetch | undefined {
    const prefetch = this.#prefetch;
    if (!prefetch) return undefined;
    this.#prefetch = undefined;
    if (prefetch.live && prefetch.matches(snapshot)) return prefetch;
    prefetch.discard("the confirmed turn asked for something else");
    return undefined;
  }

  #discardPrefetch(why: string): void {
    this.#prefetch?.discard(why);
    this.#prefetch = undefined;
  }

  // ---------------------------------------------------------------- one completion

  /** Streams one answer for `context`, retrying once; returns when it is over or aborted. */
  async #complete(context: LLMContext, laneSignal: AbortSignal): Promise<void> {
    if (this.#unusable) {
      this.#fail(this.#unusable);
      return;
    }
    const snapshot = context.snapshot();
    const request = new AbortController();
    if (laneSignal.aborted) return;
    const prefetched = this.#takePrefetch(snapshot);
    const stopWaitingForLane = whenAborted(laneSignal, () => request.abort(laneSignal.reason));
    this.#running?.abort(new SupersededError(this.name));
    this.#running = request;
    const signal = request.signal;
    const answer: Answer = {
      startedAtMs: this.clock.now(),
      started: false,
      firstPieceAtMs: undefined,
      usage: undefined,
      assembler: new ToolCallAssembler(),
      cutShort: undefined,
      thinking: [],
    };
    try {
      const failure = await this.#attempts(snapshot, signal, answer, prefetched);
      if (failure) {
        // The calls of a broken stream are incomplete: none is recorded or run.
        this.#fail(failure);
        if (answer.started) await this.pushFrame(new LLMFullResponseEndFrame());
        return;
      }
      await this.#finish(context, signal, answer);
    } catch (error) {
      if (!signal.aborted) throw error;
      // Superseded: the answer stops here, closed. Interrupted or cancelled: the turn is over
      // and nothing more of it goes out (the base class would drop it anyway).
      if (signal.reason instanceof SupersededError && answer.started) {
        await this.pushFrame(new LLMFullResponseEndFrame());
      }
    } finally {
      stopWaitingForLane();
      if (this.#running === request) this.#running = undefined;
    }
  }

  /** Runs the request, and once more if the first attempt failed in a way a retry can help. */
  async #attempts(
    snapshot: LLMContextSnapshot,
    signal: AbortSignal,
    answer: Answer,
    prefetched: LLMPrefetch | undefined,
  ): Promise<LLMServiceError | undefined> {
    const first = await this.#attempt(snapshot, signal, answer, prefetched);
    if (!first || !first.retryable || answer.started) return first;
    const waitMs =
      first.failure === "stalled"
        ? 0
        : Math.min(this.#maxRetryWaitMs, Math.max(this.#retryBackoffMs, first.retryAfterMs ?? 0));
    this.#repeats.reportOnce(
      `retry:${first.failure}`,
      () => `${first.message}; retrying once in ${waitMs} ms`,
      "warn",
    );
    if (waitMs > 0) await this.clock.sleep(waitMs, signal);
    answer.assembler = new ToolCallAssembler();
    answer.thinking = [];
    answer.firstPieceAtMs = undefined;
    return this.#attempt(snapshot, signal, answer);
  }

  /**
   * One streamed request. Returns the failure (or nothing when the stream ended well); throws
   * `signal.reason` when aborted. The request is closed however it ends, except after a
   * `complete` event: then the rest of its body is read in the background ({@link #drain}).
   * With `prefetched`, its held answer (and the rest of its stream) is this attempt's stream.
   */
  async #attempt(
    snapshot: LLMContextSnapshot,
    signal: AbortSignal,
    answer: Answer,
    prefetched?: LLMPrefetch,
  ): Promise<LLMServiceError | undefined> {
    const controller = new AbortController();
    const stopForwardingAbort = whenAborted(signal, () => controller.abort(signal.reason));
    let iterator: AsyncIterator<LLMStreamEvent> | undefined;
    let handedOff = false;
    /** When the answer was complete and only its usage is awaited: the end of that wait (clock ms). */
    let usageBy: number | undefined;
    let usageWithinMs = 0;
    try {
      iterator = prefetched?.claim(controller.signal);
      if (iterator) this.preemptiveAnswersUsed++;
      iterator ??= this.streamCompletion({ context: snapshot, signal: controller.signal })[
        Symbol.asyncIterator
      ]();
      const what = `${this.name}: waiting for the next piece of the answer`;
      for (;;) {
        const graceMs = usageBy === undefined ? undefined : Math.max(0, usageBy - this.clock.now());
        const pending = iterator.next();
        let next: IteratorResult<LLMStreamEvent>;
        try {
          next = await deadline(this.clock, pending, graceMs ?? this.stallTimeoutMs, what, {
            io: true,
            signal,
          });
        } catch (error) {
          if (graceMs === undefined || signal.aborted) throw error;
          // The answer is complete: whatever happens while its usage is awaited does not undo it.
          if (!(error instanceof DeadlineExceededError)) {
            this.#bodyEndBroke(error);
            return undefined;
          }
          // The usage did not come in time. The read under way is the drain's first.
          this.#usageLate(usageWithinMs);
          handedOff = this.#drain(iterator, controller, signal, pending);
          return undefined;
        }
        if (next.done) return undefined;
        const event = next.value;
        // Complete: only its usage is read now. Anything else (text, tool-call pieces, another
        // end) is what the drain would drop: it must not depend on whether usage was asked for.
        if (usageBy !== undefined && event.type !== "usage") continue;
        if (event.type === "complete") {
          if (event.usageWithinMs !== undefined && event.usageWithinMs > 0 && !answer.usage) {
            usageWithinMs = event.usageWithinMs;
            usageBy = this.clock.now() + usageWithinMs;
            continue;
          }
          handedOff = this.#drain(iterator, controller, signal);
          return undefined;
        }
        await this.#onEvent(event, signal, answer);
        if (usageBy !== undefined && event.type === "usage") {
          handedOff = this.#drain(iterator, controller, signal);
          return undefined;
        }
      }
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      if (error instanceof LLMServiceError) return error;
      if (error instanceof DeadlineExceededError) {
        return new LLMServiceError(
          this.name,
          "stalled",
          `${this.name}: the ${this.model} stream stalled: nothing arrived for ${this.stallTimeoutMs} ms (stallTimeoutMs); ` +
            "the provider may be overloaded, or a proxy is buffering the stream",
        );
      }
      // The context could not be turned into the provider's request (a provider's own adapter
      // refused it): this request is wrong, not the network; retrying sends the same thing.
      if (error instanceof LLMContextError) {
        return new LLMServiceError(
          this.name,
          "request",
          `${this.name}: the context cannot be sent to ${this.model}: ${error.message}`,
          { cause: error },
        );
      }
      return this.describeError(error);
    } finally {
      stopForwardingAbort();
      if (!handedOff) {
        controller.abort(new SupersededError(this.name)); // close the request however the attempt ended
        iterator?.return?.().catch(() => undefined);
      }
    }
  }

  /**
   * The answer is complete: reads the rest of `iterator` (the body's end) in the background, so
   * the HTTP client can pool the connection, for at most {@link BODY_END_DRAIN_MS}; then, or when
   * the service stops, the request is aborted (a no-op once the body ended; else its socket is
   * closed, never reused). `pending` is a read already under way. Returns true: the request is
   * the drain's to close. Not waited on, and not marked as I/O on the clock: a virtual clock's
   * time goes on while a body stays open.
   */
  #drain(
    iterator: AsyncIterator<LLMStreamEvent>,
    request: AbortController,
    signal: AbortSignal,
    pending?: Promise<IteratorResult<LLMStreamEvent>>,
  ): true {
    if (signal.aborted) {
      request.abort(signal.reason);
      iterator.return?.().catch(() => undefined);
      return true;
    }
    this.#draining.add(request);
    const rest = async (): Promise<void> => {
      if (pending && (await pending).done) return;
      for (;;) if ((await iterator.next()).done) return;
    };
    void deadline(this.clock, rest(), BODY_END_DRAIN_MS, `${this.name}: reading the end of the body`, {
      signal: request.signal,
    })
      .catch((error: unknown) => {
        // The answer is complete whatever the rest holds. A body still open is let go quietly
        // (a proxy that ends bodies late is no fault); a body that breaks is said.
        if (!request.signal.aborted && !(error instanceof DeadlineExceededError)) this.#bodyEndBroke(error);
      })
      .finally(() => {
        this.#draining.delete(request);
        request.abort(new BodyLeftError(this.name));
        iterator.return?.().catch(() => undefined);
      });
    return true;
  }

  /**
   * The body broke after its answer was complete (e.g. a gzip body cut short): the answer stands
   * (no retry, no `completionFailed`); the error is reported, one `ErrorFrame` per cause, so a
   * broken server or proxy is seen. Its connection is closed, not reused.
   */
  #bodyEndBroke(error: unknown): void {
    if (this.state !== "running") return;
    const described = error instanceof LLMServiceError ? error : this.describeError(error);
    const said = described.message.startsWith(`${this.name}: `)
      ? described.message.slice(this.name.length + 2)
      : described.message;
    const reported = new LLMServiceError(
      this.name,
      described.failure,
      `${this.name}: the answer was complete, but the rest of its body broke: ${said}; the answer stands, the connection was closed`,
      { cause: error, ...(described.status === undefined ? {} : { status: described.status }) },
    );
    if (this.#repeats.occurred(`body-end:${described.failure}`, reported.message))
      void this.pushError(reported);
  }

  /** The usage awaited after the answer was complete did not come: said once, then counted. */
  #usageLate(graceMs: number): void {
    this.#repeats.reportOnce(
      "usage-late",
      () =>
        `${this.name}: the answer was complete but its token usage did not follow within ${graceMs} ms; ` +
        "no usage metric for it. If the server never sends usage, stop asking for it (OpenAILLMService: includeUsage: false)",
      "warn",
    );
  }

  async #onEvent(
    event: Exclude<LLMStreamEvent, { type: "complete" }>,
    signal: AbortSignal,
    answer: Answer,
  ): Promise<void> {
    if (event.type === "usage") {
      answer.usage = event.usage;
      return;
    }
    if (event.type === "cut-short") {
      answer.cutShort = event.reason;
      return;
    }
    if (event.type === "thinking") {
      // Never spoken, and not the start of the answer: it only proves the stream alive.
      if (event.anthropic) answer.thinking.push(event.anthropic);
      return;
    }
    if (event.type === "text" && event.text === "") return;
    answer.firstPieceAtMs ??= this.clock.now();
    if (event.type === "text") {
      await this.#begin(signal, answer);
      await this.pushFrame(new LLMTextFrame(event.text));
      return;
    }
    try {
      answer.assembler.add(event);
    } catch (error) {
      throw new LLMServiceError(this.name, "malformed", `${this.name}: ${(error as Error).message}`);
    }
  }

  /** An answer the model did not finish: said once per reason, then counted. */
  #reportCutShort(reason: LLMCutShortReason): void {
    this.#repeats.reportOnce(
      `cut-short:${reason}`,
      () =>
        reason === "max-tokens"
          ? `${this.name}: ${this.model} stopped at its output token limit before the answer was done; what it ` +
            "said was spoken, cut off. Raise the service's token limit (its max tokens setting) or ask for shorter answers in the system prompt"
          : `${this.name}: the provider's content filter stopped ${this.model}'s answer; what came before was spoken`,
      "warn",
    );
  }

  /**
   * The first of the answer goes out: the response starts, and TTFB (to the first piece the
   * provider sent, a tool-call fragment included) is measured.
   */
  async #begin(signal: AbortSignal, answer: Answer): Promise<void> {
    if (answer.started) return;
    answer.started = true;
    const firstAt = answer.firstPieceAtMs ?? this.clock.now();
    this.#pushMetrics(signal, [{ kind: "ttfb", value: firstAt - answer.startedAtMs }]);
    await this.pushFrame(new LLMFullResponseStartFrame());
  }

  /** The stream ended well: tool calls, the end of the response, metrics. */
  async #finish(context: LLMContext, signal: AbortSignal, answer: Answer): Promise<void> {
    if (answer.cutShort) this.#reportCutShort(answer.cutShort);
    const suffix = `${this.id}_${++completions}`;
    const finished = answer.assembler.finish(suffix);
    const calls = withUniqueIds(finished.calls, context, suffix);
    const dropped = finished.dropped;
    if (dropped > 0) {
      this.#repeats.reportOnce(
        "tool-call-without-name",
        () =>
          `${this.name}: the model sent ${dropped} tool call(s) without a function name; they were ignored`,
        "warn",
      );
    }
    for (const call of calls) {
      if (call.argumentsProblem === undefined) continue;
      this.#repeats.reportOnce(
        "tool-call-arguments",
        () =>
          `${this.name}: the arguments of a ${call.name} call ${call.argumentsProblem} ` +
          `(${JSON.stringify(call.argumentsText.slice(0, 80))}); the call gets {} and its schema check will answer the model`,
        "warn",
      );
    }
    if (signal.aborted) return;
    if (!answer.started && answer.firstPieceAtMs !== undefined) {
      await this.#begin(signal, answer); // an answer of tool calls only starts now that they are whole
    } else if (!answer.started) {
      // An empty answer still opens and closes a response, so the turn is seen to end.
      answer.started = true;
      await this.pushFrame(new LLMFullResponseStartFrame());
    }
    let batch: FunctionCallBatch | undefined;
    if (calls.length > 0) {
      context.recordToolCalls(
        calls.map((c) => ({ id: c.id, name: c.name, arguments: c.arguments })),
        { anthropicThinking: answer.thinking },
      );
      const infos: FunctionCallInfo[] = calls.map((c) => ({
        functionName: c.name,
        toolCallId: c.id,
        arguments: c.arguments,
      }));
      // Taken at once, with the calls recorded: an interruption from here on finds them. Every
      // recorded call is run (or cancelled) even if this answer is interrupted before End.
      batch = this.#functionCalls.accept(
        calls.map((c, i) => ({
          info: infos[i]!,
          argumentsProblem: c.argumentsProblem,
          argumentsText: c.argumentsText,
        })),
        context,
      );
      await this.broadcastFrame(() => new FunctionCallsStartedFrame(infos));
      await batch.announce();
    }
    await this.pushFrame(new LLMFullResponseEndFrame());
    batch?.launch();
    const data: Omit<MetricsData, "processor" | "model">[] = [
      { kind: "processing", value: this.clock.now() - answer.startedAtMs },
    ];
    if (answer.usage) data.push({ kind: "llm_usage", value: usageRecord(answer.usage) });
    this.#pushMetrics(signal, data);
  }

  #pushMetrics(signal: AbortSignal, data: readonly Omit<MetricsData, "processor" | "model">[]): void {
    if (!this.#metrics || signal.aborted) return;
    void this.pushFrame(
      new MetricsFrame(data.map((d) => ({ ...d, processor: this.name, model: this.model }))),
    );
  }

  /** Reports a failure: one `ErrorFrame` per cause, repeats counted; marks the service unusable if it is. */
  #fail(error: LLMServiceError): void {
    if (error.unusable) this.#unusable ??= error;
    const key = error.status === undefined ? error.failure : `${error.failure}:${error.status}`;
    if (this.#repeats.occurred(key, error.message)) void this.pushError(error);
    this.emit("completionFailed", ...([error] as Parameters<E["completionFailed"]>));
  }
}

/**
 * Gives each call an id that no other call of the answer and no call already in `context` has:
 * some OpenAI-compatible servers number their calls per answer (`call_0` every time) or repeat an
 * id within one, and the context refuses a second call with an id it holds. A repeated id becomes
 * `<id>_<suffix>[_<n>]`; the id only pairs the call with its result in the context.
 */
function withUniqueIds<C extends { readonly id: string }>(
  calls: readonly C[],
  context: LLMContext,
  suffix: string,
): C[] {
  const taken = new Set<string>();
  return calls.map((call) => {
    let id = call.id;
    for (let n = 1; taken.has(id) || context.toolCallStatus(id) !== undefined; n++) {
      id = n === 1 ? `${call.id}_${suffix}` : `${call.id}_${suffix}_${n}`;
    }
    taken.add(id);
    return id === call.id ? call : { ...call, id };
  });
}

/** Adds `tool` to the context's tools, replacing one of the same name. */
function offerTool(context: LLMContext, tool: FunctionSchema): void {
  const others = context.tools.filter((t) => t.name !== tool.name);
  context.setTools([...others, tool]);
}

function startsCompletion(frame: Frame): boolean {
  return (
    frame instanceof LLMContextFrame ||
    frame instanceof LLMRunFrame ||
    ((frame instanceof LLMMessagesAppendFrame || frame instanceof LLMMessagesUpdateFrame) && frame.runLlm)
  );
}

function usageRecord(usage: LLMUsage): Record<string, number> {
  const record: Record<string, number> = {
    promptTokens: usage.promptTokens,
    completionTokens: usage.completionTokens,
    totalTokens: usage.totalTokens,
  };
  if (usage.cachedTokens !== undefined) record["cachedTokens"] = usage.cachedTokens;
  if (usage.reasoningTokens !== undefined) record["reasoningTokens"] = usage.reasoningTokens;
  return record;
}

function positive(
  service: string,
  name: string,
  value: number | undefined,
  fallback: number,
  zeroOk = false,
): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v < 0 || (!zeroOk && v === 0)) {
    throw new InvalidOptionError(
      `${service}: ${name} must be a finite number of ms ${zeroOk ? "≥ 0" : "above 0"} (got ${String(value)})`,
    );
  }
  return v;
}
