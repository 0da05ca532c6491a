/**
 * VonageCallControl against a loopback HTTP server that checks each request as the Voice API
 * documents it: `PUT /v1/calls/{uuid}`, a JSON body, and a JWT bearer (RS256, claims
 * application_id, iat, exp, jti) that the server verifies with the application's public key.
 */
import { type KeyObject, generateKeyPairSync, verify } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, writeFileSync } from "node:fs";
import { type IncomingMessage, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { SystemClock } from "../../src/index.js";
import type { TelephonyCall } from "../../src/serializers/telephony/telephony-serializer.js";
import { CallControlError } from "../../src/telephony/call-control.js";
import { VonageCallControl } from "../../src/telephony/vonage-call-control.js";

const APPLICATION_ID = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab";
const CALL: TelephonyCall = {
  provider: "vonage",
  callId: "63f61863-4a51-4f6b-86e1-46edebcf9356",
  streamId: "",
  customParameters: {},
  inbound: { encoding: "l16", sampleRate: 16000 },
};
/** A fixed wall-clock time for the token's claims. */
const NOW_MS = 1_764_000_000_123;

let keys: { publicKey: KeyObject; privateKey: KeyObject; pem: string };
beforeAll(() => {
  const pair = generateKeyPairSync("rsa", { modulusLength: 2048 });
  keys = { ...pair, pem: pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString() };
});

interface Seen {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingMessage["headers"];
  body: string;
}

/** What the fake Voice API answers: a status and a body, or `"hang"` (never answers). */
type Answer = { status: number; body?: string } | "hang";

const servers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of servers.splice(0)) await close();
});

