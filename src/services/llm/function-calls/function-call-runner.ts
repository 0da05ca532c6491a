import type { Clock, TimerHandle } from "../../../clock/clock.js";
import { DeadlineExceededError, deadline } from "../../../clock/deadline.js";
import { type JsonValue, isJsonValue } from "../../../context/json.js";
import type { LLMContext } from "../../../context/llm-context.js";
import { type FunctionSchema, checkFunctionSchema, parseToolArguments } from "../../../context/tools.js";
import { CancelledError, InterruptedError, InvalidOptionError } from "../../../errors.js";
import type { Frame } from "../../../frames/frame.js";
import {
  FunctionCallCancelFrame,
  type FunctionCallInfo,
  FunctionCallInProgressFrame,
  FunctionCallResultFrame,
} from "../../../frames/function-calls.js";
import type { Logger } from "../../../logger.js";
import {
  MAX_RESULT_CHARS,
  busyResult,
  failedResult,
  invalidArgumentsResult,
  messageOf,
  notJsonResult,
  timedOutResult,
  tooLargeResult,
  unknownFunctionResult,
} from "./call-results.js";
import type {
  FunctionCallContext,
  FunctionCallSettings,
  FunctionHandler,
  RegisterFunctionOptions,
} from "./function-call-types.js";

/** What the runner needs from the service that owns it. */
export interface FunctionCallHost {
  /** The owner's name, for messages. */
  readonly name: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Pushes twin frames both ways (`FrameProcessor.broadcastFrame`). */
  broadcast(make: () => Frame): void | Promise<void>;
  /** Says a problem once (a log line), counting repeats. */
  warnOnce(cause: string, message: () => string): void;
}

/** One registered function. */
export interface FunctionRegistration {
  readonly tool: FunctionSchema;
  readonly handler: FunctionHandler<FunctionSchema>;
  readonly timeoutMs: number;
  readonly cancelOnInterruption: boolean;
  readonly runLlm: boolean;
  readonly addToContext: boolean;
}

/** A call the model made, as the LLM service hands it over. */
export interface RequestedCall {
  readonly info: FunctionCallInfo;
  /** Why the argument text was not usable (not JSON, not an object), when it was not. */
  readonly argumentsProblem?: string | undefined;
  /** The argument text as the model sent it (quoted, cut, in the problem's result). */
  readonly argumentsText?: string | undefined;
}

type CallState = "accepted" | "waiting" | "running" | "settled";

/** How a call ends: a result for the model, a cancel, or (pipeline cancelled) nothing at all. */
type Settlement =
  | { readonly kind: "result"; readonly value: JsonValue; readonly runLlm: boolean; readonly reason?: Error }
  | { readonly kind: "cancel"; readonly reason: Error }
  | { readonly kind: "silent"; readonly reason: Error };

/** One call, from the moment the model's answer ended to its settlement. */
class CallRun {
  state: CallState = "accepted";
  /** An interruption came before the call was launched: cancel it at launch. */
  cancelRequested = false;
  timer: TimerHandle | undefined;
  #controller: AbortController | undefined;
  readonly done: Promise<void>;
  markDone!: () => void;

  constructor(
    readonly info: FunctionCallInfo,
    readonly context: LLMContext,
    readonly cancelOnInterruption: boolean,
    /** What the handler gets, when the call is to run. */
    readonly plan:
      { readonly run: FunctionRegistration; readonly args: JsonValue } | { readonly answer: JsonValue },
  ) {
    this.done = new Promise<void>((resolve) => (this.markDone = resolve));
  }

  /** Read after an await: the state may have changed meanwhile. */
  get settled(): boolean {
    return this.state === "settled";
  }

