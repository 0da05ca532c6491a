/**
 * PlivoCallControl against a loopback HTTP server that checks each request as Plivo's Voice API
 * documents it: method, path (trailing slash included), HTTP Basic auth, JSON body; and answers
 * as Plivo does (204 for a hang-up, 202 for a transfer, `{"api_id":…,"error":…}` on failure).
 */
import { once } from "node:events";
import { type IncomingMessage, type ServerResponse, createServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { afterEach, describe, expect, it } from "vitest";
import { SystemClock } from "../../src/clock/system-clock.js";
import { VirtualClock } from "../../src/clock/virtual-clock.js";
import { InvalidOptionError } from "../../src/errors.js";
import type { TelephonyCall } from "../../src/serializers/telephony/telephony-serializer.js";
import { CallControlError } from "../../src/telephony/call-control.js";
import {
  PlivoCallControl,
  type PlivoCallControlOptions,
  plivoDialXml,
} from "../../src/telephony/plivo-call-control.js";

const AUTH_ID = "MAXXXXXXXXXXXXXXXXXX";
const AUTH_TOKEN = "s3cr3t-t0ken";
const BASIC = `Basic ${Buffer.from(`${AUTH_ID}:${AUTH_TOKEN}`).toString("base64")}`;
const CALL: TelephonyCall = {
  provider: "plivo",
  callId: "3a2e4c90-dcee-4931-8a59-f123ab507e60",
  streamId: "20170ada-f610-433b-8758-c02a2aab3662",
  customParameters: {},
  inbound: { encoding: "mulaw", sampleRate: 8000 },
};
const CALL_PATH = `/v1/Account/${AUTH_ID}/Call/${CALL.callId}/`;

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: string;
}

type Handler = (req: IncomingMessage, res: ServerResponse, seen: Seen) => void;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A loopback "Plivo API" answering with `handler`, recording every request. */
async function plivoApi(handler: Handler) {
  const seen: Seen[] = [];
  const sockets = new Set<Socket>();
  /** Connections that carried a request and are still open. */
  const busy = new Set<Socket>();
  const server = createServer((req, res) => {
    busy.add(req.socket);
    req.socket.once("close", () => busy.delete(req.socket));
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const record: Seen = {
        method: req.method ?? "",
        url: req.url ?? "",
        authorization: req.headers.authorization,
        contentType: req.headers["content-type"],
        body: Buffer.concat(chunks).toString("utf8"),
      };
      seen.push(record);
      handler(req, res, record);
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { baseUrl, seen, busy };
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
};

function control(baseUrl: string, options: PlivoCallControlOptions = {}) {
  return new PlivoCallControl({
    authId: AUTH_ID,
    authToken: AUTH_TOKEN,
    baseUrl,
    clock: new VirtualClock(),
    env: {},
    ...options,
  });
}

async function rejection(promise: Promise<unknown>): Promise<CallControlError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(CallControlError);
    return error as CallControlError;
  }
  throw new Error("expected a rejection");
}

