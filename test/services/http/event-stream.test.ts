import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { type ServerSentEvent, postEventStream } from "../../../src/services/http/event-stream.js";
import {
  EventStreamError,
  HttpConnectionError,
  HttpStatusError,
  MAX_ERROR_BODY_CHARS,
  retryAfterMs,
} from "../../../src/services/http/http-errors.js";
import { resolveBaseUrl } from "../../../src/services/http/base-url.js";
import { type FetchFunction, httpFetch } from "../../../src/services/http/http-fetch.js";
import { type LoopbackSse, type Responder, loopbackSse, until } from "./loopback-sse.js";

const servers: LoopbackSse[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(respond: Responder): Promise<LoopbackSse> {
  const s = await loopbackSse((url) => url === "/stream", respond);
  servers.push(s);
  return s;
}

async function collect(
  srv: LoopbackSse,
  options: { maxEventChars?: number } = {},
): Promise<ServerSentEvent[]> {
  const events: ServerSentEvent[] = [];
  const controller = new AbortController();
  for await (const e of postEventStream({
    url: `${srv.baseUrl}/stream`,
    headers: { "x-test": "1" },
    body: { hello: "world" },
    signal: controller.signal,
    ...options,
  })) {
    events.push(e);
  }
  return events;
}

const pause = () => new Promise((r) => setTimeout(r, 1));

describe("postEventStream", () => {
  it("POSTs JSON with the headers and yields named and unnamed events, joining multi-line data, skipping comments", async () => {
    const srv = await server((sse) => {
      sse.raw(": keep-alive comment\n\n");
      sse.raw('event: message_start\ndata: {"a":1}\n\n');
      sse.raw("data: line one\ndata: line two\n\n");
      sse.raw("unknown: field\ndata: x\n\n");
      sse.end();
    });
    const events = await collect(srv);
    expect(events).toEqual([
      { event: "message_start", data: '{"a":1}' },
      { event: undefined, data: "line one\nline two" },
      { event: undefined, data: "x" },
    ]);
    const req = srv.requests[0]!;
    expect(req.body).toEqual({ hello: "world" });
    expect(req.headers["content-type"]).toBe("application/json");
    expect(req.headers["accept"]).toBe("text/event-stream");
    expect(req.headers["x-test"]).toBe("1");
  });

  it("decodes a UTF-8 character split across two network chunks, and \\r line ends", async () => {
    const bytes = Buffer.from("data: héllo 😀 wörld\r\r", "utf8");
    const emoji = bytes.indexOf(0xf0);
    const srv = await server(async (sse) => {
      sse.raw(bytes.subarray(0, emoji + 2)); // in the middle of the 4-byte emoji
      await pause();
      sse.raw(bytes.subarray(emoji + 2));
      sse.end();
    });
    expect(await collect(srv)).toEqual([{ event: undefined, data: "héllo 😀 wörld" }]);
  });

  it("property: however the bytes of a stream are cut into chunks, the same events come out", async () => {
    const texts = ["plain", "é 中文 😀", 'json {"k":[1,2]}', ""];
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(...texts), { minLength: 1, maxLength: 5 }),
        fc.constantFrom("\n", "\r\n", "\r"),
        fc.array(fc.nat(), { maxLength: 6 }),
        async (datas, eol, cutSeeds) => {
          const wire = Buffer.from(datas.map((d) => `event: e${eol}data: ${d}${eol}${eol}`).join(""), "utf8");
          const cuts = [...new Set(cutSeeds.map((s) => s % wire.length))].sort((a, b) => a - b);
          const srv = await server(async (sse) => {
            let from = 0;
            for (const at of [...cuts, wire.length]) {
              sse.raw(wire.subarray(from, at));
              from = at;
              await pause();
            }
            sse.end();
          });
          const events = await collect(srv);
          await srv.close();
          servers.splice(servers.indexOf(srv), 1);
          expect(events).toEqual(datas.map((d) => ({ event: "e", data: d })));
        },
      ),
      { numRuns: 40 },
    );
  });

  it("drops an event the body ended in the middle of (no blank line after it)", async () => {
    const srv = await server((sse) => {
      sse.raw("data: whole\n\ndata: half");
      sse.end();
    });
    expect(await collect(srv)).toEqual([{ event: undefined, data: "whole" }]);
  });

  it("refuses an event larger than maxEventChars: memory stays bounded against a line that never ends", async () => {
    const srv = await server(async (sse) => {
      sse.raw("data: ");
      for (let i = 0; i < 40 && !sse.request.closed; i++) {
        sse.raw("x".repeat(1024));
        await pause();
      }
    });
    const error = await collect(srv, { maxEventChars: 8 * 1024 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EventStreamError);
    expect((error as Error).message).toContain("longer than 8192 characters");
    await until(() => srv.requests[0]!.closed, 5_000, "the request closed");
    expect(srv.requests[0]!.abortedByClient).toBe(true);
  });

  it("an error status gives HttpStatusError with the status, headers and the body's text, read only up to a bound", async () => {
    const huge = "E".repeat(MAX_ERROR_BODY_CHARS * 20);
    const srv = await server((sse) => sse.error(500, { error: { message: huge } }, { "retry-after": "3" }));
    const error = (await collect(srv).catch((e: unknown) => e)) as HttpStatusError;
    expect(error).toBeInstanceOf(HttpStatusError);
    expect(error.status).toBe(500);
    expect(error.body.length).toBe(MAX_ERROR_BODY_CHARS);
    expect(retryAfterMs(error.headers)).toBe(3000);
    expect(error.json).toBeUndefined(); // cut, so no longer JSON
  });

  it("an unreachable server gives HttpConnectionError naming the socket error", async () => {
    const srv = await server(() => undefined);
    await srv.close();
    servers.splice(0);
    const error = await collect(srv).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpConnectionError);
    expect((error as HttpConnectionError).midStream).toBe(false);
    expect((error as Error).message).toMatch(/could not reach .*ECONNREFUSED/);
  });

  it("a connection cut mid-stream gives HttpConnectionError after the events already received", async () => {
    const srv = await server(async (sse) => {
      sse.raw("data: one\n\n");
      await pause();
      sse.destroy();
    });
    const seen: string[] = [];
    const error = await (async () => {
      for await (const e of postEventStream({
        url: `${srv.baseUrl}/stream`,
        headers: {},
        body: {},
        signal: new AbortController().signal,
      }))
        seen.push(e.data);
    })().catch((e: unknown) => e);
    expect(seen).toEqual(["one"]);
    expect(error).toBeInstanceOf(HttpConnectionError);
    expect((error as HttpConnectionError).midStream).toBe(true);
  });

  it("leaving the loop early closes the response (the server sees the client go)", async () => {
    const srv = await server((sse) => {
      sse.raw("data: one\n\n"); // and the stream stays open
    });
    for await (const e of postEventStream({
      url: `${srv.baseUrl}/stream`,
      headers: {},
      body: {},
      signal: new AbortController().signal,
    })) {
      expect(e.data).toBe("one");
      break;
    }
    await until(() => srv.requests[0]!.closed, 5_000, "the request closed");
    expect(srv.requests[0]!.abortedByClient).toBe(true);
  });
});

