import { type Frame, FrameDirection } from "../frames/frame.js";
import { InterruptionFrame } from "../frames/lifecycle.js";
import {
  LLMContextFrame,
  LLMFullResponseEndFrame,
  LLMFullResponseStartFrame,
  LLMMessagesAppendFrame,
  LLMMessagesUpdateFrame,
  LLMRunFrame,
} from "../frames/llm.js";
import type { LLMService } from "./llm/llm-service.js";
import type { LLMFailure, LLMServiceError } from "./llm/llm-service-error.js";
import { ServiceSwitcher, type ServiceSwitcherOptions } from "./service-switcher.js";

/**
 * A {@link ServiceSwitcher} of LLM services that fails over within the turn
 * (docs/design/resilience.md).
 *
 * When the active service's request fails before anything of its answer went out (after the
 * service's own one retry; `LLMService` then pushes nothing downstream), the switcher runs the
 * same conversation on the next usable service at once: it hands that service an
 * `LLMContextFrame` with the failed service's context, so the answer comes from the backup in
 * the same turn and the user hears no seam. The backup stays active afterwards (switch back
 * with `switchTo()` or a `ManuallySwitchServiceFrame`). Each service is tried at most once per
 * request; when every one failed, the last error stands (each service reported its own).
 *
 * A failure after text went out is not failed over: the answer ends where it broke, as it would
 * with one service (a second answer would repeat its beginning). A service that becomes unusable
 * (rejected or missing key, missing SDK) is skipped from then on, also by manual switches.
 *
 * Give the services one `LLMContext` (the user aggregator's `LLMContextFrame` does it every
 * turn): the context travels with a failover, but `LLMMessagesAppendFrame` and `LLMSetToolsFrame`
 * change only the active service's context.
 *
 * @example
 * const llm = new LLMSwitcher([
 *   new OpenAILLMService({ model: "gpt-4o-mini" }),
 *   new OpenAILLMService({ model: "llama3.1", baseURL: "http://127.0.0.1:11434/v1", apiKey: "ollama" }),
 * ]);
 * llm.on("switched", (from, to, reason) => console.log(from.name, "→", to.name, reason.kind));
 */
export class LLMSwitcher extends ServiceSwitcher<LLMService> {
  /** The service the last request went to, until its answer starts or it fails. */
  #request: LLMService | undefined;
  /** Services that failed the request in progress (each is tried once per request). */
  readonly #tried = new Set<LLMService>();
  /** Services whose answer has started (LLMFullResponseStartFrame out, End not yet). */
  readonly #answering = new Set<LLMService>();
  /** Errors of `connect()` seen (one per service at most). */
  readonly #connectFailures = new WeakSet<LLMServiceError>();
  /** Interruptions seen: one that comes while a failover is announced cancels its request. */
  #interruptions = 0;

  constructor(services: readonly LLMService[], options: ServiceSwitcherOptions = {}) {
    super(services, options);
    for (const service of this.services) {
      service.on("completionFailed", (error) => this.#onFailed(service, error));
    }
    // A preemptive answer the old service holds will never be claimed: the turn goes to the new one.
    this.on("switched", (from) => void from.discardPreemptiveAnswer("its switcher switched away from it"));
  }

  override queueFrame(
    frame: Frame,
    direction: FrameDirection = FrameDirection.DOWNSTREAM,
  ): void | Promise<void> {
    const result = super.queueFrame(frame, direction);
    if (frame instanceof InterruptionFrame) {
      // The request of the interrupted turn is over: a failure reported late starts nothing.
      // Its answers are over too (an interrupted answer pushes no End).
      this.#interruptions++;
      this.#request = undefined;
      this.#tried.clear();
      this.#answering.clear();
      this.workMoved();
    } else if (startsCompletion(frame)) {
      this.#request = this.active;
      this.#tried.clear();
    }
    return result;
  }

  protected override isUsable(service: LLMService): boolean {
    return service.usable;
  }

  protected override pendingWork(): LLMService | undefined {
    return this.#request;
  }

  protected override onServiceOutput(service: LLMService, frame: Frame): void {
    if (frame instanceof LLMFullResponseStartFrame) {
      this.#answering.add(service);
      if (this.#request === service) {
        this.#request = undefined; // it answers: nothing to fail over
        this.workMoved();
      }
    } else if (frame instanceof LLMFullResponseEndFrame) {
      this.#answering.delete(service);
    }
  }

  /** Emitted by the service, synchronously, in its own lane, before it returns from the request. */
  #onFailed(service: LLMService, error: LLMServiceError): void {
    if (CONNECT_FAILURES.has(error.failure) && !this.#connectFailures.has(error)) {
      // Said by connect() at start, before any request ran; the service refuses each later
      // request with this same error, and those refusals fail over.
      this.#connectFailures.add(error);
      return;
    }
    if (this.#request !== service || this.#answering.has(service)) return;
    this.#tried.add(service);
    const interruptions = this.#interruptions;
    const next = this.failOver(service, error, this.#tried);
    if (next === undefined) {
      this.#request = undefined;
      this.workMoved();
      this.logger.error(
        `${this.name}: ${service.name} failed and no other service is left to answer this request (${this.services.length} in all)`,
        { processor: this.name },
      );
      return;
    }
    // A handler of `switched` interrupted the turn: its request is over, nothing is sent.
    if (this.#interruptions !== interruptions) return;
    this.#request = next;
    // The failed service already took in what the request changed (appended messages): its
    // context is the conversation to answer.
    void next.queueFrame(new LLMContextFrame(service.llmContext), FrameDirection.DOWNSTREAM);
    this.workMoved(); // its EndFrame, if the end is under way, goes behind this request
  }
}

/** Failures only `connect()` reports (docs/design/llm-services.md). */
const CONNECT_FAILURES: ReadonlySet<LLMFailure> = new Set<LLMFailure>(["missing-key", "missing-sdk"]);

function startsCompletion(frame: Frame): boolean {
  return (
    frame instanceof LLMContextFrame ||
    frame instanceof LLMRunFrame ||
    ((frame instanceof LLMMessagesAppendFrame || frame instanceof LLMMessagesUpdateFrame) && frame.runLlm)
  );
}
