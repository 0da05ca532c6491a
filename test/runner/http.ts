import { request as httpRequest } from "node:http";
import WebSocket from "ws";

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json(): unknown;
}

/** One HTTP request on a fresh connection (no agent, so nothing stays open after it). */
export function request(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: options.method ?? "GET", headers: options.headers, agent: false, timeout: 5000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const body = Buffer.concat(chunks).toString("utf8");
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            json: () => JSON.parse(body) as unknown,
          });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${url}: no answer within 5 s`)));
    req.on("error", reject);
    req.end(options.body);
  });
}

/** What the official client sends: POST, `Content-Type: application/json`, no body. */
export function postStart(base: string, headers: Record<string, string> = {}): Promise<Reply> {
  return request(new URL("/start", base).href, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
  });
}

/** Opens a WebSocket; resolves with it once open, or with the HTTP status of a refused upgrade. */
export function openSocket(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ socket?: WebSocket; status?: number; body?: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers, handshakeTimeout: 5000 });
    socket.once("open", () => resolve({ socket }));
    socket.once("unexpected-response", (_req, res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString("utf8") }));
    });
    socket.once("error", reject);
  });
}

/** Resolves with the close code when `socket` closes. */
export function closed(socket: WebSocket): Promise<number> {
  return new Promise((resolve) => socket.once("close", (code: number) => resolve(code)));
}
