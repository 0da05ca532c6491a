import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type WebSocket from "ws";
import { loopbackUpgradeServer, refuseUpgrade } from "../websocket/loopback-upgrade-server.js";

/** A context as the fake sees it. */
export interface FakeContext {
  readonly id: string;
  /** Every input received on it, as parsed JSON. */
  readonly inputs: Array<Record<string, unknown>>;
  /** Text buffered since the last flush. */
  buffered: string;
  /** Audio generated on it so far, in ms (word times count from here). */
  audioMs: number;
  flushId: number;
  cancelled: boolean;
}

/** One live connection. */
export interface FakeCartesiaConnection {
  readonly ws: WebSocket;
  readonly raw: Socket;
  readonly headers: IncomingMessage["headers"];
  readonly contexts: Map<string, FakeContext>;
  /** Every text message received, in order. */
  readonly texts: string[];
}

/** Options of {@link fakeCartesia}. */
export interface FakeCartesiaOptions {
  /** @default "test-key" */
  apiKey?: string;
  /** ms of audio per character. @default 10 */
  msPerChar?: number;
  /** Bytes per `chunk` message (an odd number cuts samples in half across chunks). @default 960 */
  chunkBytes?: number;
  /** Don't answer this transcript at all (a stall). */
  stallOn?: (transcript: string) => boolean;
  /** Answer this transcript with an `error` message. */
  errorOn?: (transcript: string) => string | undefined;
  /** Close the connection (code 1011) after the first chunk of this transcript. */
  closeMidStreamOn?: (transcript: string) => boolean;
  /** Send a malformed message before each answer. */
  malformedFirst?: boolean;
  /** After a `cancel`, still send this many chunks for the context (Cartesia finishes a generation under way). @default 0 */
  chunksAfterCancel?: number;
  /** Once a context is finished (`continue: false`), never answer the client's close frame. */
  slowClose?: boolean;
  /** Hold each answer until the test calls `release()` (so a test can interrupt in the middle). */
  holdAnswers?: boolean;
  /** Refuse the n-th upgrade (1-based) with this HTTP status (a 503 is retried). @default every one accepted */
  refuseUpgrade?: (n: number) => number | undefined;
}

export interface FakeCartesia {
  /** `ws://127.0.0.1:<port>`: the service appends `/tts/websocket`. */
  readonly baseUrl: string;
  readonly connections: FakeCartesiaConnection[];
  readonly upgrades: IncomingMessage[];
  /** Answers held by `holdAnswers`, released in order. */
  readonly held: Array<() => void>;
  release(): void;
  /** Sends `count` chunks for a context now (a generation Cartesia finishes after a cancel). */
  sendLate(contextId: string, count: number): void;
  close(): Promise<void>;
}

/** The PCM sample the fake writes for character `c` of a transcript: its code (so the test can tell texts apart). */
export function sampleFor(char: string): number {
  return char.charCodeAt(0) * 10;
}

/**
 * A loopback server speaking Cartesia's documented `/tts/websocket` protocol (contexts, `continue`,
 * manual flush → `flush_done`, `continue: false` → `done`, `cancel`, `timestamps` counted from the
 * context's start, base64 `pcm_s16le` `chunk`s). Checks `X-API-Key` (401 with a JSON body) and the
 * path (404). The audio of each character is `msPerChar` of the constant sample {@link sampleFor}.
 */
