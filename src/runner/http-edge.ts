import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { STATUS_CODES } from "node:http";

/**
 * The JSON body of every refusal: `error` a stable code to match on (`unauthorized`,
 * `origin-not-allowed`, `session-limit`, `shutting-down`, `not-found`, `method-not-allowed`,
 * `body-too-large`, `bad-request`, `no-worker`, `bad-signature`, `bad-ticket`, `telephony-unavailable`,
 * `too-many-calls`, `upgrade-required`), `detail` a sentence saying what was wrong and what to do. `detail` is the key
 * the official client shows (it reads FastAPI's convention), so the page can put it in words.
 */
export interface ErrorBody {
  readonly error: string;
  readonly detail: string;
}

/** Answers `status` with the JSON `body` and no caching. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(text),
    "Cache-Control": "no-store",
    ...headers,
  });
  res.end(text);
}

/** Refuses a WebSocket upgrade with an HTTP `status` and a JSON body, then drops the socket. */
export function refuseUpgrade(socket: Duplex, status: number, body: ErrorBody): void {
  const text = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\n` +
      "Content-Type: application/json; charset=utf-8\r\n" +
      `Content-Length: ${Buffer.byteLength(text)}\r\n` +
      "Connection: close\r\n\r\n" +
      text,
  );
}

/** The bearer token a request carries: `Authorization: Bearer …`, else the `token` query parameter (what the official client appends to the WebSocket URL). */
export function requestToken(req: IncomingMessage, url: URL): string | undefined {
  const header = req.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return match?.[1];
  }
  return url.searchParams.get("token") ?? undefined;
}

/** Compares two tokens in time that does not depend on where they differ. */
export function tokensEqual(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const digest = (s: string): Buffer => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** A `Host` header that is a plain `host[:port]` (letters, digits, dots, dashes, an IPv6 literal). */
export function plainHost(host: string | undefined): string | undefined {
  return host !== undefined && /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/.test(host)
    ? host
    : undefined;
}

/**
 * The request's target as a URL, or undefined when it is not one (`GET http://[ HTTP/1.1` gets
 * through Node's parser): the caller answers 400 instead of throwing out of a request handler,
 * which would end the process.
 */
export function requestUrl(req: IncomingMessage): URL | undefined {
  try {
    return new URL(req.url ?? "/", "http://localhost");
  } catch {
    return undefined;
  }
}

/** The body of a 400 for a request target that is not a URL. */
export const BAD_TARGET: ErrorBody = {
  error: "bad-request",
  detail:
    "the request target is not a valid URL path; request / for the page, POST /start, or /ws for the socket",
};

/** The body of a 503 at the session cap. */
export function sessionLimit(maxSessions: number): ErrorBody {
  return {
    error: "session-limit",
    detail: `the server is at its limit of ${maxSessions} concurrent sessions (maxSessions); try again when one ends`,
  };
}

/** What {@link edgeRefusal} checks a request against. */
export interface EdgeState {
  readonly closing: boolean;
  readonly origins: ReadonlySet<string>;
  readonly token: string | undefined;
  /**
   * Replaces the token check when given: a telephony route's own guard (a signature, a ticket),
   * since a provider cannot send the bearer token. Returns the refusal, or undefined to let it in.
   */
  readonly authorize?: () => { status: number; body: ErrorBody } | undefined;
  /** Sessions live now, over the whole server. */
  readonly live: number;
  readonly maxSessions: number;
}

/**
 * Why a `/start` or an upgrade is refused, or undefined; checked in this order: closing (503),
 * origin (403), token (401) or `authorize`, session cap (503). docs/design/dev-server.md says why.
 */
export function edgeRefusal(
  req: IncomingMessage,
  url: URL,
  state: EdgeState,
): { status: number; body: ErrorBody } | undefined {
  if (state.closing)
    return {
      status: 503,
      body: { error: "shutting-down", detail: "the server is shutting down; no new sessions" },
    };
  const origin = req.headers.origin;
  if (origin !== undefined && !state.origins.has(origin)) {
    const allowed = [...state.origins].join(", ");
    return {
      status: 403,
      body: {
        error: "origin-not-allowed",
        detail: `origin ${origin} is not allowed; add it to allowedOrigins (allowed: ${allowed})`,
      },
    };
  }
  if (state.authorize) {
    const refused = state.authorize();
    if (refused) return refused;
  } else if (state.token !== undefined && !tokensEqual(requestToken(req, url), state.token)) {
    return {
      status: 401,
      body: {
        error: "unauthorized",
        detail:
          "a valid bearer token is required: send Authorization: Bearer <token> (the page takes it as #token=<token>)",
      },
    };
  }
  if (state.live >= state.maxSessions) return { status: 503, body: sessionLimit(state.maxSessions) };
  return undefined;
}
