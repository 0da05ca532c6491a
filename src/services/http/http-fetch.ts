import { whenAborted } from "../../clock/when-aborted.js";
import { describe } from "../../errors.js";
import {
  Agent as HttpAgent,
  type IncomingMessage,
  type ClientRequest,
  request as httpRequest,
} from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import type { Readable, Transform } from "node:stream";
import { createBrotliDecompress, createGunzip } from "node:zlib";
import { createDeflateDecoder } from "./deflate-decoder.js";

/** A function with `fetch`'s signature (what the provider SDKs accept as their `fetch` option). */
export type FetchFunction = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/**
 * Longest an idle connection is kept for the next request, in ms; less when the server announces
 * a shorter keep-alive (then 1 s less than it says, so a request never races the server's close).
 */
export const HTTP_FETCH_IDLE_MS = 60_000;

/** Statuses whose response has no body (a `Response` refuses one). */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

let agents: { http: HttpAgent; https: HttpsAgent } | undefined;

/** The process's keep-alive agents, made on first use (idle sockets do not hold the process open). */
function sharedAgents(): { http: HttpAgent; https: HttpsAgent } {
  return (agents ??= {
    http: new HttpAgent({ keepAlive: true, timeout: HTTP_FETCH_IDLE_MS, scheduling: "lifo" }),
    https: new HttpsAgent({ keepAlive: true, timeout: HTTP_FETCH_IDLE_MS, scheduling: "lifo" }),
  });
}

/**
 * `fetch` for the requests of LLM providers, on `node:http`/`node:https` with one keep-alive agent
 * per process (docs/design/llm-services.md, "The HTTP client"). Node's own `fetch` (undici) costs
 * 1–3 ms of CPU per request on Node 20 (its request and response objects, and web streams in
 * both directions), all of it on the path from the end of the user's turn to the first word of
 * the answer, and it closes a connection idle for 4 s, so the next turn after a pause paid a new
 * TCP and TLS handshake. This one keeps connections for {@link HTTP_FETCH_IDLE_MS} (or what the
 * server announces), and answers with a real `Response` whose body streams the socket's data as
 * it comes.
 *
 * What it handles itself: `http:` and `https:` URLs, a string, `Uint8Array` or `ArrayBuffer` body
 * (or none), headers in any form, `signal`, bodies coded gzip, deflate (zlib-wrapped or raw) or
 * br, or a list of them (`deflate, gzip` is undone last to first; a list with a coding it does not
 * know is left as it came), each as `fetch` reads it. Anything else (a `Request` object, a stream
 * or form body, a redirect to follow) goes to Node's `fetch`, so behaviour never differs from
 * `fetch`'s, only its cost.
 *
 * One resend, where `fetch` has none: a request sent on a kept connection (`req.reusedSocket`)
 * that fails with ECONNRESET or EPIPE (or "socket hang up") before one byte of the answer came
 * is sent again at once, once, on a new connection. That is the race every keep-alive client has
 * with a server that closes idle connections without saying when (uvicorn, Go's net/http, load
 * balancers): the server closed the connection as our request went out on it, so it never read
 * the request, and a server that did read it would have answered before closing. This is the
 * pattern Node's http documentation recommends. Its limit: a server that read the request,
 * started on it and then closed the connection without a byte of answer (it crashed, or a proxy
 * dropped it) gets it twice; for an LLM completion that is a second billed request whose first
 * answer nobody reads. Never resent: a request on a new connection, one whose answer had begun,
 * one aborted, one already resent.
 *
 * Errors as `fetch` gives them: a request that cannot be sent rejects with
 * `TypeError("fetch failed")` (the socket's error as `cause`); an abort rejects with
 * `signal.reason` before the response, and errors the body stream with it after; a connection
 * that breaks mid-body errors the body stream with `TypeError("terminated")` (cause "other side
 * closed"), a body that does not decode likewise (the decoder's error as cause).
 */
