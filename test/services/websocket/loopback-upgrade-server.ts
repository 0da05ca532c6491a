import { once } from "node:events";
import { type IncomingMessage, createServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type WebSocket from "ws";
import { WebSocketServer } from "ws";

/**
 * The HTTP server under a fake provider's WebSocket endpoint, on loopback: it records every
 * upgrade request, hands it to the fake (which refuses it or lets `wss` take it), and closes
 * everything at the end. The fake owns the protocol.
 */
export function loopbackUpgradeServer() {
  const wss = new WebSocketServer({ noServer: true });
  const server = createServer();
  const upgrades: IncomingMessage[] = [];
  const sockets: Socket[] = [];
  return {
    wss,
    upgrades,
    /** Calls `handle` for every upgrade request, after recording it. */
    onUpgrade(handle: (request: IncomingMessage, socket: Socket, head: Buffer) => void): void {
      server.on("upgrade", (request: IncomingMessage, socket: Socket, head: Buffer) => {
        upgrades.push(request);
        sockets.push(socket);
        socket.on("error", () => {});
        handle(request, socket, head);
      });
    },
    /** Listens on a free loopback port; resolves with `ws://127.0.0.1:<port>`. */
    async listen(): Promise<string> {
      server.listen(0, "127.0.0.1");
      await once(server, "listening");
      return `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    /** Terminates `connections`, destroys every upgraded socket and closes the server. */
    async close(connections: readonly WebSocket[]): Promise<void> {
      for (const ws of connections) ws.terminate();
      for (const s of sockets) s.destroy();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Answers an upgrade request with `status` and a JSON `body`, then closes the socket. */
export function refuseUpgrade(socket: Socket, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${status === 401 ? "Unauthorized" : "Not Found"}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
  );
}