/** What became of one postEventStream: the events' data, then the error's class, message (port-free) and whether it is the abort reason. */
async function outcome(
  srv: LoopbackSse,
  fetch: FetchFunction,
  abort?: (controller: AbortController, events: number) => void,
): Promise<{ data: string[]; error?: string; message?: string; isReason?: boolean }> {
  const controller = new AbortController();
  const data: string[] = [];
  abort?.(controller, 0);
  try {
    for await (const e of postEventStream({
      url: `${srv.baseUrl}/stream`,
      headers: {},
      body: {},
      signal: controller.signal,
      fetch,
    })) {
      data.push(e.data);
      abort?.(controller, data.length);
    }
    return { data };
  } catch (e) {
    const error = e as Error;
    return {
      data,
      error: error.constructor.name,
      message: error.message.replaceAll(srv.baseUrl, "URL").replace(/127\.0\.0\.1:\d+/gu, "HOST"),
      isReason: e === controller.signal.reason,
    };
  }
}

describe("postEventStream: the same outcome with httpFetch (the default) and with Node's fetch", () => {
  const reason = new Error("interrupted");
  const cases: Array<[string, Responder, ((c: AbortController, events: number) => void)?, boolean?]> = [
    ["a refused connection", () => undefined, undefined, true],
    ["an abort before the response", () => undefined, (c) => setTimeout(() => c.abort(reason), 20)],
    [
      "an abort after the first event",
      (sse) => sse.raw("data: one\n\n"),
      (c, n) => n === 1 && c.abort(reason),
    ],
    [
      "a connection cut mid-stream",
      async (sse) => {
        sse.raw("data: one\n\n");
        await pause();
        sse.destroy();
      },
    ],
    ["an error status", (sse) => sse.error(429, { error: { message: "slow down" } })],
    ["an answer that is not an event stream", (sse) => sse.plain("text/html", "<html>proxy</html>")],
    [
      "a gzip-compressed event stream",
      (sse) => {
        sse.open();
        sse.raw(gzipSync("data: zipped\n\ndata: twice\n\n"));
        sse.end();
      },
    ],
  ];
  for (const [name, respond, abort, closed] of cases) {
    it(name, async () => {
      const results = [];
      for (const fetch of [httpFetch, globalThis.fetch]) {
        const srv = await server(respond);
        if (closed) await srv.close();
        results.push(await outcome(srv, fetch, abort));
      }
      expect(results[0]).toEqual(results[1]);
      if (abort) expect(results[0]!.isReason).toBe(true);
    });
  }

  it("the default sends through httpFetch's shared pool: a connection it left idle is reused (Node's fetch opens its own)", async () => {
    const counts: number[] = [];
    for (const fetch of [undefined, globalThis.fetch]) {
      const srv = await server((sse) => {
        sse.raw("data: one\n\n");
        sse.end();
      });
      await (await httpFetch(`${srv.baseUrl}/warm`, { method: "POST", body: "{}" })).text(); // leaves one idle connection
      for (let i = 0; i < 2; i++) {
        for await (const _ of postEventStream({
          url: `${srv.baseUrl}/stream`,
          headers: {},
          body: {},
          signal: new AbortController().signal,
          ...(fetch ? { fetch } : {}),
        }));
      }
      counts.push(srv.connections());
    }
    expect(counts[0]).toBe(1); // the warm-up's connection, then both requests on it
    expect(counts[1]).toBeGreaterThan(1); // the warm-up's connection is not Node's fetch's to use
  });
});

