import type { IncomingMessage } from "node:http";
import WebSocket, { type RawData } from "ws";
import { describe } from "../../errors.js";
import type { AttemptFailure } from "./provider-socket-error.js";
import { isRetryableStatus } from "./provider-socket-error.js";

/** Most bytes of a rejected upgrade's body kept for the error message. */
const MAX_REJECTION_BODY_BYTES = 2_048;
/** Most characters of that body quoted in a message. */
const MAX_QUOTED_CHARS = 200;

/** How an open connection ended. */
export interface ConnectionClosed {
  readonly code: number;
  readonly reason: string;
  /** The socket error that preceded the close, if any (a reset, an invalid frame). */
  readonly error?: Error;
}

/** A failed attempt to open a connection (internal to the provider socket). */
export class AttemptError extends Error {
  constructor(readonly failure: AttemptFailure) {
    super(failure.what, failure.cause === undefined ? undefined : { cause: failure.cause });
  }
}

/** Options of {@link ProviderConnection}. */
export interface ProviderConnectionOptions {
  readonly headers: Record<string, string>;
  readonly maxPayload: number;
  /** Aborts the attempt: the socket is terminated and {@link ProviderConnection.opened} rejects with the reason. */
  readonly signal: AbortSignal;
  /** Called synchronously on `open`, before any message can be delivered. */
  readonly onOpen: (connection: ProviderConnection) => void;
  readonly onMessage: (data: Buffer, isBinary: boolean) => void;
  /** A pong (or any frame) came back: the server is alive. */
  readonly onPong: () => void;
}

/**
 * One WebSocket to a provider, from the upgrade to the close. Its listeners are attached before
 * the socket can open, so no message is missed between "open" and the owner's first look.
 *
 * {@link opened} resolves on open, or rejects with an {@link AttemptError} that says whether
 * retrying can help (an HTTP 4xx answer to the upgrade cannot, except 408 and 429) or with
 * `signal.reason` when aborted. {@link closed} resolves when the socket is gone, however it went
 * (it never rejects). The `error` listener stays for the socket's life: ws throws an error with
 * no listener.
 */
export class ProviderConnection {
  readonly socket: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<ConnectionClosed>;
  #lastError: Error | undefined;

  constructor(url: string, options: ProviderConnectionOptions) {
    // The caller checked the URL; a throw here still becomes a rejected `opened` through the caller.
    this.socket = new WebSocket(url, {
      headers: options.headers,
      maxPayload: options.maxPayload,
      // Audio does not compress, and deflate costs CPU and latency on every message.
      perMessageDeflate: false,
      followRedirects: false,
    });
    const socket = this.socket;
    socket.binaryType = "nodebuffer";
    socket.on("error", (error: Error) => {
      this.#lastError = error;
    });
    socket.on("message", (data: RawData, isBinary: boolean) => {
      options.onPong();
      options.onMessage(data as Buffer, isBinary);
    });
    socket.on("pong", options.onPong);
    this.closed = new Promise<ConnectionClosed>((resolve) => {
      socket.once("close", (code: number, reason: Buffer) => {
        const error = this.#lastError;
        resolve({ code, reason: reason.toString("utf8"), ...(error ? { error } : {}) });
      });
    });
    this.opened = new Promise<void>((resolve, reject) => {
      const signal = options.signal;
      let settled = false;
      const finish = (error?: unknown): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener("abort", onAbort);
        socket.off("open", onOpen);
        socket.off("error", onError);
        socket.off("unexpected-response", onRejected);
        if (error === undefined) resolve();
        else reject(error);
      };
      const onAbort = (): void => {
        socket.terminate();
        finish(signal.reason);
      };
      const onOpen = (): void => {
        finish();
        options.onOpen(this);
      };
      const onError = (error: Error & { code?: string }): void => {
        const code = error.code ?? "error";
        finish(
          new AttemptError({
            key: `network:${code}`,
            what: `${error.code ? `${error.code}: ` : ""}${error.message}`,
            permanent: false,
            cause: error,
          }),
        );
      };
      const onRejected = (_request: unknown, response: IncomingMessage): void => {
        const status = response.statusCode ?? 0;
        void readSome(response, MAX_REJECTION_BODY_BYTES).then((body) => {
          socket.terminate();
          const quoted = quote(body);
          finish(
            new AttemptError({
              key: `http:${status}`,
              what: `HTTP ${status}${response.statusMessage ? ` ${response.statusMessage}` : ""}${quoted ? ` (${quoted})` : ""}`,
              status,
              permanent: !isRetryableStatus(status),
            }),
          );
        });
      };
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener("abort", onAbort, { once: true });
      socket.on("open", onOpen);
      socket.on("error", onError);
      socket.on("unexpected-response", onRejected);
    });
  }

  /** Ends the socket now, without a close handshake. Idempotent. */
  terminate(): void {
    this.socket.terminate();
  }
}

/** Reads at most `limit` bytes of `response`, then stops (a body never holds the attempt up). */
function readSome(response: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (): void => {
      response.off("data", onData);
      response.off("end", done);
      response.off("close", done);
      response.off("error", done);
      resolve(Buffer.concat(chunks).toString("utf8"));
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= limit) done();
    };
    response.on("data", onData);
    response.on("end", done);
    response.on("close", done);
    response.on("error", done);
  });
}

function quote(body: string): string {
  const flat = body.replace(/\s+/g, " ").trim();
  if (!flat) return "";
  return flat.length > MAX_QUOTED_CHARS ? `${flat.slice(0, MAX_QUOTED_CHARS)}…` : flat;
}

/** A URL without its query and credentials, safe to print (a query may hold an API key). */
export function printableUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch (error) {
    return `(unparsable URL: ${describe(error)})`;
  }
}
