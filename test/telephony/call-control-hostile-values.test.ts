/**
 * Each provider's call control (hang up, transfer) against a loopback REST server whose error
 * answers have every field replaced by each hostile value (test/support/hostile-json.ts), at
 * statuses that mean "refused", "gone" and "failed". Every call settles: it resolves, or it
 * rejects with a CallControlError that says what happened in words, never a TypeError or a
 * RangeError from reading the body.
 */
import { generateKeyPairSync } from "node:crypto";
import { once } from "node:events";
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { VirtualClock } from "../../src/clock/virtual-clock.js";
import type {
  TelephonyCall,
  TelephonyProvider,
} from "../../src/serializers/telephony/telephony-serializer.js";
import { type CallControl, CallControlError } from "../../src/telephony/call-control.js";
import { PlivoCallControl } from "../../src/telephony/plivo-call-control.js";
import { TelnyxCallControl } from "../../src/telephony/telnyx-call-control.js";
import { TwilioCallControl } from "../../src/telephony/twilio-call-control.js";
import { VonageCallControl } from "../../src/telephony/vonage-call-control.js";
import { hostileVariants } from "../support/hostile-json.js";

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  server?.close();
  if (server) await once(server, "close");
  server = undefined;
});

/** A REST server answering every request with the next of `answers` (then 204). */
async function answering(answers: { status: number; body: string }[]): Promise<string> {
  server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const answer = answers.shift() ?? { status: 204, body: "" };
      res.writeHead(answer.status, { "content-type": "application/json" });
      res.end(answer.body);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const inbound = { encoding: "mulaw", sampleRate: 8000 } as const;
const CALLS: Record<Exclude<TelephonyProvider, "exotel">, TelephonyCall> = {
  twilio: {
    provider: "twilio",
    callId: "CA0123456789abcdef0123456789abcdef",
    streamId: "MZ1",
    customParameters: {},
    inbound,
  },
  telnyx: { provider: "telnyx", callId: "v3:abc", streamId: "s1", customParameters: {}, inbound },
  plivo: {
    provider: "plivo",
    callId: "3a2e4c90-dcee-4931-8a59-f123ab507e60",
    streamId: "s1",
    customParameters: {},
    inbound,
  },
  vonage: {
    provider: "vonage",
    callId: "63f61863-4a51-4f6b-86e1-46edebcf9356",
    streamId: "",
    customParameters: {},
    inbound,
  },
};

/** Each provider's documented error body. */
const ERRORS: Record<keyof typeof CALLS, object> = {
  twilio: {
    code: 20404,
    message: "The requested resource was not found",
    more_info: "https://www.twilio.com/docs/errors/20404",
    status: 404,
  },
  telnyx: {
    errors: [{ code: "90018", title: "Call has already ended", detail: "This call is no longer active." }],
  },
  plivo: { api_id: "c1b2", error: "not found" },
  vonage: {
    type: "https://developer.nexmo.com/api-errors#not-found",
    title: "Not Found",
    detail: "Call not found",
    instance: "x",
  },
};

function control(provider: keyof typeof CALLS, baseUrl: string): CallControl {
  const clock = new VirtualClock();
  switch (provider) {
    case "twilio":
      return new TwilioCallControl({
        accountSid: "AC0123456789abcdef0123456789abcdef",
        authToken: "0123456789abcdef0123456789abcdef",
        baseUrl,
        env: {},
        clock,
      });
    case "telnyx":
      return new TelnyxCallControl({ apiKey: "KEY", baseUrl, env: {}, clock });
    case "plivo":
      return new PlivoCallControl({
        authId: "MA1",
        authToken: "t",
        baseUrl,
        env: {},
        clock,
        transferUrl: (to) => `https://bot.example.com/dial?to=${to}`,
      });
    case "vonage": {
      const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
      const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
      return new VonageCallControl({
        applicationId: "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
        privateKey: pem,
        baseUrl,
        env: {},
        clock,
      });
    }
  }
}

const garbled = /Cannot convert|call stack|is not (a function|iterable)|\[object Object\]|Cannot read prop/;

describe("call controls read hostile error answers without throwing", () => {
  for (const provider of Object.keys(CALLS) as (keyof typeof CALLS)[]) {
    it(`${provider}: every field of its error body, replaced by each hostile value`, async () => {
      const bodies = hostileVariants(ERRORS[provider]).map((v) => v.text);
      const answers = bodies.flatMap((body) => [400, 404, 500].map((status) => ({ status, body })));
      const total = answers.length;
      const c = control(provider, await answering(answers));
      const transfer = c.transfer?.bind(c);
      if (!transfer) throw new Error(`${provider} has no transfer`);
      let settled = 0;
      while (answers.length > 0) {
        for (const act of [
          () => c.hangUp(CALLS[provider]),
          () => transfer(CALLS[provider], "+15550100003"),
        ]) {
          if (answers.length === 0) break;
          const outcome = await act().then(
            () => undefined,
            (e: unknown) => e,
          );
          settled++;
          if (outcome === undefined) continue;
          expect(outcome).toBeInstanceOf(CallControlError);
          expect((outcome as Error).message).not.toMatch(garbled);
        }
      }
      expect(total).toBeGreaterThan(60);
      expect(settled).toBeGreaterThan(total / 3);
    });
  }
});