export const httpFetch: FetchFunction = (input, init = {}) => {
  const url = typeof input === "string" ? safeUrl(input) : input instanceof URL ? input : undefined;
  const body = requestBody(init.body);
  if (
    url === undefined ||
    body === undefined ||
    (url.protocol !== "http:" && url.protocol !== "https:") ||
    (init.redirect !== undefined && init.redirect !== "follow")
  ) {
    return fetch(input, init);
  }
  return send(url, init, body).then((response) => response ?? fetch(input, init));
};

/** The body as bytes or a string; `null` for none; `undefined` when only `fetch` can send it. */
function requestBody(body: RequestInit["body"]): string | Uint8Array | null | undefined {
  if (body === undefined || body === null) return null;
  if (typeof body === "string" || body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  return undefined;
}

function safeUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined; // fetch gives the error
  }
}

/**
 * Sends one request; resolves with its response, or with `undefined` for a redirect (which
 * `fetch` follows instead: the body is a string or bytes, so it can be sent again).
 */
function send(
  url: URL,
  init: RequestInit,
  body: string | Uint8Array | null,
  resent = false,
): Promise<Response | undefined> {
  const signal = init.signal ?? undefined;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const method = (init.method ?? "GET").toUpperCase();
  const headers: Record<string, string> = {};
  new Headers(init.headers).forEach((value, name) => (headers[name] = value));
  if (body !== null) {
    headers["content-length"] = String(typeof body === "string" ? Buffer.byteLength(body) : body.byteLength);
    if (typeof body === "string") headers["content-type"] ??= "text/plain;charset=UTF-8";
  }
  const https = url.protocol === "https:";
  const options = { method, headers, agent: https ? sharedAgents().https : sharedAgents().http };
  return new Promise<Response | undefined>((resolve, reject) => {
    let response: IncomingMessage | undefined;
    let settled = false;
    const onAbort = (): void => {
      const reason: unknown = signal?.reason;
      req.destroy();
      if (response) response.destroy(reason instanceof Error ? reason : new Error(describe(reason)));
      if (!settled) {
        settled = true;
        reject(reason);
      }
    };
    const req: ClientRequest = (https ? httpsRequest : httpRequest)(url, options, (res) => {
      response = res;
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location !== undefined) {
        stopWaiting();
        res.resume();
        settled = true;
        resolve(undefined);
        return;
      }
      try {
        const answer = toResponse(res, url, signal);
        settled = true;
        resolve(answer);
      } catch (error) {
        stopWaiting();
        res.destroy();
        settled = true;
        reject(new TypeError("fetch failed", { cause: error }));
        return;
      }
      res.once("close", () => stopWaiting());
    });
    // What the socket had read when this request got it: more by the error means the answer began.
    let bytesReadBefore: number | undefined;
    req.once("socket", (socket) => (bytesReadBefore = socket.bytesRead));
    req.once("error", (error) => {
      if (settled) return; // after the response: the body stream reports it
      settled = true;
      stopWaiting();
      if (signal?.aborted) return reject(signal.reason);
      const unanswered = bytesReadBefore !== undefined && req.socket?.bytesRead === bytesReadBefore;
      if (!resent && req.reusedSocket && unanswered && closedUnderUs(error)) {
        // The server closed this idle connection as the request went out (see httpFetch).
        return resolve(send(url, init, body, true));
      }
      reject(new TypeError("fetch failed", { cause: error }));
    });
    const stopWaiting = signal ? whenAborted(signal, onAbort) : noop;
    req.end(body ?? undefined);
  });
}

