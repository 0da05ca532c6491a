/**
 * What the HTTP client of the OpenAI SDK costs on the way to the first token
 * (docs/design/llm-services.md, "The HTTP client"): the SDK streaming one short answer from a
 * loopback chat-completions server that answers at once, with Node's `fetch` (undici) and with
 * `httpFetch`, in alternating rounds. Per request: time to the server seeing it, to the response
 * headers, to the first text chunk, and CPU (client and server: they share the process).
 *
 *   npx tsx bench/llm-http-client.ts [requests=300] [rounds=3]
 */
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import OpenAI from "openai";
import { httpFetch } from "../src/services/http/http-fetch.js";
import { answer, loopbackOpenAI } from "../test/services/llm/loopback-openai.js";
import { benchArgs } from "./support/args.js";

const { named } = benchArgs();
const requests = Number(named["requests"] ?? 300);
const rounds = Number(named["rounds"] ?? 3);

let seenAt = 0;
const server = await loopbackOpenAI((sse) => {
  seenAt = performance.now();
  answer(sse, ["Sure", "."]);
});
const body = {
  model: "gpt-test",
  messages: [
    { role: "system" as const, content: "You are a helpful voice assistant. ".repeat(10) },
    { role: "user" as const, content: "What time is it in Paris?" },
  ],
  stream: true as const,
  stream_options: { include_usage: true },
};
const clients = {
  "node-fetch": new OpenAI({ apiKey: "sk-test", baseURL: server.baseURL, maxRetries: 0 }),
  "http-fetch": new OpenAI({ apiKey: "sk-test", baseURL: server.baseURL, maxRetries: 0, fetch: httpFetch }),
};

/** Times of one streamed request, in ms from its start: [server sees it, headers, first text]. */
async function once(client: OpenAI): Promise<[number, number, number]> {
  const start = performance.now();
  const stream = await client.chat.completions.create(body, { signal: new AbortController().signal });
  const headers = performance.now();
  let text = 0;
  for await (const chunk of stream)
    if (text === 0 && chunk.choices[0]?.delta?.content) text = performance.now();
  return [seenAt - start, headers - start, text - start];
}

const pct = (xs: number[], p: number): string =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!.toFixed(2);

console.log(
  `# ${requests} requests per client per round, ${rounds} rounds; load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`,
);
for (let round = 1; round <= rounds; round++) {
  for (const [name, client] of Object.entries(clients)) {
    for (let i = 0; i < 10; i++) await once(client);
    const seen: number[] = [];
    const headers: number[] = [];
    const text: number[] = [];
    const cpu = process.cpuUsage();
    for (let i = 0; i < requests; i++) {
      const [s, h, t] = await once(client);
      seen.push(s);
      headers.push(h);
      text.push(t);
      await new Promise((resolve) => setTimeout(resolve, 2)); // let the loop go idle between requests
    }
    const used = process.cpuUsage(cpu);
    const tag = `llm-http-${name}-round${round}`;
    console.log(`bench: ${tag}-to-server-p50 ${pct(seen, 50)} ms`);
    console.log(`bench: ${tag}-first-text-p50 ${pct(text, 50)} ms`);
    console.log(`bench: ${tag}-first-text-p90 ${pct(text, 90)} ms`);
    console.log(`bench: ${tag}-headers-p50 ${pct(headers, 50)} ms`);
    console.log(
      `bench: ${tag}-cpu-per-request ${((used.user + used.system) / 1000 / requests).toFixed(2)} ms`,
    );
  }
}
await server.close();
