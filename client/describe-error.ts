/**
 * Turns whatever the official client rejects or reports with into one sentence for the page:
 * a `Response` from `POST /start` (the server's JSON `{ error }` body when there is one), an RTVI
 * `error` message (`data.message` or `data.error`), an `Error`, or anything else.
 */
export async function describeError(error: unknown): Promise<string> {
  if (typeof Response !== "undefined" && error instanceof Response) {
    let detail = "";
    try {
      const body: unknown = await error.json();
      if (body && typeof body === "object" && "error" in body) detail = `: ${String(body.error)}`;
    } catch {
      // Not JSON: the status line says enough.
    }
    return `The server refused to start a session (POST /start answered ${error.status} ${error.statusText})${detail}`;
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
