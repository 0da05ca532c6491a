import { once } from "node:events";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { readWav } from "../../../src/audio/wav.js";

/**
 * What the fake does with the n-th request to an endpoint:
 * - `"ok"`: the documented answer (speech: PCM streamed in odd-sized chunks; transcription: JSON);
 * - `{ status }`: that HTTP status with OpenAI's error body;
 * - `"hang"`: headers (speech) or nothing (transcription), then silence until the client goes;
 * - `"cut"`: speech: part of the audio, then the connection is destroyed mid-body;
 * - `"stall"`: speech: part of the audio, then silence with the connection open;
 * - `"json"`: speech: a 200 with a JSON body (a proxy that is not a speech endpoint);
 * - `{ body }`: that text as a JSON answer, with `status` (default 200): any body a test needs;
 * - `{ after }`: transcription: the documented answer once `after` settles (the test decides when).
 */
export type FakeAnswer =
  | "ok"
  | { after: Promise<unknown> }
  | { status: number; message?: string }
  | { body: string; status?: number }
  | "hang"
  | "cut"
  | "stall"
  | "json";

/** A request the fake received. */
export interface FakeRequest {
  readonly path: string;
  readonly authorization: string | undefined;
  readonly contentType: string | undefined;
  /** Speech: the JSON body. */
  readonly json?: Record<string, unknown>;
  /** Transcription: the form fields but the file. */
  readonly fields?: Record<string, string>;
  /** Transcription: the uploaded file's name, type, rate and samples. */
  readonly file?: { name: string; type: string; sampleRate: number; samples: number };
}

export interface FakeOpenAIAudioOptions {
  /** @default "test-key" */
  key?: string;
  speech?: (n: number) => FakeAnswer;
  transcription?: (n: number) => FakeAnswer;
  /** Bytes per body chunk of speech (odd on purpose: samples split across chunks). @default 333 */
  chunkBytes?: number;
  /** Samples of speech per input character. @default 240 (10 ms at 24 kHz) */
  samplesPerChar?: number;
  /** The transcript for a segment. @default "book a table for two" */
  transcript?: (n: number) => string;
}

export interface FakeOpenAIAudio {
  /** `http://127.0.0.1:<port>/v1`, as the OpenAI SDK means a base URL. */
  readonly baseURL: string;
  readonly requests: FakeRequest[];
  /** Requests whose client went away before the answer ended. */
  readonly abandoned: number;
  /** Connections open now. */
  readonly openConnections: number;
  /** Connections accepted so far (a client that reuses its connections opens few). */
  readonly connections: number;
  close(): Promise<void>;
}

/** The sample the fake speaks at index `i` of an answer: a ramp every byte of which matters. */
export function speechSample(i: number): number {
  return ((i * 7919) % 65_536) - 32_768;
}

/**
 * A real HTTP server on 127.0.0.1 speaking OpenAI's documented audio endpoints: `POST
 * /v1/audio/speech` (JSON in; `response_format: "pcm"` → raw s16le 24 kHz streamed) and `POST
 * /v1/audio/transcriptions` (multipart with `file` and `model` → `{ text, usage }`), with Bearer
 * auth (401 with OpenAI's error body otherwise).
 */
