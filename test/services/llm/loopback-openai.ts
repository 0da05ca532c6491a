import { once } from "node:events";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A real HTTP server on 127.0.0.1 that speaks OpenAI chat-completions streaming as documented:
 * `POST /v1/chat/completions`, `text/event-stream`, `data: <chunk JSON>` events separated by a
 * blank line, `data: [DONE]` at the end, errors as `{"error":{…}}` with an HTTP status.
 */

/** One request the server received, and what became of its connection. */
export interface SeenRequest {
  readonly n: number;
  readonly headers: IncomingMessage["headers"];
  readonly body: Record<string, unknown>;
  /** The client closed the connection before the response was finished. */
  abortedByClient: boolean;
  /** The response (or the connection) is over. */
  closed: boolean;
}

/** Writes one streamed answer. */
export class SseWriter {
  constructor(
    private readonly res: ServerResponse,
    readonly request: SeenRequest,
  ) {}

  /** Sends the headers of a streamed answer (the SDK's request resolves then). */
  open(): void {
    if (this.res.headersSent) return;
    this.res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    this.res.flushHeaders();
  }

  /** Sends one `data:` event holding `chunk` as JSON. */
  send(chunk: object): void {
    this.raw(`data: ${JSON.stringify(chunk)}\n\n`);
  }

  /** Sends text as it is (a malformed event, a comment, a split event). */
  raw(text: string): void {
    this.open();
    if (!this.res.destroyed) this.res.write(text);
  }

  /** `data: [DONE]` and the end of the response. */
  done(): void {
    this.raw("data: [DONE]\n\n");
    this.res.end();
  }

  /** Ends the response without `[DONE]`. */
  end(): void {
    this.open();
    this.res.end();
  }

  /** Cuts the connection. */
  destroy(): void {
    this.res.socket?.destroy();
  }

  /** Answers with an HTTP error in OpenAI's shape. */
  error(status: number, message: string, headers: Record<string, string> = {}): void {
    this.res.writeHead(status, { "content-type": "application/json", ...headers });
    this.res.end(JSON.stringify({ error: { message, type: "test_error", param: null, code: null } }));
  }
}

/** Answers request `n` (1-based). May return before the answer is finished (a stream held open). */
export type Responder = (sse: SseWriter, n: number) => void | Promise<void>;

export interface LoopbackOpenAI {
  readonly baseURL: string;
  readonly requests: SeenRequest[];
  close(): Promise<void>;
}

export async function loopbackOpenAI(respond: Responder): Promise<LoopbackOpenAI> {
  const requests: SeenRequest[] = [];
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (d: Buffer) => parts.push(d));
    req.on("end", () => {
      const seen: SeenRequest = {
        n: requests.length + 1,
        headers: req.headers,
        body: JSON.parse(Buffer.concat(parts).toString("utf8")) as Record<string, unknown>,
        abortedByClient: false,
        closed: false,
      };
      requests.push(seen);
      res.on("close", () => {
        seen.closed = true;
        if (!res.writableFinished) seen.abortedByClient = true;
      });
      if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
        res.writeHead(404).end();
        return;
      }
      void respond(new SseWriter(res, seen), seen.n);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    },
  };
}

// ---------------------------------------------------------------- chunks, as documented

const base = { id: "chatcmpl-1", object: "chat.completion.chunk", created: 1767225600, model: "gpt-test" };

/** The first chunk: the role, no content. */
export function roleChunk(): object {
  return {
    ...base,
    choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }],
    usage: null,
  };
}

export function textChunk(text: string): object {
  return { ...base, choices: [{ index: 0, delta: { content: text }, finish_reason: null }], usage: null };
}

export function toolCallChunk(call: {
  index: number;
  id?: string;
  name?: string;
  arguments?: string;
}): object {
  const fn: Record<string, string> = {};
  if (call.name !== undefined) fn["name"] = call.name;
  if (call.arguments !== undefined) fn["arguments"] = call.arguments;
  return {
    ...base,
    choices: [
      {
        index: 0,
        delta: {
          tool_calls: [
            { index: call.index, ...(call.id ? { id: call.id, type: "function" } : {}), function: fn },
          ],
        },
        finish_reason: null,
      },
    ],
    usage: null,
  };
}

export function finishChunk(reason: "stop" | "tool_calls" | "length"): object {
  return { ...base, choices: [{ index: 0, delta: {}, finish_reason: reason }], usage: null };
}

export function usageChunk(prompt: number, completion: number): object {
  return {
    ...base,
    choices: [],
    usage: {
      prompt_tokens: prompt,
      completion_tokens: completion,
      total_tokens: prompt + completion,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0 },
    },
  };
}

/** A whole answer: role, the texts, stop, usage, [DONE]. */
export function answer(
  sse: SseWriter,
  texts: readonly string[],
  usage: [number, number] = [10, texts.length],
): void {
  sse.send(roleChunk());
  for (const t of texts) sse.send(textChunk(t));
  sse.send(finishChunk("stop"));
  sse.send(usageChunk(usage[0], usage[1]));
  sse.done();
}

/** Waits, in real time, until `predicate` holds (polling every ms), failing after `timeoutMs`. */
export async function until(predicate: () => boolean, timeoutMs = 5_000, what = "condition"): Promise<void> {
  const start = performance.now();
  while (!predicate()) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}