describe("PlivoCallControl.hangUp", () => {
  it("sends DELETE /v1/Account/{auth_id}/Call/{call_uuid}/ with Basic auth and no body; 204 is done", async () => {
    const api = await plivoApi((_req, res) => {
      res.writeHead(204);
      res.end();
    });
    await control(api.baseUrl).hangUp(CALL);
    expect(api.seen).toEqual([
      { method: "DELETE", url: CALL_PATH, authorization: BASIC, contentType: undefined, body: "" },
    ]);
  });

  it("a call already gone (404) counts as hung up", async () => {
    const api = await plivoApi((_req, res) => json(res, 404, { api_id: "97ceeb52", error: "not found" }));
    await expect(control(api.baseUrl).hangUp(CALL)).resolves.toBeUndefined();
    expect(api.seen).toHaveLength(1);
  });

  it("a 500 is a CallControlError naming the provider, the status, Plivo's words and what to do, after the hang-up was sent once more", async () => {
    const api = await plivoApi((_req, res) =>
      json(res, 500, { api_id: "x", error: "internal server error" }),
    );
    const error = await rejection(control(api.baseUrl).hangUp(CALL));
    expect(error.code).toBe("VP_CALL_CONTROL");
    expect({ provider: error.provider, status: error.status, retryable: error.retryable }).toMatchObject({
      provider: "plivo",
      status: 500,
      retryable: true,
    });
    expect(error.message).toBe(
      `plivo: hanging up call ${CALL.callId} was refused: HTTP 500 (internal server error); Plivo failed; it may work if tried again later`,
    );
    expect(api.seen).toHaveLength(2);
  });

  it("a 401 says to check the credentials, and is not retryable", async () => {
    const api = await plivoApi((_req, res) =>
      json(res, 401, { api_id: "x", error: "authentication failed" }),
    );
    const error = await rejection(control(api.baseUrl).hangUp(CALL));
    expect(error.message).toMatch(
      /HTTP 401 \(authentication failed\); check PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN/,
    );
    expect(error.retryable).toBe(false);
    expect(api.seen).toHaveLength(1);
  });

  it("reads at most a few KiB of a huge error body (the rest is never fetched), and says its start", async () => {
    const total = 64 << 20;
    let written = 0;
    const api = await plivoApi((_req, res) => {
      res.writeHead(502, { "content-type": "text/html" });
      res.write("<html>bad gateway</html>");
      let closed = false;
      res.on("close", () => (closed = true));
      const chunk = Buffer.alloc(64 << 10, 0x20);
      const pump = (): void => {
        while (!closed && written < total) {
          written += chunk.byteLength;
          if (!res.write(chunk)) return void res.once("drain", pump);
        }
        res.end();
      };
      pump();
    });
    const error = await rejection(control(api.baseUrl).hangUp(CALL));
    expect(error.message).toMatch(/HTTP 502 \(<html>bad gateway<\/html>\)/);
    expect(error.message.length).toBeLessThan(400);
    // The client stopped reading after a few KiB: the server got out only what socket buffers hold
    // (about 4 MiB here; reading it all would take all 64 MiB).
    expect(written).toBeLessThan(total / 4);
  });

  it("a server that never answers: rejects at timeoutMs with a CallControlError, and the request is aborted", async () => {
    const api = await plivoApi(() => {
      /* never answers */
    });
    const timeoutMs = 150;
    const started = performance.now();
    const error = await rejection(control(api.baseUrl, { clock: new SystemClock(), timeoutMs }).hangUp(CALL));
    const elapsed = performance.now() - started;
    expect(error.message).toMatch(/no answer from http:\/\/127\.0\.0\.1:\d+ within 150 ms \(timeoutMs\)/);
    expect(error.retryable).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(timeoutMs - 5);
    expect(elapsed).toBeLessThan(timeoutMs + 1000);
    // The abort closed the connection: nothing is left open on the server.
    const until = performance.now() + 1000;
    while (api.busy.size > 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 5));
    expect(api.busy.size).toBe(0);
  });

  it("a server that cannot be reached is a CallControlError saying so", async () => {
    const api = await plivoApi(() => undefined);
    const baseUrl = api.baseUrl;
    await cleanups.pop()!(); // close it: the port refuses connections now
    const error = await rejection(control(baseUrl).hangUp(CALL));
    expect(error.message).toMatch(/could not reach http:\/\/127\.0\.0\.1:\d+\/v1\/Account\/.*ECONNREFUSED/);
  });

  it("refuses a call of another provider or without an id, without a request", async () => {
    const api = await plivoApi((_req, res) => res.end());
    const c = control(api.baseUrl);
    expect((await rejection(c.hangUp({ ...CALL, provider: "twilio" }))).message).toMatch(
      /cannot hang up a twilio call/,
    );
    expect((await rejection(c.hangUp({ ...CALL, callId: "" }))).message).toMatch(/gave no callId/);
    expect(api.seen).toEqual([]);
  });

  it("escapes the call id in the path", async () => {
    const api = await plivoApi((_req, res) => {
      res.writeHead(204);
      res.end();
    });
    await control(api.baseUrl).hangUp({ ...CALL, callId: "../../x?y" });
    expect(api.seen[0]!.url).toBe(`/v1/Account/${AUTH_ID}/Call/..%2F..%2Fx%3Fy/`);
  });
});

