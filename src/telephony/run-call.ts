import type { Clock } from "../clock/clock.js";
import { deadline } from "../clock/deadline.js";
import { InvalidOptionError, describe } from "../errors.js";
import type { Logger } from "../logger.js";
import type { PipelineTask, TaskOutcome } from "../pipeline/task.js";
import type { DevSession } from "../runner/dev-server-options.js";
import { runSessionTask } from "../runner/session-task.js";
import type { TelephonyCall } from "../serializers/telephony/telephony-serializer.js";
import { type AnsweredCall, transportOfCall } from "./answer-call.js";
import type { CallControl } from "./call-control.js";
import { givenText } from "../wire-values.js";

/** Options of {@link runCall}. */
export interface RunCallOptions {
  /** The provider's call control (e.g. `new TwilioCallControl()`); without one the call is never hung up through the API. */
  control?: CallControl;
  /**
   * Hang up through `control` when the call did not end at the caller's side (no `stop`, the
   * provider did not close the socket): when the bot ends the call, at the moment its last audio
   * has played, before the media socket closes; when the task is cancelled or fails, after it
   * finished. @default true
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
 * server), and, when a `control` is given and the caller did not hang up, hangs the call up
 * through the provider's REST API, once:
 *
 * - the bot ends the call (an `EndFrame`, a goodbye tool): when the output has played the last
 *   audio, before the transport closes the media socket (the socket waits for the hang-up, at
 *   most nine tenths of the output's `closeTimeoutMs`: 2.7 s for `answered.transport()`'s);
 * - the task is cancelled or fails: after it finished;
 * - the caller hung up (the provider sent `stop` or closed the socket): never.
 *
 * Why: when the media stream ends, the phone call itself lives on with the provider, which goes
 * on with the answer document (Twilio runs the TwiML after `<Connect>`, Plivo the XML after
 * `<Stream>`, Vonage the NCCO's next action): hanging up before the stream ends means the caller
 * hears nothing of that, and the end is sure and immediate.
 *
 * Guarantees: resolves, never rejects; within `hangUpTimeoutMs` after the task finished. A failed
 * hang-up is logged once (error, on the task's logger) with the provider's words, and `hungUp` is
 * false. Relies on `answered.transport()` having made the task's transport (without it, the
 * hang-up comes after the task, when `answered.serializer` saw no `stop`).
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
      `runCall: hangUpTimeoutMs must be a number of ms > 0 (got ${givenText(options.hangUpTimeoutMs)}); leave it out for ${DEFAULT_HANG_UP_TIMEOUT_MS}`,
    );
  }
  const control = options.control;
  if (control !== undefined && typeof control?.hangUp !== "function") {
    throw new InvalidOptionError("runCall: control must be a CallControl (e.g. new TwilioCallControl())");
  }
  if (!control || options.hangUpOnEnd === false) {
    return { outcome: session ? await runSessionTask(task, session) : await task.run(), hungUp: false };
  }
  const transport = transportOfCall(answered);
  // The bot ended the call: hang up as soon as its last audio has played, before the socket closes.
  let atEnd: Promise<boolean> | undefined;
  const removeHook = transport?.beforeEndClose(async () => {
    atEnd ??= hangUpCall(control, answered.call, {
      clock: task.clock,
      logger: task.logger,
      timeoutMs,
      why: "the bot ended the call",
    });
    await atEnd;
  });
  let outcome: TaskOutcome;
  try {
    outcome = session ? await runSessionTask(task, session) : await task.run();
  } finally {
    removeHook?.();
  }
  // A socket that outlived its close bound leaves the hang-up going on: its result is awaited
  // here, within timeoutMs of when it started.
  if (atEnd) return { outcome, hungUp: await atEnd };
  // The caller hung up: the call is over at the provider.
  if (answered.serializer.stopped || transport?.endedByClient) return { outcome, hungUp: false };
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
