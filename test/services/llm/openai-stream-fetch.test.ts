/**
 * `openAIStreamFetch` (what the OpenAI service hands the SDK as its fetch) on its own, against a
 * loopback HTTP server, with httpFetch and with Node's fetch underneath; then what the service
 * says for the failures it catches and for a body that broke, through both fetches.
 */
import { once } from "node:events";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { LLMContextFrame, SystemClock } from "../../../src/index.js";
import { EventStreamError, NotEventStreamError } from "../../../src/services/http/http-errors.js";
import { type FetchFunction, httpFetch } from "../../../src/services/http/http-fetch.js";
import type { LLMServiceError } from "../../../src/services/llm/index.js";
import { OpenAILLMService } from "../../../src/services/llm/openai/index.js";
import { openAIStreamFetch } from "../../../src/services/llm/openai/openai-stream-fetch.js";
import { until } from "../http/loopback-sse.js";
import { runLLM, userContext } from "../http/run-llm.js";
import { roleChunk, textChunk } from "./loopback-openai.js";

interface TestServer {
  readonly url: string;
  /** Responses the client closed before they were finished. */
  readonly closedEarly: () => number;
  readonly requests: () => number;
  close(): Promise<void>;
}

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestServer> {
  let closedEarly = 0;
  let requests = 0;
  const server: Server = createServer((req, res) => {
    requests++;
    res.on("close", () => !res.writableFinished && closedEarly++);
    req.resume();
    req.on("end", () => handle(req, res));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  const s: TestServer = {
    url: `http://127.0.0.1:${port}`,
    closedEarly: () => closedEarly,
    requests: () => requests,
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    },
  };
  servers.push(s);
  return s;
}

/** Writes `parts` one by one, each in its own write, then ends. */
async function writeParts(res: ServerResponse, parts: readonly (string | Buffer)[]): Promise<void> {
  res.writeHead(200, { "content-type": "text/event-stream" });
  for (const part of parts) {
    if (res.destroyed) return;
    res.write(part);
    await new Promise((r) => setImmediate(r));
  }
  res.end();
}

async function readAll(response: Response): Promise<Buffer> {
  return Buffer.from(await response.arrayBuffer());
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a rejection");
}

const fetches: Array<[string, FetchFunction]> = [
  ["httpFetch", httpFetch],
  ["Node's fetch", globalThis.fetch],
];

for (const [name, inner] of fetches) {
  describe(`openAIStreamFetch over ${name}`, () => {
    it("a 200 that is not text/event-stream: the body errors at once naming its content type; the page is not read", async () => {
      const srv = await serve((_req, res) => {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        res.write("<!doctype html><p>Sign in</p>"); // and never ends: only a cancel closes it
      });
      const response = await openAIStreamFetch(inner)(`${srv.url}/v1/chat/completions`, { method: "POST" });
      expect(response.status).toBe(200);
      const error = await rejection(response.text());
      expect(error).toBeInstanceOf(NotEventStreamError);
      expect(error.message).toBe(
        `${srv.url}/v1/chat/completions answered text/html; charset=utf-8, not text/event-stream ` +
          "(a proxy in the way, or an endpoint that does not stream)",
      );
      await until(() => srv.closedEarly() === 1, 2_000, "the server to see the connection closed");
    });

    it("a 200 without a content type says so", async () => {
      const srv = await serve((_req, res) => {
        res.removeHeader("content-type");
        res.end("{}");
      });
      const response = await openAIStreamFetch(inner)(`${srv.url}/x`);
      expect((await rejection(response.text())).message).toMatch(/answered without a content type/);
    });

    it("an error status passes untouched: its body is the SDK's to read", async () => {
      const srv = await serve((_req, res) => {
        res.writeHead(404, { "content-type": "text/html" });
        res.end("<p>no such page</p>");
      });
      const response = await openAIStreamFetch(inner)(`${srv.url}/x`);
      expect(response.status).toBe(404);
      expect(await response.text()).toBe("<p>no such page</p>");
    });

    it("an event stream passes byte for byte, with status, headers and url", async () => {
      const parts = [
        "data: one\n\n",
        "data: t",
        "wo\r\n\r\n",
        Buffer.from([0xe2, 0x82]),
        Buffer.from([0xac, 10, 10]),
      ];
      const srv = await serve((_req, res) => void writeParts(res, parts));
      const response = await openAIStreamFetch(inner)(`${srv.url}/v1/chat/completions`);
      expect(response.headers.get("content-type")).toBe("text/event-stream");
      expect(response.url).toBe(`${srv.url}/v1/chat/completions`);
      expect(await readAll(response)).toEqual(Buffer.concat(parts.map((p) => Buffer.from(p))));
    });

    it("an event longer than the bound errors the body (malformed, not a stall) and closes the connection", async () => {
      const srv = await serve((_req, res) => {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.write("data: short\n\n");
        const piece = Buffer.alloc(16 * 1024, 0x61);
        const pump = (): void => {
          // Endless: only the client's close stops it.
          while (!res.destroyed) if (!res.write(piece)) return void res.once("drain", pump);
        };
        res.write("data: ");
        pump();
      });
      const response = await openAIStreamFetch(inner, 64 * 1024)(`${srv.url}/v1/chat/completions`);
      const reader = response.body!.getReader();
      let read = 0;
      const error = await rejection(
        (async () => {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) return;
            read += value.byteLength;
          }
        })(),
      );
      expect(error).toBeInstanceOf(EventStreamError);
      expect(error).not.toBeInstanceOf(NotEventStreamError);
      expect(error.message).toMatch(
        /sent an event \(or a line\) longer than 65536 bytes; the stream was abandoned/,
      );
      // What got through: the short event and at most the bound after it.
      expect(read).toBeLessThanOrEqual("data: short\n\n".length + 64 * 1024);
      await until(() => srv.closedEarly() === 1, 2_000, "the server to see the connection closed");
    });
  });
}

