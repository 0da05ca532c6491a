/**
 * Reads at most `limitBytes` of a response body as UTF-8 and lets go of the rest, so a server
 * cannot make us hold more than that. `truncated`: the body was longer. Rejects when the body
 * breaks off (or the request's signal aborts).
 */
export async function readBody(
  response: Response,
  limitBytes: number,
): Promise<{ text: string; truncated: boolean }> {
  const body = response.body;
  if (!body) return { text: "", truncated: false };
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
      if (size > limitBytes) {
        truncated = true;
        break;
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  return { text: Buffer.concat(chunks).subarray(0, limitBytes).toString("utf8"), truncated };
}
