/**
 * Helpers for the network probes: a development server with a stand-in page, a bot per socket
 * (transport.input() → RTVIProcessor → echo → RTVIOutputGate → transport.output()), and clients
 * that misbehave. Public API only (src/index.ts, voicepipe/serializers, voicepipe/rtvi,
 * src/runner/dev-server.ts).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import {
  type Clock,
  type Frame,
  FrameDirection,
  FrameProcessor,
  InputAudioRawFrame,
  OutputAudioRawFrame,
  OutputTransportMessageFrame,
  Pipeline,
  PipelineTask,
  type StartFrame,
  SystemClock,
  type TaskOutcome,
  WebSocketTransport,
  type WebSocketTransportOptions,
} from "../../src/index.js";
import { RTVIOutputGate, RTVIProcessor } from "../../src/processors/rtvi/index.js";
import { type DevServer, type DevServerOptions, startDevServer } from "../../src/runner/dev-server.js";
import { ProtobufFrameSerializer, type ProtobufFrameSerializerOptions } from "../../src/serializers/index.js";
import { type LoggedLine, memoryLogger } from "../support/logger.js";

/** A stand-in page: these probes are about the sockets, not the page. */
let page: string | undefined;
export function pageDir(): string {
  if (page) return page;
  page = mkdtempSync(join(tmpdir(), "vp-adv-page-"));
  writeFileSync(join(page, "index.html"), "<!doctype html>");
  for (const file of ["app.js", "THIRD_PARTY_LICENSES.txt"]) writeFileSync(join(page, file), "");
  return page;
}

/** Polls `predicate` every 5 ms of real time; false after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs = 2000): Promise<boolean> {
  const start = performance.now();
  while (!predicate()) {
    if (performance.now() - start > timeoutMs) return false;
    await sleep(5);
  }
  return true;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Open TCP handles of this process (listeners and sockets). */
export function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r.startsWith("TCP")).length;
}

/** Turns the client's audio into bot audio (the default bot's echo, without the turn logic). */
export class Echo extends FrameProcessor {
  override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
    if (frame instanceof InputAudioRawFrame && direction === FrameDirection.DOWNSTREAM) {
      return this.pushFrame(new OutputAudioRawFrame(frame.audio, frame.sampleRate, frame.numChannels));
    }
    return super.processFrame(frame, direction);
  }
}

/** Takes `startMs` of the task clock to start (a VAD loading its model, a mixer reading its WAV). */
export class SlowStart extends FrameProcessor {
  constructor(private readonly startMs: number) {
    super({ name: "slow-start" });
  }
  protected override async start(_frame: StartFrame): Promise<void> {
    await this.clock.sleep(this.startMs);
  }
}

export interface BotOptions {
  transport?: Partial<Omit<WebSocketTransportOptions, "serializer">>;
  serializer?: ProtobufFrameSerializerOptions;
  /** Processors before the echo (e.g. a SlowStart). */
  extra?: FrameProcessor[];
  clock?: Clock;
  /** Called with the task before it runs (cancel it, …). */
  beforeRun?: (task: PipelineTask) => unknown;
}

/** One bot session: what a probe can look at afterwards. */
export interface BotSession {
  readonly id: number;
  readonly transport: WebSocketTransport;
  readonly rtvi: RTVIProcessor;
  readonly task: PipelineTask;
  readonly events: string[];
  readonly lines: LoggedLine[];
  outcome?: TaskOutcome;
  /** The handler's promise settled (task ended and socket closed). */
  finished: boolean;
  readonly serverSocket: WebSocket;
}

