import type WebSocket from "ws";
import { type LoopbackProvider, loopbackProvider } from "../websocket/loopback-provider.js";
import { speechSample } from "../openai-audio/fake-openai-audio.js";

/** What the fake does at the n-th `Flush` (over all connections). */
export type FlushAnswer =
  /** All the text's audio, then `Flushed`. */
  | "ok"
  /** Half of the audio (an odd number of bytes), then nothing (the connection stays open). */
  | "stall"
  /** Half of the audio, then the connection is dropped (no close frame). */
  | "cut"
  /** All the audio and `Flushed`, then the server closes the connection (1011, as on a server error). */
  | "ok-then-close";

/** The sample value of audio the fake sends after a `Clear` (the cleared text's tail). */
export const STALE_SAMPLE = 7777;

export interface FakeDeepgramSpeakOptions {
  /** @default "test-key" */
  key?: string;
  onFlush?: (n: number) => FlushAnswer;
  /** Bytes per binary message (odd: samples split across messages). @default 333 */
  chunkBytes?: number;
  /** Samples per character of text. @default 240 */
  samplesPerChar?: number;
  /** Audio messages sent after a `Clear`, before `Cleared` (Deepgram's in-flight audio). @default 2 */
  staleChunks?: number;
  /** Real ms between the `Clear` and the stale audio, so a client that does not wait would speak meanwhile. @default 20 */
  clearDelayMs?: number;
  /** Answer `Clear` with `Cleared`. @default true */
  answerClear?: boolean;
  /** Text messages sent right after `Metadata` on each connection (malformed ones, warnings). */
  greet?: readonly string[];
  /** Answer the n-th upgrade so (a status, or never). @default accept */
  upgrade?: (n: number) => "accept" | "hang" | { status: number };
}

/** One accepted connection, as the fake saw it. */
export interface SpeakConnection {
  readonly socket: WebSocket;
  readonly query: URLSearchParams;
  readonly path: string;
  /** Text messages received, in order. */
  readonly texts: string[];
}

export interface FakeDeepgramSpeak {
  /** `ws://127.0.0.1:<port>`: the scheme and host, as DEEPGRAM_BASE_URL means it. */
  readonly baseUrl: string;
  readonly provider: LoopbackProvider;
  readonly connections: SpeakConnection[];
  /** Connections closed (by either side). */
  readonly closed: number;
  close(): Promise<void>;
}

/**
 * A real WebSocket server on 127.0.0.1 speaking Deepgram's documented `/v1/speak` protocol:
 * `Authorization: Token <key>` (401 with Deepgram's error body otherwise), `model`, `encoding`
 * and `sample_rate` in the query; `Speak` appends text, `Flush` synthesises it as binary
 * linear16 messages then `Flushed`, `Clear` stops the synthesis (sending, like the real service,
 * some audio of the cleared text first) then `Cleared`, `Close` closes with 1000. `Metadata` on open.
 */
export async function fakeDeepgramSpeak(options: FakeDeepgramSpeakOptions = {}): Promise<FakeDeepgramSpeak> {
  const key = options.key ?? "test-key";
  const chunkBytes = options.chunkBytes ?? 333;
  const perChar = options.samplesPerChar ?? 240;
  const connections: SpeakConnection[] = [];
  let flushes = 0;
  let closed = 0;
  const provider = await loopbackProvider({
    answer: (n, request) => {
      const answer = options.upgrade?.(n) ?? "accept";
      if (answer !== "accept") return answer;
      if (request.headers.authorization !== `Token ${key}`) {
        return {
          status: 401,
          body: JSON.stringify({ err_code: "INVALID_AUTH", err_msg: "Invalid credentials." }),
        };
      }
      const url = new URL(request.url ?? "/", "ws://x");
      if (url.pathname !== "/v1/speak") return { status: 404, body: '{"err_code":"NOT_FOUND"}' };
      if (url.searchParams.get("encoding") !== "linear16" || !url.searchParams.get("sample_rate")) {
        return { status: 400, body: '{"err_code":"UNSUPPORTED_AUDIO_FORMAT"}' };
      }
      return "accept";
    },
    onConnection: (socket, n) => {
      // Upgrades are answered one at a time: the last one seen is this connection's.
      const url = new URL(provider.upgrades.at(-1)?.url ?? "/", "ws://x");
      const connection: SpeakConnection = { socket, query: url.searchParams, path: url.pathname, texts: [] };
      connections.push(connection);
      socket.on("close", () => closed++);
      let buffer = "";
      let generation = 0;
      let sequence = 0;
      const send = async (pcm: Buffer, mine: number): Promise<boolean> => {
        for (let at = 0; at < pcm.length; at += chunkBytes) {
          if (generation !== mine || socket.readyState !== socket.OPEN) return false;
          socket.send(pcm.subarray(at, Math.min(pcm.length, at + chunkBytes)), { binary: true });
          await new Promise((r) => setImmediate(r));
        }
        return generation === mine;
      };
      socket.send(
        JSON.stringify({
          type: "Metadata",
          request_id: `req-${n}`,
          model_name: url.searchParams.get("model"),
        }),
      );
      for (const text of options.greet ?? []) socket.send(text);
      socket.on("message", (data, isBinary) => {
        if (isBinary) return;
        const text = (data as Buffer).toString("utf8");
        connection.texts.push(text);
        const message = JSON.parse(text) as { type: string; text?: string };
        switch (message.type) {
          case "Speak":
            buffer += message.text ?? "";
            return;
          case "Flush": {
            const words = buffer;
            buffer = "";
            const answer = options.onFlush?.(++flushes) ?? "ok";
            const samples = words.length * perChar;
            const pcm = Buffer.alloc(samples * 2);
            for (let i = 0; i < samples; i++) pcm.writeInt16LE(speechSample(i), i * 2);
            const mine = generation;
            const id = sequence++;
            const whole = answer === "ok" || answer === "ok-then-close";
            const part = whole ? pcm : pcm.subarray(0, Math.floor(pcm.length / 2) | 1);
            void send(part, mine).then((sent) => {
              if (!sent) return;
              if (answer === "cut") socket.terminate();
              if (!whole) return;
              socket.send(JSON.stringify({ type: "Flushed", sequence_id: id }));
              if (answer === "ok-then-close") socket.close(1011, "server restarting");
            });
            return;
          }
          case "Clear": {
            generation++;
            buffer = "";
            const id = sequence++;
            setTimeout(() => {
              if (socket.readyState !== socket.OPEN) return;
              const stale = Buffer.alloc(chunkBytes * (options.staleChunks ?? 2));
              for (let i = 0; i + 1 < stale.length; i += 2) stale.writeInt16LE(STALE_SAMPLE, i);
              for (let at = 0; at < stale.length; at += chunkBytes)
                socket.send(stale.subarray(at, at + chunkBytes), { binary: true });
              if (options.answerClear ?? true)
                socket.send(JSON.stringify({ type: "Cleared", sequence_id: id }));
            }, options.clearDelayMs ?? 20);
            return;
          }
          case "Close":
            socket.close(1000);
            return;
        }
      });
    },
  });
  return {
    baseUrl: `ws://127.0.0.1:${provider.port}`,
    provider,
    connections,
    get closed() {
      return closed;
    },
    close: () => provider.close(),
  };
}