async function voiceApi(answers: Answer[]) {
  const seen: Seen[] = [];
  const open = new Set<ServerResponse>();
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (c: Buffer) => chunks.push(c));
    request.on("end", () => {
      seen.push({
        method: request.method,
        url: request.url,
        headers: request.headers,
        body: Buffer.concat(chunks).toString(),
      });
      const answer = answers[Math.min(seen.length - 1, answers.length - 1)]!;
      if (answer === "hang") {
        open.add(response);
        return;
      }
      response.writeHead(answer.status, answer.body ? { "content-type": "application/json" } : {});
      response.end(answer.body);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const closed = { aborted: 0 };
  server.on("connection", (socket) => socket.on("close", () => void closed.aborted++));
  servers.push(async () => {
    for (const r of open) r.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { seen, baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, closed };
}

function control(baseUrl: string, extra: Partial<ConstructorParameters<typeof VonageCallControl>[0]> = {}) {
  return new VonageCallControl({
    applicationId: APPLICATION_ID,
    privateKey: keys.pem,
    baseUrl,
    now: () => NOW_MS,
    env: {},
    ...extra,
  });
}

/** Checks the JWT as Vonage would: RS256 signature by the application's key, and its claims. */
function checkToken(authorization: string | undefined): { jti: string } {
  expect(authorization).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
  const [header, claims, signature] = authorization!.slice("Bearer ".length).split(".") as [
    string,
    string,
    string,
  ];
  expect(JSON.parse(Buffer.from(header, "base64url").toString())).toEqual({ alg: "RS256", typ: "JWT" });
  const valid = verify(
    "sha256",
    Buffer.from(`${header}.${claims}`),
    keys.publicKey,
    Buffer.from(signature, "base64url"),
  );
  expect(valid).toBe(true);
  const payload = JSON.parse(Buffer.from(claims, "base64url").toString()) as Record<string, unknown>;
  expect(Object.keys(payload).sort()).toEqual(["application_id", "exp", "iat", "jti"]);
  expect(payload.application_id).toBe(APPLICATION_ID);
  expect(payload.iat).toBe(Math.floor(NOW_MS / 1000));
  expect(payload.exp).toBe(Math.floor(NOW_MS / 1000) + 300);
  expect(payload.jti).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  return { jti: payload.jti as string };
}

function checkRequest(seen: Seen, body: unknown): { jti: string } {
  expect(seen.method).toBe("PUT");
  expect(seen.url).toBe(`/v1/calls/${CALL.callId}`);
  expect(seen.headers["content-type"]).toBe("application/json");
  expect(seen.body).toBe(JSON.stringify(body));
  return checkToken(seen.headers.authorization);
}

describe("VonageCallControl", () => {
  it('hangs up with PUT /v1/calls/{uuid} {"action":"hangup"} and a JWT the public key verifies; a fresh jti each time', async () => {
    const api = await voiceApi([{ status: 204 }]);
    const vonage = control(api.baseUrl);
    await vonage.hangUp(CALL);
    await vonage.hangUp(CALL);
    expect(api.seen).toHaveLength(2);
    const first = checkRequest(api.seen[0]!, { action: "hangup" });
    const second = checkRequest(api.seen[1]!, { action: "hangup" });
    expect(first.jti).not.toBe(second.jti);
  });

  it("transfers to a phone number (digits only, as Vonage's E.164) or a SIP URI with an NCCO connect", async () => {
    const api = await voiceApi([{ status: 204 }]);
    const vonage = control(api.baseUrl);
    await vonage.transfer(CALL, "+1 (415) 555-0100");
    await vonage.transfer(CALL, "sip:alice@example.com");
    checkRequest(api.seen[0]!, {
      action: "transfer",
      destination: {
        type: "ncco",
        ncco: [{ action: "connect", endpoint: [{ type: "phone", number: "14155550100" }] }],
      },
    });
    checkRequest(api.seen[1]!, {
      action: "transfer",
      destination: {
        type: "ncco",
        ncco: [{ action: "connect", endpoint: [{ type: "sip", uri: "sip:alice@example.com" }] }],
      },
    });
  });

  it("refuses a transfer target that is neither a number nor a SIP URI, without a request", async () => {
    const api = await voiceApi([{ status: 204 }]);
    await expect(control(api.baseUrl).transfer(CALL, "reception")).rejects.toThrow(
      /cannot transfer to "reception": give a phone number in E.164/,
    );
    expect(api.seen).toHaveLength(0);
  });

  it("counts a hang-up of a call already gone as done (404, or a 400 saying it completed)", async () => {
    const gone = await voiceApi([{ status: 404, body: JSON.stringify({ title: "Not Found" }) }]);
    await expect(control(gone.baseUrl).hangUp(CALL)).resolves.toBeUndefined();
    const completed = await voiceApi([
      {
        status: 400,
        body: JSON.stringify({ title: "Bad Request", detail: "The call has already completed" }),
      },
    ]);
    await expect(control(completed.baseUrl).hangUp(CALL)).resolves.toBeUndefined();
  });

  it("reports a transfer of a call that is gone, with the status", async () => {
    const api = await voiceApi([
      { status: 404, body: JSON.stringify({ title: "Not Found", detail: "call not found" }) },
    ]);
    const error = await control(api.baseUrl)
      .transfer(CALL, "14155550100")
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CallControlError);
    expect((error as CallControlError).status).toBe(404);
    expect((error as CallControlError).message).toMatch(
      /HTTP 404 \(Not Found: call not found\); the call is gone/,
    );
  });

  it("rejects a refused request with the provider's words and what to do, and never retries a 4xx", async () => {
    const api = await voiceApi([
      {
        status: 401,
        body: JSON.stringify({
          type: "https://developer.nexmo.com/api-errors#unauthorized",
          title: "Unauthorized",
          detail: "Invalid Token",
        }),
      },
    ]);
    const error = (await control(api.baseUrl)
      .hangUp(CALL)
      .catch((e: unknown) => e)) as CallControlError;
    expect(error).toBeInstanceOf(CallControlError);
    expect(error.code).toBe("VP_CALL_CONTROL");
    expect(error.provider).toBe("vonage");
    expect(error.status).toBe(401);
    expect(error.message).toBe(
      `vonage: hanging up call ${CALL.callId} was refused: HTTP 401 (Unauthorized: Invalid Token); check applicationId and privateKey ` +
        "(the application's key pair) and that the call belongs to that application",
    );
    expect(api.seen).toHaveLength(1);
  });

  it("tries a 5xx once more, within the same deadline, then reports it", async () => {
    const flaky = await voiceApi([{ status: 500 }, { status: 204 }]);
    await control(flaky.baseUrl).hangUp(CALL);
    expect(flaky.seen).toHaveLength(2);
    const down = await voiceApi([{ status: 503, body: "upstream down" }]);
    await expect(control(down.baseUrl).hangUp(CALL)).rejects.toThrow(
      /HTTP 503 \(upstream down\); Vonage's error/,
    );
    expect(down.seen).toHaveLength(2);
  });

  it("never sends a transfer twice, even after a 5xx (it could connect the target twice)", async () => {
    const api = await voiceApi([{ status: 500 }, { status: 204 }]);
    await expect(control(api.baseUrl).transfer(CALL, "14155550100")).rejects.toThrow(/HTTP 500/);
    expect(api.seen).toHaveLength(1);
  });

  it("gives up after timeoutMs when the API never answers, and closes the request", async () => {
    const api = await voiceApi(["hang"]);
    const started = performance.now();
    await expect(
      control(api.baseUrl, { timeoutMs: 200, clock: new SystemClock() }).hangUp(CALL),
    ).rejects.toThrow(/no answer from http:\/\/127\.0\.0\.1:\d+ within 200 ms \(timeoutMs\)/);
    const tookMs = performance.now() - started;
    expect(tookMs).toBeGreaterThanOrEqual(190);
    expect(tookMs).toBeLessThan(2000);
    // The aborted request's connection is closed, not left open.
    const until = performance.now() + 1000;
    while (api.closed.aborted === 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 10));
    expect(api.closed.aborted).toBe(1);
  });

  it("says when the API cannot be reached", async () => {
    const api = await voiceApi([{ status: 204 }]);
    await servers.pop()!();
    await expect(control(api.baseUrl).hangUp(CALL)).rejects.toThrow(
      /could not reach http:\/\/127\.0\.0\.1:\d+\/v1\/calls\/.*: fetch failed/,
    );
  });

  it("needs the call's uuid (the NCCO's call_uuid header) and a Vonage call", async () => {
    const api = await voiceApi([{ status: 204 }]);
    await expect(control(api.baseUrl).hangUp({ ...CALL, callId: "" })).rejects.toThrow(/"call_uuid"/);
    await expect(control(api.baseUrl).hangUp({ ...CALL, provider: "twilio" })).rejects.toThrow(
      /hanging up a twilio call: use that provider's call control/,
    );
    expect(api.seen).toHaveLength(0);
  });

  it("refuses missing or wrong credentials at construction, naming where they came from", () => {
    expect(() => new VonageCallControl({ env: {} })).toThrow(
      /no application id: pass applicationId or set VONAGE_APPLICATION_ID/,
    );
    expect(() => new VonageCallControl({ applicationId: "a", env: {} })).toThrow(/no private key/);
    expect(() => new VonageCallControl({ applicationId: "a", privateKey: "not a key", env: {} })).toThrow(
      /the privateKey option is not a PEM private key/,
    );
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({
      type: "pkcs8",
      format: "pem",
    });
    expect(() => new VonageCallControl({ applicationId: "a", privateKey: ec.toString(), env: {} })).toThrow(
      /is a ec private key; Vonage signs with the application's RSA private key/,
    );
    expect(() => control("ftp://example.com")).toThrow(/must be an http\(s\) URL/);
    expect(() => control("http://127.0.0.1:1", { timeoutMs: 0 })).toThrow(
      /timeoutMs must be a number of ms > 0/,
    );
  });

  it("reads the application id, the key (a PEM or a file's path) and the base URL from the environment", async () => {
    const api = await voiceApi([{ status: 204 }]);
    const dir = mkdtempSync(join(tmpdir(), "vonage-key-"));
    const path = join(dir, "private.key");
    writeFileSync(path, keys.pem);
    for (const key of [path, keys.pem, keys.pem.replace(/\n/g, "\\n")]) {
      const vonage = new VonageCallControl({
        env: { VONAGE_APPLICATION_ID: APPLICATION_ID, VONAGE_PRIVATE_KEY: key, VONAGE_BASE_URL: api.baseUrl },
        now: () => NOW_MS,
      });
      expect(vonage.baseUrl).toBe(api.baseUrl);
      await vonage.hangUp(CALL);
    }
    expect(api.seen).toHaveLength(3);
    for (const seen of api.seen) checkRequest(seen, { action: "hangup" });
  });
});
