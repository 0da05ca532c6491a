/**
 * TelnyxCallControl against a loopback HTTP server that checks each request as Telnyx's Call
 * Control API documents it (`POST /v2/calls/{call_control_id}/actions/hangup|transfer`, Bearer
 * key, JSON body) and answers as Telnyx does (200; 422 with error code 90018 for a call that has
 * already ended; errors as `{"errors":[{code,title,detail}]}`).
 */
import { once } from "node:events";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { DeadlineExceededError } from "../../src/clock/deadline.js";
import { SystemClock, VirtualClock } from "../../src/clock/index.js";
import { CallControlError, type TelephonyCall, TelnyxCallControl } from "../../src/telephony/index.js";

const API_KEY = "KEY0123456789ABCDEF";
const CALL: TelephonyCall = {
  provider: "telnyx",
  callId: "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg",
  streamId: "32DE0DEA-53CB-4B21-89A4-9E1819C043BC",
  customParameters: {},
  inbound: { encoding: "mulaw", sampleRate: 8000 },
};

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
  closedEarly: boolean;
}

type Answer = (res: ServerResponse, seen: Seen) => void;

/** A real HTTP server on 127.0.0.1 that records every request and answers with `answer`. */
async function loopback(answer: Answer): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const entry: Seen = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        closedEarly: false,
      };
      seen.push(entry);
      res.on("close", () => {
        if (!res.writableFinished) entry.closedEarly = true;
      });
      answer(res, entry);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

const json = (status: number, body: unknown) => (res: ServerResponse) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
};

const ok = json(200, { data: { result: "ok" } });

function control(baseUrl: string, options: { timeoutMs?: number } = {}): TelnyxCallControl {
  return new TelnyxCallControl({ apiKey: API_KEY, baseUrl, env: {}, ...options });
}

async function failure(promise: Promise<unknown>): Promise<CallControlError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CallControlError);
  return error as CallControlError;
}