/** A development server whose sessions each run a bot; `bots` fills as sessions start. */
export async function serveBots(
  bot: BotOptions = {},
  server: Partial<DevServerOptions> = {},
): Promise<{ server: DevServer; bots: BotSession[]; wsUrl: string }> {
  const bots: BotSession[] = [];
  const dev = await startDevServer({
    port: 0,
    clientDir: pageDir(),
    ...server,
    onSession: async (socket, _request, session) => {
      const { logger, lines } = memoryLogger();
      const transport = new WebSocketTransport(socket, {
        serializer: new ProtobufFrameSerializer(bot.serializer),
        params: { audioInEnabled: true, audioOutEnabled: true, audioOutEndSilenceMs: 0 },
        ...bot.transport,
      });
      const rtvi = new RTVIProcessor();
      const task = new PipelineTask(
        new Pipeline([
          transport.input(),
          rtvi,
          ...(bot.extra ?? []),
          new Echo(),
          new RTVIOutputGate(),
          transport.output(),
        ]),
        {
          clock: bot.clock ?? new SystemClock(),
          logger,
          idleTimeoutMs: null,
          observers: [rtvi.observer],
          params: { audioInSampleRate: 16_000, audioOutSampleRate: 24_000 },
        },
      );
      const events: string[] = [];
      transport.on("clientConnected", () => void events.push("connected"));
      transport.on("clientDisconnected", (reason) => void events.push(`disconnected: ${reason}`));
      const state: BotSession = {
        id: session.id,
        transport,
        rtvi,
        task,
        events,
        lines,
        finished: false,
        serverSocket: socket,
      };
      bots.push(state);
      session.closing.addEventListener("abort", () => void task.stopWhenDone());
      session.cancelled.addEventListener("abort", () => void task.cancel("server closed"));
      await bot.beforeRun?.(task);
      state.outcome = await task.run();
      await transport.socketClosed;
      state.finished = true;
    },
  });
  return { server: dev, bots, wsUrl: `ws://127.0.0.1:${dev.port}/ws` };
}

/** The protobuf wire, as the official client speaks it. */
export const wire = new ProtobufFrameSerializer();

export function rtviBytes(message: Record<string, unknown>): Uint8Array {
  return wire.serialize(new OutputTransportMessageFrame({ label: "rtvi-ai", ...message }))!;
}

export function audioBytes(samples: number, sampleRate = 16_000, value = 100): Uint8Array {
  return wire.serialize(new OutputAudioRawFrame(new Int16Array(samples).fill(value), sampleRate))!;
}

/** RTVI messages a client received (decoded). */
export function rtviReceived(client: WebSocket): Array<Record<string, unknown>> {
  const got: Array<Record<string, unknown>> = [];
  client.on("message", (data: Buffer) => {
    const result = wire.deserialize(data);
    if (!result.ok) return;
    for (const frame of result.frames) {
      const message = (frame as { message?: unknown }).message;
      if (message && typeof message === "object") got.push(message as Record<string, unknown>);
    }
  });
  return got;
}

/** Opens a ws client; resolves once open. */
export function openClient(url: string, options: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const client = new WebSocket(url, { handshakeTimeout: 3000, ...options });
    client.once("open", () => resolve(client));
    client.once("error", reject);
    client.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

/** A raw TCP client: completes a WebSocket upgrade by hand, then does only what the probe says. */
export async function rawUpgrade(port: number, path = "/ws"): Promise<{ socket: Socket; response: string }> {
  const socket = connect(port, "127.0.0.1");
  socket.on("error", () => undefined);
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
  );
  const response = await new Promise<string>((resolve) => {
    let text = "";
    const onData = (chunk: Buffer): void => {
      text += chunk.toString("latin1");
      if (text.includes("\r\n\r\n")) {
        socket.off("data", onData);
        resolve(text);
      }
    };
    socket.on("data", onData);
  });
  return { socket, response };
}

/** A masked client frame (RFC 6455), as a raw client would write it. */
export function maskedFrame(opcode: number, payload: Uint8Array, fin = true): Buffer {
  const mask = Buffer.from([1, 2, 3, 4]);
  const len = payload.length;
  const head =
    len < 126
      ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | len])
      : len < 65536
        ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 126, len >> 8, len & 0xff])
        : (() => {
            const b = Buffer.alloc(10);
            b[0] = (fin ? 0x80 : 0) | opcode;
            b[1] = 0x80 | 127;
            b.writeBigUInt64BE(BigInt(len), 2);
            return b;
          })();
  const body = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!));
  return Buffer.concat([head, mask, body]);
}
