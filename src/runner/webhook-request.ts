import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import { plainHost, sendJson } from "./http-edge.js";

/** Largest webhook body read, in bytes (a provider's form is about 1 KB). */
export const WEBHOOK_BODY_LIMIT_BYTES = 65_536;

/**
 * The origin a request reached the server at, as the sender saw it: `X-Forwarded-Proto` and
 * `X-Forwarded-Host` (first values: what a tunnel or proxy sets), else whether the connection is
 * TLS and the `Host` header, else `fallbackHost()`. A host that is not a plain `host[:port]` is
 * ignored, so nothing odd reaches a URL built from it.
 */
export function requestOrigin(req: IncomingMessage, fallbackHost: () => string): URL {
  const first = (name: string): string | undefined => {
    const value = req.headers[name];
    return (Array.isArray(value) ? value[0] : value)?.split(",")[0]?.trim();
  };
  const proto = first("x-forwarded-proto")?.toLowerCase();
  const tls =
    proto === undefined ? (req.socket as TLSSocket).encrypted === true : proto === "https" || proto === "wss";
  const host = plainHost(first("x-forwarded-host")) ?? plainHost(req.headers.host) ?? fallbackHost();
  return new URL(`${tls ? "https" : "http"}://${host}`);
}

/** Reads the body, at most `limit` bytes; Node's requestTimeout (15 s) bounds the wait. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer | "too-large" | "aborted"> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (outcome: Buffer | "too-large" | "aborted"): void => {
      req.off("data", onData).off("end", onEnd).off("error", onAborted).off("close", onAborted);
      resolve(outcome);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        // The rest is not read: the 413 closes the connection.
        req.pause();
        return finish("too-large");
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => finish(Buffer.concat(chunks));
    const onAborted = (): void => finish("aborted");
    req.on("data", onData).on("end", onEnd).on("error", onAborted).on("close", onAborted);
  });
}

/** The request's parameters: the query for a GET, else the form (or JSON object) in the body. */
export function requestParams(req: IncomingMessage, url: URL, body: Buffer): [string, string][] {
  if (req.method === "GET") return [...url.searchParams];
  const text = body.toString("utf8");
  if (/^application\/json\b/i.test(req.headers["content-type"] ?? "")) {
    try {
      const value = JSON.parse(text) as unknown;
      if (value === null || typeof value !== "object" || Array.isArray(value)) return [];
      return Object.entries(value).flatMap(([k, v]) =>
        typeof v === "string" || typeof v === "number" ? [[k, String(v)] as [string, string]] : [],
      );
    } catch {
      return [];
    }
  }
  return [...new URLSearchParams(text)];
}

/** Answers 200 with a document (XML unless `type` says otherwise), never cached. */
export function sendDocument(res: ServerResponse, text: string, type = "text/xml; charset=utf-8"): void {
  res.writeHead(200, {
    "Content-Type": type,
    "Content-Length": Buffer.byteLength(text),
    "Cache-Control": "no-store",
  });
  res.end(text);
}

/** Answers 413, closing the connection (the rest of the body is not read). */
export function tooLarge(res: ServerResponse): void {
  sendJson(
    res,
    413,
    {
      error: "body-too-large",
      detail: `the webhook body is over ${WEBHOOK_BODY_LIMIT_BYTES} bytes; a provider's is about 1 KB`,
    },
    { Connection: "close" },
  );
}
