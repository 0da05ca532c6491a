/**
 * What the HTTP client costs on the way to the first token (docs/design/llm-services.md, "The HTTP
 * client"), with Node's `fetch` (undici) and with `httpFetch`, in alternating rounds, against
 * loopback servers that answer at once:
 * - `openai`: the OpenAI SDK streaming one short chat completion;
 * - `anthropic`: the Anthropic service's request path (`postEventStream`, the Messages API's
 *   events, read to the end of the body as the service does).
 * Per request: time to the server seeing it, to the response headers (OpenAI only: the SDK gives
 * them apart), to the first text, and CPU (client and server: they share the process).
 *
 * `first=http-fetch` runs `httpFetch` first in each round (by default Node's `fetch` goes first, and
 * its first round also warms the code both share).
 *
 *   npx tsx bench/llm-http-client.ts [requests=300] [rounds=3] [provider=openai|anthropic|all] [first=node-fetch|http-fetch]
 */
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import OpenAI from "openai";
import { postEventStream } from "../src/services/http/event-stream.js";
import { type FetchFunction, httpFetch } from "../src/services/http/http-fetch.js";
import { answer as anthropicAnswer } from "../test/services/anthropic/anthropic-events.js";
import { loopbackSse } from "../test/services/http/loopback-sse.js";
import { answer, loopbackOpenAI } from "../test/services/llm/loopback-openai.js";
import { benchArgs } from "./support/args.js";

const { named } = benchArgs();
const requests = Number(named["requests"] ?? 300);
const rounds = Number(named["rounds"] ?? 3);
const provider = named["provider"] ?? "all";
const first = named["first"] ?? "node-fetch";

/** Times of one streamed request, in ms from its start. */
interface Times {
  seen: number;
  headers?: number;
  text: number;
}
type Once = () => Promise<Times>;

let seenAt = 0;
const system = "You are a helpful voice assistant. ".repeat(10);
const question = "What time is it in Paris?";
const closers: Array<() => Promise<void>> = [];

async function openaiCases(): Promise<Record<string, Once>> {
  const server = await loopbackOpenAI((sse) => {
    seenAt = performance.now();
    answer(sse, ["Sure", "."]);
  });
  closers.push(() => server.close());
  const body = {
    model: "gpt-test",
    messages: [
      { role: "system" as const, content: system },
      { role: "user" as const, content: question },
    ],
    stream: true as const,
    stream_options: { include_usage: true },
  };
  const once =
    (client: OpenAI): Once =>
    async () => {
      const start = performance.now();
      const stream = await client.chat.completions.create(body, { signal: new AbortController().signal });
      const headers = performance.now();
      let text = 0;
      for await (const chunk of stream)
        if (text === 0 && chunk.choices[0]?.delta?.content) text = performance.now();
      return { seen: seenAt - start, headers: headers - start, text: text - start };
    };
  return {
    "node-fetch": once(new OpenAI({ apiKey: "sk-test", baseURL: server.baseURL, maxRetries: 0 })),
    "http-fetch": once(
      new OpenAI({ apiKey: "sk-test", baseURL: server.baseURL, maxRetries: 0, fetch: httpFetch }),
    ),
  };
}

async function anthropicCases(): Promise<Record<string, Once>> {
  const server = await loopbackSse(
    (url) => url === "/v1/messages",
    (sse) => {
      seenAt = performance.now();
      anthropicAnswer(sse, ["Sure", "."]);
    },
  );
  closers.push(() => server.close());
  const body = {
    model: "claude-test",
    max_tokens: 1024,
    system,
    messages: [{ role: "user", content: [{ type: "text", text: question }] }],
    stream: true,
  };
  const once =
    (fetch: FetchFunction): Once =>
    async () => {
      const start = performance.now();
      let text = 0;
      for await (const event of postEventStream({
        url: `${server.baseUrl}/v1/messages`,
        headers: { "x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01" },
        body,
        signal: new AbortController().signal,
        fetch,
      })) {
        if (text === 0 && event.event === "content_block_delta") text = performance.now();
      }
      return { seen: seenAt - start, text: text - start };
    };
  return { "node-fetch": once(globalThis.fetch), "http-fetch": once(httpFetch) };
}

const pct = (xs: number[], p: number): string =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!.toFixed(2);

const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");

const providers: Record<string, Record<string, Once>> = {};
if (provider === "all" || provider === "openai") providers["openai"] = await openaiCases();
if (provider === "all" || provider === "anthropic") providers["anthropic"] = await anthropicCases();
if (Object.keys(providers).length === 0)
  throw new Error(`provider must be openai, anthropic or all (got ${provider})`);

console.log(`# ${requests} requests per client per round, ${rounds} rounds; load average ${load()}`);
for (let round = 1; round <= rounds; round++) {
  for (const [name, clients] of Object.entries(providers)) {
    const order = Object.entries(clients).sort(([a], [b]) => Number(b === first) - Number(a === first));
    for (const [client, once] of order) {
      for (let i = 0; i < 10; i++) await once();
      const seen: number[] = [];
      const headers: number[] = [];
      const text: number[] = [];
      const cpu = process.cpuUsage();
      for (let i = 0; i < requests; i++) {
        const t = await once();
        seen.push(t.seen);
        if (t.headers !== undefined) headers.push(t.headers);
        text.push(t.text);
        await new Promise((resolve) => setTimeout(resolve, 2)); // let the loop go idle between requests
      }
      const used = process.cpuUsage(cpu);
      // The OpenAI names stay as they were, so earlier results compare.
      const tag = `${name === "openai" ? "llm-http" : `llm-http-${name}`}-${client}-round${round}`;
      console.log(`bench: ${tag}-to-server-p50 ${pct(seen, 50)} ms`);
      console.log(`bench: ${tag}-first-text-p50 ${pct(text, 50)} ms`);
      console.log(`bench: ${tag}-first-text-p90 ${pct(text, 90)} ms`);
      if (headers.length > 0) console.log(`bench: ${tag}-headers-p50 ${pct(headers, 50)} ms`);
      console.log(
        `bench: ${tag}-cpu-per-request ${((used.user + used.system) / 1000 / requests).toFixed(2)} ms`,
      );
    }
  }
}
console.log(`# load average at the end ${load()}`);
for (const close of closers) await close();
