import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type WebSocket from "ws";
import { loopbackUpgradeServer } from "../websocket/loopback-upgrade-server.js";

/** One live connection to the fake, as the test sees it. */
export interface ListenConnection {
  readonly n: number;
  readonly ws: WebSocket;
  readonly query: URLSearchParams;
  readonly headers: IncomingMessage["headers"];
  /** Text messages received (KeepAlive, Finalize, CloseStream…), in order. */
  readonly texts: string[];
  /** Binary messages that were text-shaped JSON (a KeepAlive sent as binary is a bug). */
  readonly binaryControl: string[];
  /** Bytes of audio received. */
  audioBytes: number;
  /** Empty binary messages received (deprecated: they end the stream). */
  emptyAudio: number;
  /** Words heard and not yet finalized. */
  pending: string[];
  /** Index of the next word of the vocabulary. */
  nextWord: number;
}

/** Options of {@link fakeDeepgramListen}. */
export interface FakeDeepgramOptions {
  /** The key the fake accepts in `Authorization: Token <key>`. @default "test-key" */
  apiKey?: string;
  /** ms of audio per word heard. @default 100 */
  msPerWord?: number;
  /** Words, in order, heard in the audio (cycled). */
  words?: readonly string[];
  /** Never answer CloseStream (no final results, no close): the client must give up by itself. */
  ignoreCloseStream?: boolean;
  /** Never answer this upgrade (1-based): the attempt hangs until the client gives up. */
  hangUpgrade?: (n: number) => boolean;
  /** Answer this upgrade (1-based) with an HTTP status instead (e.g. 503). */
  rejectUpgrade?: (n: number) => number | undefined;
  /** Called after each chunk of audio, with the connection's total ms so far and the chunk (PCM16 LE). */
  onAudio?: (connection: ListenConnection, totalMs: number, chunk: Buffer) => void;
}

/** A loopback server speaking Deepgram's documented live protocol (`/v1/listen`). */
export interface FakeDeepgram {
  /** `ws://127.0.0.1:<port>`: the base URL (the service appends `/v1/listen`). */
  readonly baseUrl: string;
  readonly connections: ListenConnection[];
  /** Upgrade requests seen, accepted or not. */
  readonly upgrades: IncomingMessage[];
  close(): Promise<void>;
}

const DEFAULT_WORDS = ["book", "a", "table", "for", "two", "at", "seven", "tonight"];

/**
 * Speaks `/v1/listen` as documented (protocols reference §3.1): checks `Authorization: Token …`
 * (401 with Deepgram's JSON error body otherwise) and the path (404); needs `encoding` and
 * `sample_rate` for raw audio (else closes 1008 `DATA-0000`); hears one word per `msPerWord` of
 * audio and answers each with an interim `Results` holding the words so far; answers `Finalize`
 * with a final `from_finalize: true` `Results`; answers `CloseStream` with the last final, a
 * `Metadata` summary, then close 1000. An empty binary message ends the stream (as Deepgram does).
 */
