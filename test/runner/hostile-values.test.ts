/**
 * The development server's HTTP routes with hostile input (test/support/hostile-json.ts): every
 * field of a webhook's JSON body replaced by each hostile value, the same as a form and in
 * Vonage's query, and `/start` with hostile bodies and headers, over HTTP on loopback. Every
 * request gets an answer that is not a 500, and the server keeps answering.
 */
import { generateKeyPairSync } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { type DevServer, startDevServer } from "../../src/runner/dev-server.js";
import { HOSTILE_JSON, hostileVariants } from "../support/hostile-json.js";
import { memoryLogger } from "../support/logger.js";
import { type Reply, postStart, request as send } from "./http.js";

/** {@link send}, naming the request when it fails. */
async function request(url: string, options: Parameters<typeof send>[1] = {}): Promise<Reply> {
  try {
    return await send(url, options);
  } catch (error) {
    throw new Error(
      `${options.method ?? "GET"} ${url.slice(0, 120)} (${options.body?.length ?? 0} bytes): ${String(error)}`,
      { cause: error },
    );
  }
}

const servers: DevServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close({ graceMs: 0, cancelTimeoutMs: 500 })));
});

/** The fields a provider's answer webhook carries (Twilio's names; Vonage's lower-case ones too). */
const WEBHOOK = {
  CallSid: "CA01",
  AccountSid: "AC01",
  From: "+15550100001",
  To: "+15550100002",
  uuid: "63f61863-4a51-4f6b-86e1-46edebcf9356",
  conversation_uuid: "CON-f972836a-550f-45fa-956c-12a2ab5b7d22",
  from: "15550100001",
  to: "15550100002",
};

const ROUTES = [
  ["POST", "/telephony/twilio"],
  ["POST", "/telephony/telnyx"],
  ["POST", "/telephony/plivo"],
  ["POST", "/telephony/vonage/answer"],
] as const;

describe("the development server with hostile input", () => {
  it("answers every webhook whose JSON, form or query fields are hostile, and /start with hostile bodies", async () => {
    const { logger, lines } = memoryLogger();
    const server = await startDevServer({ port: 0, logger, onSession: () => undefined });
    servers.push(server);
    const base = `http://127.0.0.1:${server.port}`;
    const statuses = new Map<number, number>();
    const count = (status: number): void => void statuses.set(status, (statuses.get(status) ?? 0) + 1);
    const variants = hostileVariants(WEBHOOK);
    for (const [method, path] of ROUTES) {
      for (const variant of variants) {
        const json = await request(`${base}${path}`, {
          method,
          headers: { "Content-Type": "application/json" },
          body: variant.text,
        });
        count(json.status);
        expect(json.status, `${path} JSON ${variant.what}`).toBeLessThan(500);
      }
      // A form: each field's value replaced by each hostile value's text, and a __proto__ field.
      for (const field of [...Object.keys(WEBHOOK), "__proto__"]) {
        for (const { name, json } of HOSTILE_JSON) {
          const form = new URLSearchParams(Object.entries(WEBHOOK));
          form.set(field, json);
          const posted = await request(`${base}${path}`, {
            method,
            headers: { "Content-Type": "application/x-www-form-urlencoded" },
            body: form.toString(),
          });
          count(posted.status);
          expect(posted.status, `${path} form ${field} = ${name}`).toBeLessThan(500);
        }
      }
    }
    for (const { name, json } of HOSTILE_JSON) {
      // A request line past Node's header limit (16 KiB) is refused by Node before any route runs.
      if (json.length > 1000) continue;
      const query = new URLSearchParams({ uuid: json, from: json, to: json, __proto__: json } as Record<
        string,
        string
      >);
      const got = await request(`${base}/telephony/vonage/answer?${query.toString()}`);
      count(got.status);
      expect(got.status, `Vonage query ${name}`).toBeLessThan(500);
    }
    for (const { name, json } of HOSTILE_JSON) {
      for (const headers of <Record<string, string>[]>[
        { "Content-Type": "application/json" },
        { "Content-Type": "application/json", "Content-Length": String(Buffer.byteLength(json)) },
      ]) {
        const start = await request(`${base}/start`, { method: "POST", headers, body: json });
        count(start.status);
        expect(start.status, `/start ${name}`).toBe(200);
      }
    }
    // Still answering as before.
    expect((await postStart(base)).status).toBe(200);
    expect(statuses.get(500) ?? 0).toBe(0);
    expect(lines.filter((l) => l.level === "error").map((l) => l.message)).toEqual([]);
  });

  it("refuses, never fails, webhooks whose signature headers are hostile when secrets are set", async () => {
    const { publicKey } = generateKeyPairSync("ed25519");
    const key = publicKey.export({ format: "der", type: "spki" }).subarray(-32).toString("base64");
    const { logger, lines } = memoryLogger();
    const server = await startDevServer({
      port: 0,
      logger,
      onSession: () => undefined,
      telephony: {
        twilio: { authToken: "tw-secret" },
        plivo: { authToken: "pl-secret" },
        telnyx: { publicKey: key },
      },
    });
    servers.push(server);
    const base = `http://127.0.0.1:${server.port}`;
    const body = new URLSearchParams(Object.entries(WEBHOOK)).toString();
    for (const { name, json } of HOSTILE_JSON) {
      if (json.length > 1000) continue; // past Node's header limit: refused before any route
      const headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": json,
        "X-Plivo-Signature-V3": json,
        "X-Plivo-Signature-V3-Nonce": json,
        "Telnyx-Signature-Ed25519": json,
        "Telnyx-Timestamp": json,
      };
      for (const [, path] of ROUTES.slice(0, 3)) {
        const reply = await request(`${base}${path}`, { method: "POST", headers, body });
        expect([401, 403], `${path} signature ${name}`).toContain(reply.status);
      }
    }
    expect(lines.filter((l) => l.level === "error").map((l) => l.message)).toEqual([]);
  });
});
