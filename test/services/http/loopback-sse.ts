import { once } from "node:events";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A real HTTP server on 127.0.0.1 (port 0) that answers POSTs with server-sent events, for the
 * providers that stream over SSE (Anthropic Messages, Gemini streamGenerateContent). Each test's
 * responder writes the provider's documented events through an {@link SseWriter}.
 */

/** One request the server received, and what became of its connection. */
export interface SeenRequest {
  readonly n: number;
  readonly method: string;
  /** Path and query, as sent. */
  readonly url: string;
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

  /** Sends the headers of a streamed answer. */
  open(contentType = "text/event-stream"): void {
    if (this.res.headersSent) return;
    this.res.writeHead(200, { "content-type": contentType, "cache-control": "no-cache" });
    this.res.flushHeaders();
  }

  /** Sends `event: <name>` with `data` as JSON (Anthropic's form). */
  event(name: string, data: object): void {
    this.raw(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** Sends a `data:` event holding `data` as JSON (Gemini's form). */
  data(data: object, lineEnd = "\n"): void {
    this.raw(`data: ${JSON.stringify(data)}${lineEnd}${lineEnd}`);
  }

  /** Sends text or bytes as they are (a malformed event, a comment, half an event). */
  raw(text: string | Uint8Array): void {
    this.open();
    if (!this.res.destroyed) this.res.write(text);
  }

  /** Ends the response. */
  end(): void {
    this.open();
    this.res.end();
  }

  /** Cuts the connection. */
  destroy(): void {
    this.res.socket?.destroy();
  }

  /** Answers with an HTTP error and a JSON body. */
  error(status: number, body: object, headers: Record<string, string> = {}): void {
    this.res.writeHead(status, { "content-type": "application/json", ...headers });
    this.res.end(JSON.stringify(body));
  }

  /** Answers 200 with a body that is not an event stream. */
  plain(contentType: string, body: string): void {
    this.res.writeHead(200, { "content-type": contentType });
    this.res.end(body);
  }
}

/** Answers request `n` (1-based). May return before the answer is finished (a stream held open). */
export type Responder = (sse: SseWriter, n: number) => void | Promise<void>;

export interface LoopbackSse {
  /** `http://127.0.0.1:<port>`: the scheme and host. */
  readonly baseUrl: string;
  readonly requests: SeenRequest[];
  /** TCP connections accepted so far (a client that reuses its connections opens few). */
  readonly connections: () => number;
  close(): Promise<void>;
}

/** Starts the server; `path` says which request path is served (others get 404 with `notFound`). */
export async function loopbackSse(
  path: (url: string) => boolean,
  respond: Responder,
  notFound: object = { error: "not found" },
): Promise<LoopbackSse> {
  const requests: SeenRequest[] = [];
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (d: Buffer) => parts.push(d));
    req.on("end", () => {
      const text = Buffer.concat(parts).toString("utf8");
      const seen: SeenRequest = {
        n: requests.length + 1,
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: text === "" ? {} : (JSON.parse(text) as Record<string, unknown>),
        abortedByClient: false,
        closed: false,
      };
      requests.push(seen);
      res.on("close", () => {
        seen.closed = true;
        if (!res.writableFinished) seen.abortedByClient = true;
      });
      const writer = new SseWriter(res, seen);
      if (req.method !== "POST" || !path(seen.url)) {
        writer.error(404, notFound);
        return;
      }
      void respond(writer, seen.n);
    });
  });
  let connections = 0;
  server.on("connection", () => connections++);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    connections: () => connections,
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    },
  };
}

/** Waits, in real time, until `predicate` holds (polling every ms), failing after `timeoutMs`. */
export async function until(predicate: () => boolean, timeoutMs = 5_000, what = "condition"): Promise<void> {
  const start = performance.now();
  while (!predicate()) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}