  get signal(): AbortSignal {
    return (this.#controller ??= new AbortController()).signal;
  }

  abort(reason: Error): void {
    this.#controller?.abort(reason);
  }
}

/** The calls of one answer, accepted together, announced and then launched by the LLM service. */
export interface FunctionCallBatch {
  /** Pushes `FunctionCallInProgressFrame` both ways for each call. */
  announce(): Promise<void>;
  /** Starts the handlers; answers the calls that need no handler (unknown tool, bad arguments). */
  launch(): void;
}

const DEFAULTS = { timeoutMs: 10_000, maxInFlight: 64, endWaitMs: 5_000 } as const;

/**
 * Runs the function calls an LLM asked for (docs/design/function-calls.md). Owned by
 * `LLMService`; users reach it through `registerFunction`.
 *
 * Guarantees:
 * - every accepted call settles exactly once: a `FunctionCallResultFrame` (the handler's result,
 *   or one saying it timed out, failed, was unknown, had bad arguments, or was refused past
 *   `maxInFlight`) or a `FunctionCallCancelFrame` (interruption of a cancellable call, or the end's
 *   wait ran out), both ways; after a pipeline cancel, nothing is pushed;
 * - a handler's signal aborts when its call settles without its result; what it returns later is
 *   dropped and counted in {@link lateResultsDropped};
 * - at most `maxInFlight` calls unsettled at once; one timer per running call, cancelled when it
 *   settles; nothing is kept once a call has settled.
 */
export class FunctionCallRunner {
  readonly #host: FunctionCallHost;
  readonly #defaultTimeoutMs: number;
  readonly #sequential: boolean;
  readonly #maxInFlight: number;
  readonly #endWaitMs: number;
  readonly #functions = new Map<string, FunctionRegistration>();
  /** Calls not settled yet (bounded: maxInFlight + one answer's refused calls). */
  readonly #unsettled = new Set<CallRun>();
  /** Sequential mode: the last call's settlement; the next call starts after it. */
  #tail: Promise<void> = Promise.resolve();
  #idle: { promise: Promise<void>; resolve: () => void } | undefined;
  #closed = false;
  #lateResultsDropped = 0;

