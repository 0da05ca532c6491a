/**
 * Turns whatever the official client rejects or reports with into one sentence for the page:
 * a refused `POST /start` (its status and the server's `detail`), an RTVI `error` message
 * (`data.message` or `data.error`), an `Error`, or anything else.
 */
export function describeError(error: unknown): string {
  // client-js turns a refused POST /start into an Error with the HTTP status and the body's
  // `detail` (or `info`) as its message.
  if (error instanceof Error && typeof (error as { status?: unknown }).status === "number") {
    const status = (error as unknown as { status: number }).status;
    if (status !== 500 || error.message) {
      return `The server refused to start a session (POST /start answered ${status}): ${error.message}`;
    }
  }
  if (error && typeof error === "object" && "data" in error) {
    const data = (error as { data: unknown }).data;
    if (data && typeof data === "object") {
      const d = data as { message?: unknown; error?: unknown; fatal?: unknown };
      const text = String(d.message ?? d.error ?? JSON.stringify(data));
      return d.fatal ? `${text} (the session ended)` : text;
    }
  }
  if (error instanceof Error) {
    if (error.name === "TypeError" && /fetch/i.test(error.message)) {
      return `The server could not be reached (${error.message}); is the development server still running?`;
    }
    return error.message || error.name;
  }
  return String(error);
}
