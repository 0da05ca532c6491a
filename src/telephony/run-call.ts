import type { Clock } from "../clock/clock.js";
import { deadline } from "../clock/deadline.js";
import { InvalidOptionError, describe } from "../errors.js";
import type { Logger } from "../logger.js";
import type { PipelineTask, TaskOutcome } from "../pipeline/task.js";
import type { DevSession } from "../runner/dev-server-options.js";
import { runSessionTask } from "../runner/session-task.js";
import type { TelephonyCall } from "../serializers/telephony/telephony-serializer.js";
import type { AnsweredCall } from "./answer-call.js";
import type { CallControl } from "./call-control.js";

/** Options of {@link runCall}. */
export interface RunCallOptions {
  /** The provider's call control (e.g. `new TwilioCallControl()`); without one the call is never hung up through the API. */
  control?: CallControl;
  /**
   * Hang up through `control` when the task has finished and the provider did not end the stream
   * itself (no `stop`): the bot ended the call, the task was cancelled, or it failed. @default true
   */
  hangUpOnEnd?: boolean;
  /**
   * Longest wait for the hang-up, in ms of the task's clock. It bounds a control that would not
   * bound itself; the built-in controls give up sooner (their `timeoutMs`, 5000 by default).
   * @default 10000
   */
  hangUpTimeoutMs?: number;
}

/** What became of a call run by {@link runCall}. */
export interface CallOutcome {
  /** How the task finished. */
  readonly outcome: TaskOutcome;
  /** The call was hung up through the call control (or the provider said it was already gone). */
  readonly hungUp: boolean;
}

const DEFAULT_HANG_UP_TIMEOUT_MS = 10_000;

/**
 * Runs the task of one phone call, as `runSessionTask` does for a development-server session
 * (the session's `closing` ends it, `cancelled` cancels it; leave `session` out outside the dev
 * server), and then, when the provider did not end the stream (the serializer saw no `stop`)
 * and a `control` is given, hangs the call up through the provider's REST API, once.
 *
 * Why: when the bot ends the call (an `EndFrame`, a goodbye tool) or the task is cancelled, the
 * transport closes the media socket, but the phone call itself lives on with the provider (Twilio
 * runs the TwiML after `<Connect>`); hanging up makes the end sure and immediate.
 *
 * Guarantees: resolves, never rejects; within `hangUpTimeoutMs` after the task finished. A failed
 * hang-up is logged once (error, on the task's logger) with the provider's words, and `hungUp` is
 * false. Relies on `answered.serializer` being the transport's (as `answered.transport()` makes it).
 *
 * @example
 * const answered = await answerCall(socket, "twilio");
 * const transport = answered.transport({ params: { vadAnalyzer } });
 * const task = new PipelineTask(new Pipeline([transport.input(), ...bot, transport.output()]));
 * const { outcome, hungUp } = await runCall(task, session, answered, { control: new TwilioCallControl() });
 */
export async function runCall(
  task: PipelineTask,
  session: DevSession | undefined,
  answered: AnsweredCall,
  options: RunCallOptions = {},
): Promise<CallOutcome> {
  const timeoutMs = options.hangUpTimeoutMs ?? DEFAULT_HANG_UP_TIMEOUT_MS;
  if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new InvalidOptionError(
      `runCall: hangUpTimeoutMs must be a number of ms > 0 (got ${String(options.hangUpTimeoutMs)}); leave it out for ${DEFAULT_HANG_UP_TIMEOUT_MS}`,
    );
  }
  const control = options.control;
  if (control !== undefined && typeof control?.hangUp !== "function") {
    throw new InvalidOptionError("runCall: control must be a CallControl (e.g. new TwilioCallControl())");
  }
  const outcome = session ? await runSessionTask(task, session) : await task.run();
  if (!control || options.hangUpOnEnd === false || answered.serializer.stopped) {
    return { outcome, hungUp: false };
  }
  const hungUp = await hangUpCall(control, answered.call, {
    clock: task.clock,
    logger: task.logger,
    timeoutMs,
    why: describeEnd(outcome),
  });
  return { outcome, hungUp };
}

/** Options of {@link hangUpCall}. */
export interface HangUpCallOptions {
  /** Clock of the deadline. */
  clock: Clock;
  /** Where the outcome is said: info when hung up, error (once) when not. */
  logger: Logger;
  /** Longest wait, in ms. */
  timeoutMs: number;
  /** Why the call is hung up, for the log ("the bot ended the call"). */
  why?: string;
}

/**
 * Hangs `call` up through `control`, bounded by `timeoutMs`; resolves true when the provider
 * accepted it (or the call was already gone), false when it failed, which is logged once.
 * Never rejects.
 */
export async function hangUpCall(
  control: CallControl,
  call: TelephonyCall,
  options: HangUpCallOptions,
): Promise<boolean> {
  const { clock, logger, timeoutMs } = options;
  const fields = { provider: call.provider, callId: call.callId };
  const why = options.why ? ` (${options.why})` : "";
  try {
    // Real I/O: a virtual clock waits for it in real time instead of firing this deadline under it.
    await deadline(
      clock,
      () => control.hangUp(call),
      timeoutMs,
      `${call.provider}: hanging up call ${call.callId}`,
      {
        io: true,
      },
    );
    logger.info(`${call.provider}: hung up call ${call.callId}${why}`, fields);
    return true;
  } catch (error) {
    logger.error(
      `${call.provider}: could not hang up call ${call.callId}${why}: ${describe(error)}. ` +
        "The caller may still be on the line: end the call in the provider's console if it is",
      { ...fields, error },
    );
    return false;
  }
}

function describeEnd(outcome: TaskOutcome): string {
  if (outcome.how === "ended") return "the bot ended the call";
  return `the task ${outcome.how}${outcome.reason ? `: ${outcome.reason}` : ""}`;
}