describe("openAIStreamFetch: the bound counts from the last event end, wherever the chunks cut", () => {
  const ends = ["\n\n", "\r\r", "\r\n\r\n"];
  it("events just under the bound, cut anywhere, all pass; one just over it fails", async () => {
    const max = 256;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: max - 4 }), fc.constantFrom(...ends)), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.array(fc.integer({ min: 1, max: 600 }), { minLength: 1, maxLength: 12 }),
        fc.boolean(),
        async (events, cuts, overflow) => {
          // Each event is `size` bytes of text, then its end: at most `max` bytes between two ends.
          let text = events.map(([size, end]) => "x".repeat(size) + end).join("");
          if (overflow) text += "y".repeat(max + 1);
          const bytes = Buffer.from(text);
          const chunks: Buffer[] = [];
          for (let at = 0, i = 0; at < bytes.length; i++) {
            const size = cuts[i % cuts.length]!;
            chunks.push(bytes.subarray(at, at + size));
            at += size;
          }
          const body = new ReadableStream<Uint8Array>({
            start(controller) {
              for (const c of chunks) controller.enqueue(c);
              controller.close();
            },
          });
          const source: FetchFunction = () =>
            Promise.resolve(new Response(body, { headers: { "content-type": "text/event-stream" } }));
          const response = await openAIStreamFetch(source, max)("http://x/");
          if (overflow) {
            expect(await rejection(response.arrayBuffer())).toBeInstanceOf(EventStreamError);
          } else {
            expect(Buffer.from(await response.arrayBuffer())).toEqual(bytes);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("OpenAILLMService: what it says, through httpFetch and Node's fetch alike", () => {
  for (const [name, fetch] of fetches) {
    it(`a 200 HTML page is one request failure naming text/html and OPENAI_BASE_URL, not retried (${name})`, async () => {
      const srv = await serve((_req, res) => {
        res.writeHead(200, { "content-type": "text/html" });
        res.end("<!doctype html><p>Sign in to the Wi-Fi</p>");
      });
      const llm = new OpenAILLMService({
        apiKey: "sk-test",
        baseURL: `${srv.url}/v1`,
        env: {},
        model: "gpt-test",
        retryBackoffMs: 10,
        fetch,
      });
      const t = runLLM(llm, new SystemClock());
      t.task.queueFrame(new LLMContextFrame(userContext()));
      await until(() => t.errors.length > 0, 3_000, "the error");
      await t.finish();
      const error = t.errors[0]!.error as LLMServiceError;
      expect(error.failure).toBe("request");
      expect(error.retryable).toBe(false);
      expect(error.message).toBe(
        `${llm.name}: ${srv.url}/v1/chat/completions answered text/html, not text/event-stream ` +
          "(a proxy in the way, or an endpoint that does not stream); check OPENAI_BASE_URL (or the baseURL " +
          "option): it is the API's base URL, such as https://api.openai.com/v1",
      );
      expect(srv.requests()).toBe(1);
    });

    for (const [what, respond, cause] of [
      [
        "a corrupt gzip body",
        (res: ServerResponse) => {
          res.writeHead(200, { "content-type": "text/event-stream", "content-encoding": "gzip" });
          res.end("this is not gzip at all\n\n");
        },
        "terminated (incorrect header check)",
      ],
      [
        "a connection cut after the first token",
        (res: ServerResponse) => {
          res.writeHead(200, { "content-type": "text/event-stream" });
          res.write(`data: ${JSON.stringify(roleChunk())}\n\ndata: ${JSON.stringify(textChunk("Hi"))}\n\n`);
          setTimeout(() => res.socket?.destroy(), 20);
        },
        "terminated (other side closed)",
      ],
    ] as const) {
      it(`${what}: the message names what broke, "${cause}" (${name})`, async () => {
        const srv = await serve((_req, res) => respond(res));
        const llm = new OpenAILLMService({
          apiKey: "sk-test",
          baseURL: `${srv.url}/v1`,
          env: {},
          model: "gpt-test",
          retryBackoffMs: 10,
          fetch,
        });
        const t = runLLM(llm, new SystemClock());
        t.task.queueFrame(new LLMContextFrame(userContext()));
        await until(() => t.errors.length > 0, 3_000, "the error");
        await t.finish();
        const error = t.errors[0]!.error as LLMServiceError;
        expect(error.failure).toBe("connection");
        expect(error.message).toBe(`${llm.name}: the stream from ${srv.url}/v1 broke off: ${cause}`);
      });
    }
  }
});