export async function fakeDeepgramListen(options: FakeDeepgramOptions = {}): Promise<FakeDeepgram> {
  const apiKey = options.apiKey ?? "test-key";
  const msPerWord = options.msPerWord ?? 100;
  const words = options.words ?? DEFAULT_WORDS;
  const host = loopbackUpgradeServer();
  const { wss, upgrades } = host;
  const connections: ListenConnection[] = [];
  host.onUpgrade((request, socket, head) => {
    const url = new URL(request.url ?? "/", "http://localhost");
    if (options.hangUpgrade?.(upgrades.length)) return;
    const status = options.rejectUpgrade?.(upgrades.length);
    if (status !== undefined) return refuse(socket, status, "SERVER_ERROR", `status ${status}`);
    if (url.pathname !== "/v1/listen") return refuse(socket, 404, "NOT_FOUND", "Not found.");
    if (request.headers.authorization !== `Token ${apiKey}`) {
      return refuse(socket, 401, "INVALID_AUTH", "Invalid credentials.");
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      const conn: ListenConnection = {
        n: connections.length + 1,
        ws,
        query: url.searchParams,
        headers: request.headers,
        texts: [],
        binaryControl: [],
        audioBytes: 0,
        emptyAudio: 0,
        pending: [],
        nextWord: 0,
      };
      connections.push(conn);
      ws.on("error", () => {});
      const rate = Number(url.searchParams.get("sample_rate"));
      if (url.searchParams.get("encoding") !== "linear16" || !(rate > 0)) {
        ws.close(1008, "DATA-0000");
        return;
      }
      const bytesPerMs = (rate * 2) / 1000;
      ws.on("message", (data: Buffer, isBinary: boolean) => {
        if (isBinary) {
          if (data.length === 0) {
            conn.emptyAudio++;
            sendFinalAndClose(conn);
            return;
          }
          if (data[0] === 0x7b && data.toString("utf8").startsWith('{"type"')) {
            conn.binaryControl.push(data.toString("utf8"));
          }
          const before = Math.floor(conn.audioBytes / bytesPerMs / msPerWord);
          conn.audioBytes += data.length;
          const after = Math.floor(conn.audioBytes / bytesPerMs / msPerWord);
          for (let i = before; i < after; i++) {
            conn.pending.push(words[conn.nextWord++ % words.length]!);
            send(ws, results(conn.pending.join(" "), { isFinal: false }));
          }
          options.onAudio?.(conn, conn.audioBytes / bytesPerMs, data);
          return;
        }
        const text = data.toString("utf8");
        conn.texts.push(text);
        let type: unknown;
        try {
          type = (JSON.parse(text) as { type?: unknown }).type;
        } catch {
          return;
        }
        if (type === "Finalize") {
          send(ws, results(conn.pending.join(" "), { isFinal: true, fromFinalize: true }));
          conn.pending = [];
        } else if (type === "CloseStream" && !options.ignoreCloseStream) {
          sendFinalAndClose(conn);
        }
      });
    });
  });
  const baseUrl = await host.listen();
  return {
    baseUrl,
    connections,
    upgrades,
    close: () => host.close(connections.map((c) => c.ws)),
  };
}

function sendFinalAndClose(conn: ListenConnection): void {
  if (conn.pending.length > 0) send(conn.ws, results(conn.pending.join(" "), { isFinal: true }));
  conn.pending = [];
  send(conn.ws, {
    type: "Metadata",
    transaction_key: "deprecated",
    request_id: `req-${conn.n}`,
    sha256: "0",
    created: "2025-01-01T00:00:00.000Z",
    duration: 0,
    channels: 1,
  });
  conn.ws.close(1000);
}

/** A `Results` message shaped as Deepgram documents it. */
export function results(
  transcript: string,
  flags: { isFinal: boolean; fromFinalize?: boolean; speechFinal?: boolean },
): Record<string, unknown> {
  return {
    type: "Results",
    channel_index: [0, 1],
    duration: 0.1,
    start: 0,
    is_final: flags.isFinal,
    speech_final: flags.speechFinal ?? false,
    from_finalize: flags.fromFinalize ?? false,
    channel: { alternatives: [{ transcript, confidence: 0.97, words: [] }] },
    metadata: { request_id: "req", model_info: { name: "general-nova-3", version: "x", arch: "nova-3" } },
  };
}

function send(ws: WebSocket, message: unknown): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
}

function refuse(socket: Socket, status: number, code: string, message: string): void {
  const body = JSON.stringify({ err_code: code, err_msg: message, request_id: "req-refused" });
  socket.end(
    `HTTP/1.1 ${status} ${status === 401 ? "Unauthorized" : "Error"}\r\n` +
      `Content-Type: application/json\r\ndg-error: ${message}\r\ndg-request-id: req-refused\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