describe("retryAfterMs", () => {
  it("reads retry-after-ms, then retry-after seconds; ignores dates and nonsense", () => {
    expect(retryAfterMs(new Headers({ "retry-after-ms": "250", "retry-after": "9" }))).toBe(250);
    expect(retryAfterMs(new Headers({ "retry-after": "1.5" }))).toBe(1500);
    expect(retryAfterMs(new Headers({ "retry-after": "Wed, 21 Oct 2015 07:28:00 GMT" }))).toBeUndefined();
    expect(retryAfterMs(new Headers({ "retry-after": "-1" }))).toBeUndefined();
    expect(retryAfterMs(new Headers())).toBeUndefined();
  });
});

describe("resolveBaseUrl", () => {
  it("prefers the option, then the variable, then the default; trims a trailing slash", () => {
    expect(resolveBaseUrl("S", "http://a:1/", "X_BASE_URL", { X_BASE_URL: "http://b" }, "https://c")).toBe(
      "http://a:1",
    );
    expect(resolveBaseUrl("S", undefined, "X_BASE_URL", { X_BASE_URL: " http://b/p// " }, "https://c")).toBe(
      "http://b/p",
    );
    expect(resolveBaseUrl("S", undefined, "X_BASE_URL", { X_BASE_URL: "" }, "https://c")).toBe("https://c");
  });

  it("names where a bad value came from", () => {
    expect(() => resolveBaseUrl("S", undefined, "X_BASE_URL", { X_BASE_URL: "nope" }, "https://c")).toThrow(
      /S: X_BASE_URL \("nope"\) is not a URL/,
    );
    expect(() => resolveBaseUrl("S", "https://a?key=1", "X_BASE_URL", {}, "https://c")).toThrow(
      /the baseUrl option .*without a query/,
    );
  });
});
