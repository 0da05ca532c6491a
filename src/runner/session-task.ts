import type { PipelineTask, TaskOutcome } from "../pipeline/task.js";
import type { DevSession } from "./dev-server.js";

/**
 * Runs `task` for one development-server session and ties the two together: when the session's
 * `closing` aborts (the server is shutting down, or the session reached its time limit) the task
 * ends by its normal end path (`stopWhenDone`: the bot finishes what it is saying, processors
 * flush); when `cancelled` aborts (the grace period is over) the task is cancelled. Resolves with
 * the task's outcome; never rejects.
 *
 * @example
 * startDevServer({ onSession: (socket, _request, session) => runSessionTask(makeBot(socket), session) });
 */
export async function runSessionTask(task: PipelineTask, session: DevSession): Promise<TaskOutcome> {
  const onClosing = (): void => {
    void task.stopWhenDone();
  };
  const onCancelled = (): void => {
    void task.cancel(describeReason(session.cancelled.reason));
  };
  if (session.closing.aborted) onClosing();
  else session.closing.addEventListener("abort", onClosing, { once: true });
  if (session.cancelled.aborted) onCancelled();
  else session.cancelled.addEventListener("abort", onCancelled, { once: true });
  try {
    return await task.run();
  } finally {
    session.closing.removeEventListener("abort", onClosing);
    session.cancelled.removeEventListener("abort", onCancelled);
  }
}

function describeReason(reason: unknown): string {
  return reason instanceof Error ? reason.message : "session cancelled";
}