describe("TelnyxCallControl.hangUp", () => {
  it("POSTs {} to /v2/calls/{call_control_id}/actions/hangup with the Bearer key, as JSON", async () => {
    const server = await loopback(ok);
    await control(server.url).hangUp(CALL);
    expect(server.seen).toHaveLength(1);
    const [request] = server.seen;
    expect(request!.method).toBe("POST");
    // The id's ":" is a legal path character and is sent as it is, as Telnyx's own SDKs do.
    expect(request!.url).toBe(`/v2/calls/${CALL.callId}/actions/hangup`);
    expect(request!.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(request!.headers["content-type"]).toBe("application/json");
    expect(request!.headers.accept).toBe("application/json");
    expect(JSON.parse(request!.body)).toEqual({});
  });

  it("counts a call that has already ended (422, code 90018) as hung up", async () => {
    const server = await loopback(
      json(422, {
        errors: [
          {
            code: "90018",
            title: "Call has already ended",
            detail: "This call is no longer active and can't receive commands.",
          },
        ],
      }),
    );
    await expect(control(server.url).hangUp(CALL)).resolves.toBeUndefined();
    expect(server.seen).toHaveLength(1);
  });

  it("reads the code 90018 sent as a number too", async () => {
    const server = await loopback(json(422, { errors: [{ code: 90018, title: "Call has already ended" }] }));
    await expect(control(server.url).hangUp(CALL)).resolves.toBeUndefined();
  });

  it("fails on another 422 with Telnyx's words, not retryable, without trying again", async () => {
    const server = await loopback(
      json(422, {
        errors: [
          { code: "90015", title: "Invalid value for parameter", detail: "client_state must be base64" },
        ],
      }),
    );
    const error = await failure(control(server.url).hangUp(CALL));
    expect(error.code).toBe("VP_CALL_CONTROL");
    expect(error.provider).toBe("telnyx");
    expect(error.status).toBe(422);
    expect(error.retryable).toBe(false);
    expect(error.message).toContain("hangup of call v3:");
    expect(error.message).toContain(
      "HTTP 422 (90015 Invalid value for parameter: client_state must be base64)",
    );
    expect(server.seen).toHaveLength(1);
  });

  it("fails on a 500 with the status, retryable, after sending a hang-up once more (twice does no harm)", async () => {
    const server = await loopback((res) => {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end("upstream exploded");
    });
    const error = await failure(control(server.url).hangUp(CALL));
    expect(error.status).toBe(500);
    expect(error.retryable).toBe(true);
    expect(error.message).toContain("HTTP 500 (upstream exploded)");
    expect(error.message).toContain("try again");
    expect(server.seen).toHaveLength(2);
  });

  it("sends a transfer once only, even after a 500 (a second could ring the target twice)", async () => {
    const server = await loopback((res) => {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end("upstream exploded");
    });
    const error = await failure(control(server.url).transfer(CALL, "+15550100002"));
    expect(error.status).toBe(500);
    expect(server.seen).toHaveLength(1);
  });

  it("says to check TELNYX_API_KEY on a 401", async () => {
    const server = await loopback(
      json(401, {
        errors: [{ code: "10009", title: "Authentication failed", detail: "The API key is invalid." }],
      }),
    );
    const error = await failure(control(server.url).hangUp(CALL));
    expect(error.status).toBe(401);
    expect(error.message).toContain("check TELNYX_API_KEY");
  });

  it("a huge error body (a proxy's page) gives a short message", async () => {
    const server = await loopback((res) => {
      res.writeHead(503, { "content-type": "text/html" });
      res.end("<html>" + "x".repeat(1 << 20) + "</html>");
    });
    const error = await failure(control(server.url).hangUp(CALL));
    expect(error.status).toBe(503);
    expect(error.message.length).toBeLessThan(600);
  });

  it("gives up at timeoutMs when Telnyx never answers, with a deadline error as the cause, and closes the request", async () => {
    const server = await loopback(() => {
      /* never answers */
    });
    const started = performance.now();
    const error = await failure(control(server.url, { timeoutMs: 150 }).hangUp(CALL));
    const waited = performance.now() - started;
    expect(error.cause).toBeInstanceOf(DeadlineExceededError);
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(/no answer from http:\/\/127\.0\.0\.1:\d+ within 150 ms \(timeoutMs\)/);
    expect(waited).toBeGreaterThanOrEqual(140);
    expect(waited).toBeLessThan(150 + 1000);
    // The aborted request closes its connection: nothing is left waiting on the server.
    await expect.poll(() => server.seen[0]?.closedEarly, { timeout: 2000 }).toBe(true);
  });

  it("a virtual clock's deadline does not fire while the request is in flight (real I/O is tracked)", async () => {
    const clock = new VirtualClock();
    const server = await loopback((res) => setTimeout(() => ok(res), 50));
    const done = new TelnyxCallControl({
      apiKey: API_KEY,
      baseUrl: server.url,
      env: {},
      timeoutMs: 10,
      clock,
    }).hangUp(CALL);
    // Virtual time races far past the 10 ms deadline while the server takes 50 real ms.
    await clock.runUntil(done);
    await expect(done).resolves.toBeUndefined();
  });

  it("fails when Telnyx cannot be reached, retryable, with no status", async () => {
    const server = await loopback(ok);
    const url = server.url;
    server.server.closeAllConnections();
    await new Promise((resolve) => server.server.close(resolve));
    servers.splice(servers.indexOf(server.server), 1);
    const error = await failure(control(url).hangUp(CALL));
    expect(error.status).toBeUndefined();
    expect(error.retryable).toBe(true);
    expect(error.message).toContain("could not reach");
    expect(error.message).toMatch(/ECONNREFUSED/);
  });

  it("refuses a call from another provider, or one without a call_control_id, before any request", async () => {
    const server = await loopback(ok);
    const c = control(server.url);
    await expect(c.hangUp({ ...CALL, provider: "twilio" })).rejects.toThrow(/cannot hangup a twilio call/);
    await expect(c.hangUp({ ...CALL, callId: "" })).rejects.toThrow(/no call_control_id/);
    await expect(c.hangUp({ ...CALL, callId: ".." })).rejects.toThrow(CallControlError);
    expect(server.seen).toHaveLength(0);
  });

  it("escapes a call_control_id as one path segment", async () => {
    const server = await loopback(ok);
    await control(server.url).hangUp({ ...CALL, callId: "v3:a/b?c#d e" });
    expect(server.seen[0]!.url).toBe("/v2/calls/v3:a%2Fb%3Fc%23d%20e/actions/hangup");
  });
});

describe("TelnyxCallControl.transfer", () => {
  it('POSTs {"to": target} to /v2/calls/{call_control_id}/actions/transfer', async () => {
    const server = await loopback(ok);
    await control(server.url).transfer(CALL, "sip:agent@example.com");
    const [request] = server.seen;
    expect(request!.method).toBe("POST");
    expect(request!.url).toBe(`/v2/calls/${CALL.callId}/actions/transfer`);
    expect(request!.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(request!.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(request!.body)).toEqual({ to: "sip:agent@example.com" });
  });

  it("fails when the call has already ended (there is nobody to transfer)", async () => {
    const server = await loopback(
      json(422, { errors: [{ code: "90018", title: "Call has already ended" }] }),
    );
    const error = await failure(control(server.url).transfer(CALL, "+15550100003"));
    expect(error.status).toBe(422);
    expect(error.message).toContain("the call has already ended, so there is nothing to transfer");
  });

  it("refuses an empty target before any request", async () => {
    const server = await loopback(ok);
    await expect(control(server.url).transfer(CALL, " ")).rejects.toThrow(/needs a target/);
    expect(server.seen).toHaveLength(0);
  });
});

describe("TelnyxCallControl options", () => {
  it("needs an API key, and names TELNYX_API_KEY when there is none", () => {
    expect(() => new TelnyxCallControl({ env: {} })).toThrow(/set TELNYX_API_KEY/);
    expect(new TelnyxCallControl({ env: { TELNYX_API_KEY: " k " } }).baseUrl).toBe("https://api.telnyx.com");
  });

  it("takes the endpoint from baseUrl, else TELNYX_BASE_URL, and refuses one that is not http(s)", () => {
    expect(
      new TelnyxCallControl({ apiKey: "k", env: { TELNYX_BASE_URL: "http://127.0.0.1:9/" } }).baseUrl,
    ).toBe("http://127.0.0.1:9");
    expect(() => new TelnyxCallControl({ apiKey: "k", env: {}, baseUrl: "ftp://x" })).toThrow(
      /http\(s\) URL/,
    );
  });

  it("refuses a timeoutMs that is not a positive number", () => {
    expect(() => new TelnyxCallControl({ apiKey: "k", env: {}, timeoutMs: 0 })).toThrow(/timeoutMs must be/);
    expect(new TelnyxCallControl({ apiKey: "k", env: {}, clock: new SystemClock() }).timeoutMs).toBe(5000);
  });
});