  constructor(host: FunctionCallHost, settings: FunctionCallSettings = {}) {
    this.#host = host;
    checkOptionsObject(host.name, "functionCalls", settings);
    this.#defaultTimeoutMs = checkMs(
      host.name,
      "functionCalls.timeoutMs",
      settings.timeoutMs,
      DEFAULTS.timeoutMs,
    );
    this.#endWaitMs = checkMs(
      host.name,
      "functionCalls.endWaitMs",
      settings.endWaitMs,
      DEFAULTS.endWaitMs,
      true,
    );
    this.#sequential = checkFlag(host.name, "functionCalls.sequential", settings.sequential, false);
    const max = settings.maxInFlight ?? DEFAULTS.maxInFlight;
    if (!Number.isInteger(max) || max < 1) {
      throw new InvalidOptionError(
        `${host.name}: functionCalls.maxInFlight must be a whole number ≥ 1 (got ${String(settings.maxInFlight)})`,
      );
    }
    this.#maxInFlight = max;
  }

  // ---------------------------------------------------------------- registration

  /** Registers (or replaces) the handler of `tool`. Throws for a malformed schema or option. */
  register(
    tool: FunctionSchema,
    handler: FunctionHandler<FunctionSchema>,
    options: RegisterFunctionOptions = {},
  ): FunctionRegistration {
    const checked = checkFunctionSchema(tool);
    if (typeof handler !== "function") {
      throw new InvalidOptionError(`${this.#host.name}: the handler of ${checked.name} must be a function`);
    }
    const owner = this.#host.name;
    checkOptionsObject(owner, `the options of ${checked.name}`, options);
    const registration: FunctionRegistration = Object.freeze({
      tool: checked,
      handler,
      timeoutMs: checkMs(owner, `timeoutMs of ${checked.name}`, options.timeoutMs, this.#defaultTimeoutMs),
      cancelOnInterruption: checkFlag(
        owner,
        `cancelOnInterruption of ${checked.name}`,
        options.cancelOnInterruption,
        true,
      ),
      runLlm: checkFlag(owner, `runLlm of ${checked.name}`, options.runLlm, true),
      addToContext: checkFlag(owner, `addToContext of ${checked.name}`, options.addToContext, true),
    });
    this.#functions.set(checked.name, registration);
    return registration;
  }

  /** Removes the handler of `name`; calls already accepted still run. Returns whether there was one. */
  unregister(name: string): boolean {
    return this.#functions.delete(name);
  }

  /** The registered functions, in registration order. */
  get registrations(): readonly FunctionRegistration[] {
    return [...this.#functions.values()];
  }

  // ---------------------------------------------------------------- state

  /** Calls accepted and not settled yet. */
  get inFlight(): number {
    return this.#unsettled.size;
  }

  /** Results returned by handlers after their call had settled (cancelled, timed out): dropped. */
  get lateResultsDropped(): number {
    return this.#lateResultsDropped;
  }

  // ---------------------------------------------------------------- the calls of one answer

  /**
   * Takes the calls of one answer (synchronously, right after they are recorded in `context`, so
   * an interruption that comes before they are launched still finds them). Decides at once what
   * needs no handler: an unknown function, arguments that do not match the schema, a call past
   * `maxInFlight`.
   */
  accept(calls: readonly RequestedCall[], context: LLMContext): FunctionCallBatch {
    if (this.#closed) return { announce: () => Promise.resolve(), launch: () => undefined };
    const runs = calls.map((call) => {
      const run = this.#plan(call, context);
      this.#unsettled.add(run); // before the next is planned: maxInFlight counts this answer's calls too
      return run;
    });
    return {
      announce: () => this.#announce(runs),
      launch: () => this.#launch(runs),
    };
  }

  #plan(call: RequestedCall, context: LLMContext): CallRun {
    const { info } = call;
    const registration = this.#functions.get(info.functionName);
    if (!registration) {
      this.#host.warnOnce(
        `unknown:${info.functionName}`,
        () =>
          `${this.#host.name}: the model called ${JSON.stringify(info.functionName)}, which has no registered handler; it was told so`,
      );
      const known = [...this.#functions.keys()];
      return new CallRun(info, context, true, { answer: unknownFunctionResult(info.functionName, known) });
    }
    const { cancelOnInterruption } = registration;
    if (call.argumentsProblem !== undefined) {
      const text = JSON.stringify((call.argumentsText ?? "").slice(0, 80));
      const problem = `the argument text for ${info.functionName} ${call.argumentsProblem} (got ${text})`;
      return new CallRun(info, context, cancelOnInterruption, { answer: invalidArgumentsResult(problem) });
    }
    const parsed = parseToolArguments(registration.tool, info.arguments);
    if (!parsed.ok) {
      return new CallRun(info, context, cancelOnInterruption, {
        answer: invalidArgumentsResult(parsed.error),
      });
    }
    const running = [...this.#unsettled].filter((r) => "run" in r.plan).length;
    if (running >= this.#maxInFlight) {
      this.#host.warnOnce(
        "busy",
        () =>
          `${this.#host.name}: ${this.#maxInFlight} function calls were already running (functionCalls.maxInFlight); a ${info.functionName} call was answered "busy" without running`,
      );
      return new CallRun(info, context, cancelOnInterruption, {
        answer: busyResult(info.functionName, this.#maxInFlight),
      });
    }
    return new CallRun(info, context, cancelOnInterruption, { run: registration, args: parsed.value });
  }

  async #announce(runs: readonly CallRun[]): Promise<void> {
    const pushes: Promise<void>[] = [];
    for (const run of runs) {
      if (run.state === "settled") continue;
      const pushed = this.#host.broadcast(
        () => new FunctionCallInProgressFrame(run.info, run.cancelOnInterruption),
      );
      if (pushed) pushes.push(pushed);
    }
    await Promise.all(pushes);
  }

  #launch(runs: readonly CallRun[]): void {
    for (const run of runs) {
      if (run.state !== "accepted") continue; // settled by a cancel meanwhile
      const plan = run.plan;
      if ("answer" in plan) {
        this.#settle(run, { kind: "result", value: plan.answer, runLlm: true });
      } else if (run.cancelRequested) {
        this.#settle(run, { kind: "cancel", reason: new InterruptedError(this.#host.name) });
      } else if (this.#sequential) {
        run.state = "waiting";
        this.#tail = this.#tail.then(() => {
          this.#start(run);
          return run.done;
        });
      } else {
        this.#start(run);
      }
    }
  }

  /**
   * Starts a call. Whatever goes wrong in running it (a handler's value that fails every check,
   * a throw while reporting) settles the call at once as failed: nothing rejects unobserved and
   * no call waits for its timeout because of a bug in what it returned.
   */
  #start(run: CallRun): void {
    this.#execute(run).catch((error: unknown) => {
      if (run.settled) return;
      this.#settle(run, { kind: "result", value: failedResult(run.info.functionName, error), runLlm: true });
    });
  }

  /** Runs a call's handler under its timeout, and settles the call with what it returns. */
  async #execute(run: CallRun): Promise<void> {
    if (run.state === "settled" || !("run" in run.plan)) return;
    run.state = "running";
    const { run: registration, args } = run.plan;
    const name = run.info.functionName;
    run.timer = this.#host.clock.setTimer(() => {
      this.#settle(run, {
        kind: "result",
        value: timedOutResult(name, registration.timeoutMs),
        runLlm: true,
        reason: new DeadlineExceededError(
          `${this.#host.name}: the ${name} call ${run.info.toolCallId}`,
          registration.timeoutMs,
        ),
      });
    }, registration.timeoutMs);
    const call: FunctionCallContext = {
      call: run.info,
      signal: run.signal,
      context: run.context,
      clock: this.#host.clock,
      logger: this.#host.logger,
    };
    let value: JsonValue;
    try {
      value = await registration.handler(args as never, call);
    } catch (error) {
      if (run.settled) return; // aborted as expected, or failing after it was stopped
      this.#host.warnOnce(
        `failed:${name}`,
        () => `${this.#host.name}: the ${name} handler threw: ${messageOf(error)} (the model was told)`,
      );
      this.#settle(run, { kind: "result", value: failedResult(name, error), runLlm: true });
      return;
    }
    if (run.settled) {
      this.#lateResultsDropped++;
      return;
    }
    if (!isJsonValue(value)) {
      this.#host.warnOnce(
        `not-json:${name}`,
        () =>
          `${this.#host.name}: the ${name} handler returned ${value === undefined ? "undefined" : "something that is not JSON data"}; return JSON data (null, a string, an object of plain values)`,
      );
      this.#settle(run, { kind: "result", value: notJsonResult(name), runLlm: true });
      return;
    }
    const chars = typeof value === "string" ? value.length : JSON.stringify(value).length;
    if (chars > MAX_RESULT_CHARS) {
      this.#host.warnOnce(
        `too-large:${name}`,
        () =>
          `${this.#host.name}: the ${name} handler returned ${chars} characters, more than ${MAX_RESULT_CHARS}; the model was told it was too large`,
      );
      this.#settle(run, { kind: "result", value: tooLargeResult(name, chars), runLlm: true });
      return;
    }
    this.#settle(run, { kind: "result", value, runLlm: registration.runLlm });
  }

  /** Settles a call once: pushes what it came to, aborts its handler unless it returned. */
  #settle(run: CallRun, how: Settlement): boolean {
    if (run.state === "settled") return false;
    run.state = "settled";
    run.timer?.cancel();
    run.timer = undefined;
    this.#unsettled.delete(run);
    if (how.kind !== "result" || how.reason) run.abort(how.reason ?? new CancelledError(this.#host.name));
    run.markDone();
    if (this.#unsettled.size === 0 && this.#idle) {
      this.#idle.resolve();
      this.#idle = undefined;
    }
    if (how.kind === "result") {
      void this.#host.broadcast(() => new FunctionCallResultFrame(run.info, how.value, how.runLlm));
    } else if (how.kind === "cancel") {
      void this.#host.broadcast(() => new FunctionCallCancelFrame(run.info));
    }
    return true;
  }

  // ---------------------------------------------------------------- interruption, end, cancel

  /**
   * An interruption: cancellable calls are cancelled (signal aborted, `FunctionCallCancelFrame`
   * both ways); calls with `cancelOnInterruption: false` keep running.
   */
  interrupt(): void {
    for (const run of [...this.#unsettled]) {
      if (!run.cancelOnInterruption) continue;
      if (run.state === "accepted") run.cancelRequested = true;
      else this.#settle(run, { kind: "cancel", reason: new InterruptedError(this.#host.name) });
    }
  }

  /**
   * The pipeline ends: waits up to `endWaitMs` for the calls still running to settle (their
   * results are pushed before the end goes on), then cancels the rest.
   */
  async end(): Promise<void> {
    if (this.#unsettled.size === 0) return;
    const idle = (this.#idle ??= deferred());
    try {
      await deadline(
        this.#host.clock,
        idle.promise,
        this.#endWaitMs,
        `${this.#host.name}: running function calls`,
      );
    } catch (error) {
      if (!(error instanceof DeadlineExceededError)) throw error;
      const left = [...this.#unsettled];
      this.#host.logger.warn(
        `${this.#host.name}: ${left.length} function call(s) still running ${this.#endWaitMs} ms after the end began (functionCalls.endWaitMs); cancelled: ${left.map((r) => r.info.functionName).join(", ")}`,
        { processor: this.#host.name },
      );
      for (const run of left)
        this.#settle(run, {
          kind: "cancel",
          reason: new CancelledError(this.#host.name, "the pipeline ended"),
        });
    }
  }

  /** The pipeline is cancelled or torn down: every handler's signal aborts; nothing more is pushed. */
  close(reason: string): void {
    this.#closed = true;
    for (const run of [...this.#unsettled]) {
      this.#settle(run, { kind: "silent", reason: new CancelledError(this.#host.name, reason) });
    }
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** An option's value for a message. */
function shown(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (typeof value === "function") return "a function";
  return typeof value === "string" ? JSON.stringify(value.slice(0, 80)) : String(value);
}

/**
 * Refuses an options value that is not an object. `undefined` means the defaults (the parameter's
 * default gives `{}`); `null` is refused like any other non-object: the types say an object or
 * nothing, and reading null as the defaults would hide a variable that was meant to hold options.
 */
function checkOptionsObject(owner: string, name: string, value: unknown): void {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidOptionError(
      `${owner}: ${name} must be an object of options, or left out for the defaults (got ${shown(value)})`,
    );
  }
}

/**
 * A true-or-false option. Checked, not read by truthiness: `"false"` or `0` would otherwise
 * silently mean something else than what was written (a call meant to be kept, cancelled at the
 * first barge-in).
 */
function checkFlag(owner: string, name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") {
    throw new InvalidOptionError(
      `${owner}: ${name} must be true or false, or left out for ${String(fallback)} (got ${shown(value)})`,
    );
  }
  return value;
}

function checkMs(
  owner: string,
  name: string,
  value: number | undefined,
  fallback: number,
  zeroOk = false,
): number {
  const v = value ?? fallback;
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || (!zeroOk && v === 0)) {
    throw new InvalidOptionError(
      `${owner}: ${name} must be a finite number of ms ${zeroOk ? "≥ 0" : "above 0"} (got ${String(value)})`,
    );
  }
  return v;
}
