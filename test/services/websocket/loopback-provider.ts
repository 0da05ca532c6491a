import { once } from "node:events";
import { STATUS_CODES, type IncomingMessage, type Server, createServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type WebSocket from "ws";
import { WebSocketServer } from "ws";

/** What the loopback provider does with the n-th upgrade request (1-based). */
export type UpgradeAnswer =
  | "accept"
  /** Answer with this HTTP status and a JSON body (Deepgram-style). */
  | { status: number; body?: string }
  /** Never answer (the attempt hangs until its deadline or an abort). */
  | "hang";

/** Options of {@link loopbackProvider}. */
export interface LoopbackProviderOptions {
  /** @default every request accepted */
  answer?: (n: number, request: IncomingMessage) => UpgradeAnswer;
  /** Answer pings (ws `autoPong`). @default true */
  autoPong?: boolean;
  /** Called for each accepted connection. */
  onConnection?: (socket: WebSocket, n: number) => void;
  /** Listen on this port (to make a refused port come alive). @default 0 */
  port?: number;
}

/** A message the loopback provider received. */
export interface Received {
  readonly text: string;
  readonly isBinary: boolean;
  readonly connection: number;
}

/**
 * A real WebSocket server on 127.0.0.1 standing in for a provider: it answers upgrades as told
 * (accept, an HTTP error with a body, or never), records what it receives, and can be closed
 * with every socket it holds.
 */
export interface LoopbackProvider {
  readonly url: string;
  readonly port: number;
  /** Upgrade requests seen. */
  readonly upgrades: IncomingMessage[];
  /** Accepted connections, in order. */
  readonly connections: WebSocket[];
  /** Raw TCP sockets of upgrade requests, answered or not. */
  readonly rawSockets: Socket[];
  readonly received: Received[];
  close(): Promise<void>;
}

export async function loopbackProvider(options: LoopbackProviderOptions = {}): Promise<LoopbackProvider> {
  const wss = new WebSocketServer({ noServer: true, autoPong: options.autoPong ?? true });
  const server: Server = createServer();
  const upgrades: IncomingMessage[] = [];
  const connections: WebSocket[] = [];
  const rawSockets: Socket[] = [];
  const received: Received[] = [];
  server.on("upgrade", (request: IncomingMessage, socket: Socket, head: Buffer) => {
    upgrades.push(request);
    rawSockets.push(socket);
    socket.on("error", () => {});
    const n = upgrades.length;
    const answer = options.answer?.(n, request) ?? "accept";
    if (answer === "hang") return;
    if (answer === "accept") {
      wss.handleUpgrade(request, socket, head, (ws) => {
        const index = connections.push(ws);
        ws.on("error", () => {});
        ws.on("message", (data, isBinary) => {
          received.push({ text: (data as Buffer).toString("utf8"), isBinary, connection: index });
        });
        options.onConnection?.(ws, index);
      });
      return;
    }
    const body = answer.body ?? JSON.stringify({ err_code: "TEST", err_msg: `status ${answer.status}` });
    socket.end(
      `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? "Error"}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
  server.listen(options.port ?? 0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}/v1/listen`,
    port,
    upgrades,
    connections,
    rawSockets,
    received,
    async close() {
      for (const ws of connections) ws.terminate();
      for (const socket of rawSockets) socket.destroy();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port on 127.0.0.1 that nothing listens on (connections to it are refused). */
export async function unusedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Polls `predicate` every 2 ms of real time; fails after `timeoutMs`. */
export async function until(predicate: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const start = performance.now();
  while (!predicate()) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** TCP handles of this process (process.getActiveResourcesInfo()). */
export function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((name) => name.startsWith("TCP")).length;
}