export async function fakeCartesia(options: FakeCartesiaOptions = {}): Promise<FakeCartesia> {
  const apiKey = options.apiKey ?? "test-key";
  const msPerChar = options.msPerChar ?? 10;
  const chunkBytes = options.chunkBytes ?? 960;
  const host = loopbackUpgradeServer();
  const { wss, upgrades } = host;
  const connections: FakeCartesiaConnection[] = [];
  const held: Array<() => void> = [];

  const answer = (conn: FakeCartesiaConnection, ctx: FakeContext, done: boolean, rate: number): void => {
    const text = ctx.buffered;
    ctx.buffered = "";
    const send = (m: unknown): void => {
      if (conn.ws.readyState === conn.ws.OPEN) conn.ws.send(JSON.stringify(m));
    };
    const run = (): void => {
      if (options.malformedFirst) send("not an object");
      if (options.malformedFirst && conn.ws.readyState === conn.ws.OPEN) conn.ws.send("{oops");
      if (text !== "" && options.stallOn?.(text)) return;
      const error = text === "" ? undefined : options.errorOn?.(text);
      if (error !== undefined) {
        send({ type: "error", context_id: ctx.id, status_code: 400, done: true, error });
        return;
      }
      if (text !== "") {
        const words: string[] = [];
        const starts: number[] = [];
        for (const m of text.matchAll(/\S+/gu)) {
          words.push(m[0]);
          starts.push((ctx.audioMs + m.index * msPerChar) / 1000);
        }
        if (words.length > 0) {
          send({
            type: "timestamps",
            context_id: ctx.id,
            status_code: 206,
            done: false,
            word_timestamps: { words, start: starts, end: starts.map((s) => s + 0.1) },
          });
        }
        const perChar = (rate * msPerChar) / 1000;
        const pcm = Buffer.alloc(text.length * perChar * 2);
        for (let i = 0; i < text.length; i++) {
          for (let j = 0; j < perChar; j++) pcm.writeInt16LE(sampleFor(text[i]!), (i * perChar + j) * 2);
        }
        ctx.audioMs += text.length * msPerChar;
        for (let at = 0; at < pcm.length; at += chunkBytes) {
          if (ctx.cancelled) break;
          send({
            type: "chunk",
            context_id: ctx.id,
            status_code: 206,
            done: false,
            data: pcm.subarray(at, at + chunkBytes).toString("base64"),
            step_time: 1,
            flush_id: ctx.flushId,
          });
          if (at === 0 && options.closeMidStreamOn?.(text)) {
            conn.ws.close(1011, "internal error");
            return;
          }
        }
      }
      if (ctx.cancelled) return;
      if (done) send({ type: "done", context_id: ctx.id, status_code: 206, done: true });
      else {
        send({
          type: "flush_done",
          context_id: ctx.id,
          status_code: 206,
          done: false,
          flush_id: ctx.flushId,
          flush_done: true,
        });
        ctx.flushId++;
      }
    };
    if (options.holdAnswers && text !== "") held.push(run);
    else run();
  };

  host.onUpgrade((request, socket, head) => {
    const url = new URL(request.url ?? "/", "http://localhost");
    if (url.pathname !== "/tts/websocket") return refuseUpgrade(socket, 404, { error: "Not found" });
    const refused = options.refuseUpgrade?.(upgrades.length);
    if (refused !== undefined) return refuseUpgrade(socket, refused, { error: `status ${refused}` });
    if (request.headers["x-api-key"] !== apiKey) {
      return refuseUpgrade(socket, 401, {
        error: "Invalid API key. Please check your API key and try again.",
      });
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      const conn: FakeCartesiaConnection = {
        ws,
        raw: socket,
        headers: request.headers,
        contexts: new Map(),
        texts: [],
      };
      connections.push(conn);
      ws.on("error", () => {});
      ws.on("message", (data: Buffer, isBinary: boolean) => {
        if (isBinary) return;
        const text = data.toString("utf8");
        conn.texts.push(text);
        const m = JSON.parse(text) as Record<string, unknown>;
        const id = m["context_id"] as string;
        let ctx = conn.contexts.get(id);
        if (!ctx) {
          ctx = { id, inputs: [], buffered: "", audioMs: 0, flushId: 1, cancelled: false };
          conn.contexts.set(id, ctx);
        }
        ctx.inputs.push(m);
        if (m["cancel"] === true) {
          ctx.cancelled = true;
          // A generation under way keeps going: send what the option says.
          for (let i = 0; i < (options.chunksAfterCancel ?? 0); i++) {
            ws.send(
              JSON.stringify({
                type: "chunk",
                context_id: id,
                status_code: 206,
                done: false,
                data: Buffer.alloc(480, 7).toString("base64"),
                step_time: 1,
              }),
            );
          }
          return;
        }
        const rate = (m["output_format"] as { sample_rate: number }).sample_rate;
        ctx.buffered += m["transcript"] as string;
        if (m["flush"] === true) answer(conn, ctx, false, rate);
        else if (m["continue"] === false) {
          answer(conn, ctx, true, rate);
          // ws answers a close frame by calling close(): make that do nothing, so the client's close waits.
          if (options.slowClose) ws.close = () => {};
        }
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
        ws.send(
          JSON.stringify({
            type: "chunk",
            context_id: contextId,
            status_code: 206,
            done: false,
            data: Buffer.alloc(480, 7).toString("base64"),
            step_time: 1,
          }),
        );
      }
    },
    close: () => host.close(connections.map((c) => c.ws)),
  };
}