/** A `Response` whose body streams `res` (decoded when the server compressed it). */
function toResponse(res: IncomingMessage, url: URL, signal: AbortSignal | undefined): Response {
  const headers = new Headers();
  const raw = res.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  const status = res.statusCode ?? 0;
  let stream: Readable = res;
  for (const decoder of decoders(res.headers["content-encoding"])) {
    const from = stream;
    stream = from.pipe(decoder);
    from.once("error", (error) => decoder.destroy(error));
    decoder.once("close", () => from.destroy());
  }
  const body = NULL_BODY_STATUSES.has(status) ? null : webBody(stream, signal);
  if (body === null) res.resume();
  const response = new Response(body, { status, statusText: res.statusMessage ?? "", headers });
  Object.defineProperty(response, "url", { value: url.href });
  return response;
}

/** Most codings one body may list; more is refused, as `fetch` refuses it (a decompression chain without bound). */
const MAX_CODINGS = 5;

/**
 * The decoders of a `content-encoding` list, in the order they apply: the codings were applied
 * in the order listed, so they are undone from the last to the first (`deflate, gzip` is gunzip,
 * then inflate). As `fetch` does: one coding it does not know (`zstd`, `identity`) leaves the body
 * as it came, undecoded; more than {@link MAX_CODINGS} codings is an error.
 */
function decoders(header: string | undefined): Transform[] {
  if (header === undefined) return [];
  const codings = header
    .toLowerCase()
    .split(",")
    .map((coding) => coding.trim());
  if (codings.length > MAX_CODINGS)
    throw new Error(
      `too many content-encodings in response: ${codings.length}, maximum allowed is ${MAX_CODINGS}`,
    );
  if (!codings.every((coding) => coding in DECODERS)) return [];
  return codings.reverse().map((coding) => DECODERS[coding]!());
}

/** The codings `fetch` decodes, each with a factory for its decoder. */
const DECODERS: Readonly<Record<string, () => Transform>> = {
  gzip: createGunzip,
  "x-gzip": createGunzip,
  deflate: createDeflateDecoder, // zlib-wrapped or raw, as fetch reads it
  br: createBrotliDecompress,
};

/** Highest number of body bytes read ahead of the reader before the socket is paused. */
const BODY_HIGH_WATER_BYTES = 64 * 1024;

/**
 * `stream` as a web stream, read ahead by at most {@link BODY_HIGH_WATER_BYTES}. It errors as
 * `fetch`'s body does: with `signal.reason` after an abort, else `TypeError("terminated")` with
 * the cause (a connection the server cut is "other side closed", as `fetch` says it, not Node's
 * "aborted", which reads as if the client had aborted). Cancelling it closes the connection.
 */
function webBody(stream: Readable, signal: AbortSignal | undefined): ReadableStream<Uint8Array> {
  let cancelled = (): void => undefined;
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        let over = false; // ended, failed or cancelled: the controller takes nothing more
        const fail = (error: unknown): void => {
          if (over) return;
          over = true;
          controller.error(error);
        };
        stream.on("data", (chunk: Buffer) => {
          if (over) return;
          controller.enqueue(chunk);
          if ((controller.desiredSize ?? 0) <= 0) stream.pause();
        });
        stream.once("end", () => {
          if (over) return;
          over = true;
          controller.close();
        });
        stream.once("error", (error) => fail(signal?.aborted ? signal.reason : terminated(error)));
        // Destroyed without an error and before its end: the body was cut short all the same.
        stream.once("close", () => fail(terminated(new Error("other side closed"))));
        cancelled = () => (over = true);
      },
      pull() {
        stream.resume();
      },
      cancel() {
        cancelled();
        stream.destroy();
      },
    },
    { highWaterMark: BODY_HIGH_WATER_BYTES, size: (chunk) => chunk.byteLength },
  );
}

/** The errors of a connection the server closed (reset, or ended before an answer), not of one never made. */
function closedUnderUs(error: Error): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === "ECONNRESET" || code === "EPIPE";
}

function terminated(error: Error): TypeError {
  const reset = (error as NodeJS.ErrnoException).code === "ECONNRESET" && error.message === "aborted";
  return new TypeError("terminated", {
    cause: reset ? new Error("other side closed", { cause: error }) : error,
  });
}

function noop(): void {}