export async function fakeOpenAIAudio(options: FakeOpenAIAudioOptions = {}): Promise<FakeOpenAIAudio> {
  const key = options.key ?? "test-key";
  const chunkBytes = options.chunkBytes ?? 333;
  const perChar = options.samplesPerChar ?? 240;
  const requests: FakeRequest[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  let abandoned = 0;
  let speechCount = 0;
  let transcriptionCount = 0;

  const error = (
    response: ServerResponse,
    status: number,
    message: string,
    type = "invalid_request_error",
  ) => {
    response.writeHead(status, { "content-type": "application/json" });
    response.end(JSON.stringify({ error: { message, type, param: null, code: null } }));
  };

  const raw = (response: ServerResponse, answer: { body: string; status?: number }): void => {
    response.writeHead(answer.status ?? 200, { "content-type": "application/json" });
    response.end(answer.body);
  };

  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on("data", (c: Buffer) => chunks.push(c));
    request.on("end", () => {
      void handle(request, response, Buffer.concat(chunks)).catch((e: unknown) => {
        if (!response.headersSent) error(response, 500, String(e));
      });
    });
    response.on("close", () => {
      if (!response.writableFinished) abandoned++;
    });
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    connections++;
    socket.on("close", () => sockets.delete(socket));
  });

  async function handle(request: IncomingMessage, response: ServerResponse, body: Buffer): Promise<void> {
    const path = request.url ?? "";
    const authorization = request.headers.authorization;
    const contentType = request.headers["content-type"];
    if (request.method !== "POST") return error(response, 405, "method not allowed");
    if (path === "/v1/audio/speech") {
      const json = JSON.parse(body.toString("utf8")) as Record<string, unknown>;
      requests.push({ path, authorization, contentType, json });
      if (authorization !== `Bearer ${key}`) {
        return error(
          response,
          401,
          "Incorrect API key provided: sk-bad. You can find your API key at https://platform.openai.com/account/api-keys.",
        );
      }
      speechCount++;
      const answer = options.speech?.(speechCount) ?? "ok";
      if (typeof answer === "object" && "body" in answer) return raw(response, answer);
      if (typeof answer === "object" && "status" in answer)
        return error(response, answer.status, answer.message ?? `status ${answer.status}`, "server_error");
      if (
        typeof json["input"] !== "string" ||
        typeof json["model"] !== "string" ||
        typeof json["voice"] !== "string"
      ) {
        return error(response, 400, "input, model and voice are required");
      }
      if (json["response_format"] !== "pcm") return error(response, 400, "this fake speaks only pcm");
      if (answer === "json") {
        response.writeHead(200, { "content-type": "application/json" });
        return void response.end('{"ok":true}');
      }
      response.writeHead(200, { "content-type": "audio/pcm", "transfer-encoding": "chunked" });
      response.flushHeaders();
      if (answer === "hang") return;
      const samples = (json["input"] as string).length * perChar;
      const pcm = Buffer.alloc(samples * 2);
      for (let i = 0; i < samples; i++) pcm.writeInt16LE(speechSample(i), i * 2);
      const end = answer === "ok" ? pcm.length : Math.floor(pcm.length / 2) | 1; // odd: cut inside a sample
      for (let at = 0; at < end; at += chunkBytes) {
        if (response.destroyed) return;
        response.write(pcm.subarray(at, Math.min(end, at + chunkBytes)));
        await new Promise((r) => setImmediate(r));
      }
      if (answer === "cut") return void response.socket?.destroy();
      if (answer === "stall") return;
      response.end();
      return;
    }
    if (path === "/v1/audio/transcriptions") {
      const form = await new Response(body, { headers: { "content-type": contentType ?? "" } }).formData();
      const fields: Record<string, string> = {};
      let file: FakeRequest["file"];
      for (const [name, value] of form.entries()) {
        if (typeof value === "string") fields[name] = value;
        else {
          const wav = readWav(new Uint8Array(await value.arrayBuffer()));
          file = {
            name: value.name,
            type: value.type,
            sampleRate: wav.sampleRate,
            samples: wav.audio.length,
          };
        }
      }
      requests.push({ path, authorization, contentType, fields, ...(file ? { file } : {}) });
      if (authorization !== `Bearer ${key}`) return error(response, 401, "Incorrect API key provided.");
      transcriptionCount++;
      const answer = options.transcription?.(transcriptionCount) ?? "ok";
      if (typeof answer === "object" && "after" in answer) await answer.after;
      else if (typeof answer === "object" && "body" in answer) return raw(response, answer);
      else if (typeof answer === "object")
        return error(response, answer.status, answer.message ?? `status ${answer.status}`, "server_error");
      if (answer === "hang") return;
      if (!file || !fields["model"]) return error(response, 400, "file and model are required");
      if (answer === "json") {
        response.writeHead(200, { "content-type": "application/json" });
        return void response.end("{not json");
      }
      const text = options.transcript?.(transcriptionCount) ?? "book a table for two";
      const seconds = file.samples / file.sampleRate;
      const usage =
        fields["model"] === "whisper-1"
          ? { type: "duration", seconds: Math.ceil(seconds) }
          : { type: "tokens", input_tokens: 42, output_tokens: 7, total_tokens: 49 };
      const payload =
        fields["response_format"] === "verbose_json"
          ? { task: "transcribe", language: "english", duration: seconds, text, segments: [], usage }
          : { text, usage };
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify(payload));
      return;
    }
    error(response, 404, `Invalid URL (POST ${path})`);
  }

  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    get abandoned() {
      return abandoned;
    },
    get openConnections() {
      return sockets.size;
    },
    get connections() {
      return connections;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
