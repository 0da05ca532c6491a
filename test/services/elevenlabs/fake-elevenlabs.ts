import type { IncomingMessage } from "node:http";
import type WebSocket from "ws";
import { loopbackUpgradeServer, refuseUpgrade } from "../websocket/loopback-upgrade-server.js";

export interface FakeElevenLabsConnection {
  readonly ws: WebSocket;
  readonly url: URL;
  readonly headers: IncomingMessage["headers"];
  /** Every text message received, parsed, in order. */
  readonly received: Array<Record<string, unknown>>;
}

export interface FakeElevenLabsOptions {
  /** @default "test-key" */
  apiKey?: string;
  /** Answer a bad key by accepting the upgrade, sending an error message and closing 1008 (instead of a 401). */
  keyErrorAfterOpen?: boolean;
  /** ms of audio per character. @default 10 */
  msPerChar?: number;
  /** Bytes of audio per message (odd numbers cut samples). @default 960 */
  chunkBytes?: number;
  /** Server spellings: `isFinal` or `is_final`; `charsDurationsMs` or `charDurationsMs`. */
  spelling?: "camel" | "snake";
  stallOn?: (text: string) => boolean;
  errorOn?: (text: string) => string | undefined;
  closeMidStreamOn?: (text: string) => boolean;
  malformedFirst?: boolean;
  /** After the context of a held answer is abandoned, still send this many audio messages for it. */
  chunksAfterClose?: number;
  /** Hold each answer until `release()`. */
  holdAnswers?: boolean;
  /** Never answer the client's close (after `close_socket`). */
  slowClose?: boolean;
}

export interface FakeElevenLabs {
  /** `ws://127.0.0.1:<port>`. */
  readonly baseUrl: string;
  readonly connections: FakeElevenLabsConnection[];
  readonly upgrades: IncomingMessage[];
  readonly held: Array<() => void>;
  release(): void;
  /** Sends audio messages for a context, as ElevenLabs does after a close_context for a generation under way. */
  sendLate(contextId: string, count: number): void;
  close(): Promise<void>;
}

export function elevenSample(char: string): number {
  return char.charCodeAt(0) * 7;
}

/**
 * A loopback server speaking ElevenLabs' documented `multi-stream-input` protocol: contexts opened
 * with `text: " "`, text buffered until `flush`, `close_context` → the rest of the audio then
 * `isFinal` (camelCase `contextId` in answers), `{"text":""}` keep-alives, `close_socket`. Checks
 * `xi-api-key` (a 401 with a JSON body, or an error message then close 1008) and the path. Audio:
 * `msPerChar` of the constant sample {@link elevenSample} per character, with per-message
 * alignment whose times count from that message's start.
 */
export async function fakeElevenLabs(options: FakeElevenLabsOptions = {}): Promise<FakeElevenLabs> {
  const apiKey = options.apiKey ?? "test-key";
  const msPerChar = options.msPerChar ?? 10;
  const chunkBytes = options.chunkBytes ?? 960;
  const snake = options.spelling === "snake";
  const host = loopbackUpgradeServer();
  const { wss, upgrades } = host;
  const connections: FakeElevenLabsConnection[] = [];
  const held: Array<() => void> = [];

  host.onUpgrade((request, socket, head) => {
    const url = new URL(request.url ?? "/", "http://localhost");
    if (!/^\/v1\/text-to-speech\/[^/]+\/multi-stream-input$/.test(url.pathname)) {
      return refuseUpgrade(socket, 404, { detail: { status: "not_found", message: "Not found" } });
    }
    const badKey = request.headers["xi-api-key"] !== apiKey;
    if (badKey && !options.keyErrorAfterOpen) {
      return refuseUpgrade(socket, 401, {
        detail: { status: "invalid_api_key", message: "Invalid API key" },
      });
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      const conn: FakeElevenLabsConnection = { ws, url, headers: request.headers, received: [] };
      connections.push(conn);
      ws.on("error", () => {});
      if (badKey) {
        ws.send(JSON.stringify({ error: "invalid_api_key", message: "Invalid API key" }));
        ws.close(1008, "invalid_api_key");
        return;
      }
      const rate = Number(url.searchParams.get("output_format")?.replace("pcm_", ""));
      const buffers = new Map<string, string>();
      const send = (m: unknown): void => {
        if (ws.readyState === ws.OPEN) ws.send(typeof m === "string" ? m : JSON.stringify(m));
      };
      const speak = (contextId: string, text: string): void => {
        if (options.malformedFirst) {
          send("[1,2]");
          send("{oops");
        }
        if (options.stallOn?.(text)) return;
        const error = options.errorOn?.(text);
        if (error !== undefined) {
          send({ error: "invalid_request", message: error, contextId });
          return;
        }
        const perChar = (rate * msPerChar) / 1000;
        const pcm = Buffer.alloc(text.length * perChar * 2);
        for (let i = 0; i < text.length; i++) {
          for (let j = 0; j < perChar; j++) pcm.writeInt16LE(elevenSample(text[i]!), (i * perChar + j) * 2);
        }
        const bytesPerChar = perChar * 2;
        for (let at = 0; at < pcm.length; at += chunkBytes) {
          const end = Math.min(pcm.length, at + chunkBytes);
          // Alignment: the characters whose audio starts in this message, times from the message's start.
          const chars: string[] = [];
          const starts: number[] = [];
          for (let c = Math.ceil(at / bytesPerChar); c * bytesPerChar < end; c++) {
            chars.push(text[c]!);
            starts.push(((c * bytesPerChar - at) / 2 / rate) * 1000);
          }
          const alignment = {
            chars,
            charStartTimesMs: starts,
            [snake ? "charsDurationsMs" : "charDurationsMs"]: chars.map(() => msPerChar),
          };
          send({
            audio: pcm.subarray(at, end).toString("base64"),
            alignment,
            normalizedAlignment: alignment,
            contextId,
          });
          if (at === 0 && options.closeMidStreamOn?.(text)) {
            ws.close(1011, "internal error");
            return;
          }
        }
        send(snake ? { is_final: true, contextId } : { isFinal: true, contextId });
      };
      ws.on("message", (data: Buffer) => {
        const m = JSON.parse(data.toString("utf8")) as Record<string, unknown>;
        conn.received.push(m);
        if (m["close_socket"] === true) {
          if (options.slowClose) ws.close = () => {};
          else ws.close(1000);
          return;
        }
        const id = m["context_id"] as string | undefined;
        if (id === undefined) return; // a keep-alive without a context
        if (m["close_context"] === true) {
          const text = (buffers.get(id) ?? "").trim() === "" ? "" : buffers.get(id)!;
          buffers.delete(id);
          const run = (): void => speak(id, text.trimEnd());
          if (options.holdAnswers) held.push(run);
          else run();
          return;
        }
        const text = m["text"] as string;
        if (text === " " && !buffers.has(id)) buffers.set(id, "");
        else buffers.set(id, (buffers.get(id) ?? "") + text);
      });
    });
  });
  const baseUrl = await host.listen();
  return {
    baseUrl,
    connections,
    upgrades,
    held,
    release() {
      held.shift()?.();
    },
    sendLate(contextId, count) {
      const ws = connections.at(-1)!.ws;
      for (let i = 0; i < count; i++) {
        ws.send(JSON.stringify({ audio: Buffer.alloc(480, 9).toString("base64"), contextId }));
      }
    },
    close: () => host.close(connections.map((c) => c.ws)),
  };
}