describe("PlivoCallControl.transfer", () => {
  const transferUrl = (to: string) => `https://bot.example.com/plivo/dial?to=${encodeURIComponent(to)}`;

  it("POSTs legs=aleg and aleg_url (the XML that dials the target) as JSON; 202 is done", async () => {
    const api = await plivoApi((_req, res) =>
      json(res, 202, { message: "call transferred", api_id: "08c9" }),
    );
    await control(api.baseUrl, { transferUrl }).transfer(CALL, "+14155551111");
    expect(api.seen).toHaveLength(1);
    const [request] = api.seen;
    expect(request).toMatchObject({
      method: "POST",
      url: CALL_PATH,
      authorization: BASIC,
      contentType: "application/json",
    });
    expect(JSON.parse(request!.body)).toEqual({
      legs: "aleg",
      aleg_url: "https://bot.example.com/plivo/dial?to=%2B14155551111",
      aleg_method: "POST",
    });
  });

  it("takes aleg_method GET when asked", async () => {
    const api = await plivoApi((_req, res) => json(res, 202, { message: "call transferred" }));
    await control(api.baseUrl, { transferUrl, transferMethod: "GET" }).transfer(
      CALL,
      "sip:agent@phone.plivo.com",
    );
    expect(JSON.parse(api.seen[0]!.body)).toMatchObject({ aleg_method: "GET" });
  });

  it("a call that has ended (404) cannot be transferred: a CallControlError saying so", async () => {
    const api = await plivoApi((_req, res) => json(res, 404, { api_id: "x", error: "not found" }));
    const error = await rejection(control(api.baseUrl, { transferUrl }).transfer(CALL, "+14155551111"));
    expect(error.message).toMatch(
      /HTTP 404 \(not found\); the call has ended, so there is nothing to transfer/,
    );
    expect({ provider: error.provider, status: error.status, retryable: error.retryable }).toMatchObject({
      status: 404,
      retryable: false,
    });
  });

  it("a 400 carries Plivo's words and says a retry will not help", async () => {
    const api = await plivoApi((_req, res) =>
      json(res, 400, { api_id: "x", error: { aleg_url: "invalid url" } }),
    );
    const error = await rejection(control(api.baseUrl, { transferUrl }).transfer(CALL, "+14155551111"));
    expect(error.message).toMatch(
      /HTTP 400 \(\{"aleg_url":"invalid url"\}\); Plivo refused the request; trying it again will not help/,
    );
  });

  it("without transferUrl, or with a URL that is not http(s), refuses before any request", async () => {
    const api = await plivoApi((_req, res) => res.end());
    const none = await rejection(control(api.baseUrl).transfer(CALL, "+14155551111"));
    expect(none.message).toMatch(/needs the transferUrl option.*plivoDialXml\(target\)/);
    const bad = await rejection(
      control(api.baseUrl, { transferUrl: () => "ftp://x" }).transfer(CALL, "+1415"),
    );
    expect(bad.message).toMatch(/not an http\(s\) URL/);
    const empty = await rejection(control(api.baseUrl, { transferUrl }).transfer(CALL, " "));
    expect(empty.message).toMatch(/phone number or SIP URI/);
    expect(api.seen).toEqual([]);
  });
});

describe("PlivoCallControl options", () => {
  it("reads the credentials from PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN, and says which is missing", async () => {
    const api = await plivoApi((_req, res) => {
      res.writeHead(204);
      res.end();
    });
    const c = new PlivoCallControl({
      env: { PLIVO_AUTH_ID: AUTH_ID, PLIVO_AUTH_TOKEN: AUTH_TOKEN, PLIVO_BASE_URL: api.baseUrl },
      clock: new VirtualClock(),
    });
    expect(c.baseUrl).toBe(api.baseUrl);
    await c.hangUp(CALL);
    expect(api.seen[0]!.authorization).toBe(BASIC);
    expect(() => new PlivoCallControl({ env: { PLIVO_AUTH_ID: AUTH_ID } })).toThrow(
      /PLIVO_AUTH_TOKEN is not set: set PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN/,
    );
    expect(() => new PlivoCallControl({ env: {} })).toThrow(InvalidOptionError);
  });

  it("refuses a bad baseUrl, timeoutMs or transferMethod in words", () => {
    const base = { authId: AUTH_ID, authToken: AUTH_TOKEN, env: {} };
    expect(() => new PlivoCallControl({ ...base, baseUrl: "api.plivo.com" })).toThrow(/not a URL/);
    expect(() => new PlivoCallControl({ ...base, timeoutMs: 0 })).toThrow(
      /timeoutMs must be a number of ms > 0/,
    );
    expect(() => new PlivoCallControl({ ...base, transferMethod: "PUT" as never })).toThrow(
      /"GET" or "POST"/,
    );
    expect(new PlivoCallControl(base).baseUrl).toBe("https://api.plivo.com");
  });
});

describe("plivoDialXml", () => {
  it("dials a number with <Number> and a SIP URI with <User>", () => {
    expect(plivoDialXml("+14155551111")).toBe(
      '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Dial><Number>+14155551111</Number></Dial></Response>\n',
    );
    expect(plivoDialXml(" sip:agent@phone.plivo.com ")).toContain(
      "<Dial><User>sip:agent@phone.plivo.com</User></Dial>",
    );
  });

  it("refuses anything else, so a target cannot inject XML", () => {
    for (const bad of [
      "",
      "+1 (415) 555",
      "1</Number><Hangup/><Number>2",
      "sip:a@b<Hangup/>",
      "tel:+1415",
      14155551111,
    ]) {
      expect(() => plivoDialXml(bad as string)).toThrow(InvalidOptionError);
    }
  });
});
