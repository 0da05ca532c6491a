/**
 * Attacks on the signature checks' time bound (docs/design/telephony.md): a tolerance or a
 * clock reading that is not a number must never turn the replay check off.
 */
import { createHmac, createHash, generateKeyPairSync, sign } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidOptionError } from "../../src/index.js";
import { checkTelnyxSignature, checkVonageSignature } from "../../src/telephony/index.js";

const SECRET = "vonage-signature-secret";
const URL_ = "https://bot.example.com/vonage/answer?from=123&to=456";
const NOW_MS = 1_767_000_000_000;
const DAY_S = 86_400;

function vonageToken(claims: Record<string, unknown>): string {
  const part = (o: unknown): string => Buffer.from(JSON.stringify(o), "utf8").toString("base64url");
  const head = `${part({ alg: "HS256", typ: "JWT" })}.${part(claims)}`;
  return `${head}.${createHmac("sha256", SECRET).update(head).digest("base64url")}`;
}

const queryHash = createHash("sha256")
  .update(JSON.stringify({ from: "123", to: "456" }))
  .digest("hex");

function vonage(iatS: number, extra: { toleranceMs?: number; nowMs?: number } = {}) {
  return checkVonageSignature({
    signatureSecret: SECRET,
    authorization: `Bearer ${vonageToken({ iat: iatS, payload_hash: queryHash })}`,
    method: "GET",
    url: URL_,
    body: "",
    nowMs: extra.nowMs ?? NOW_MS,
    ...(extra.toleranceMs === undefined ? {} : { toleranceMs: extra.toleranceMs }),
  });
}

const telnyxKeys = generateKeyPairSync("ed25519");
function telnyx(timestampS: number, extra: { toleranceMs?: number; nowMs?: number } = {}) {
  const body = '{"data":{}}';
  const timestamp = String(timestampS);
  const signature = sign(null, Buffer.from(`${timestamp}|${body}`), telnyxKeys.privateKey).toString("base64");
  return checkTelnyxSignature({
    publicKey: telnyxKeys.publicKey,
    signature,
    timestamp,
    body,
    nowMs: extra.nowMs ?? NOW_MS,
    ...(extra.toleranceMs === undefined ? {} : { toleranceMs: extra.toleranceMs }),
  });
}

describe("signature checks: the replay bound cannot be switched off by a non-number", () => {
  it("the control: a day-old, correctly signed request is refused as stale; a fresh one passes", () => {
    expect(vonage(NOW_MS / 1000 - DAY_S)).toMatchObject({ valid: false, reason: "stale" });
    expect(vonage(NOW_MS / 1000)).toEqual({ valid: true });
    expect(telnyx(NOW_MS / 1000 - DAY_S)).toMatchObject({ valid: false, reason: "stale" });
    expect(telnyx(NOW_MS / 1000)).toEqual({ valid: true });
  });

  it("a tolerance that is not a number of ms ≥ 0 is refused with a sentence naming it", () => {
    for (const toleranceMs of [Number.NaN, -1, -Infinity]) {
      expect(() => vonage(NOW_MS / 1000, { toleranceMs })).toThrow(InvalidOptionError);
      expect(() => vonage(NOW_MS / 1000, { toleranceMs })).toThrow(/toleranceMs/);
      expect(() => telnyx(NOW_MS / 1000, { toleranceMs })).toThrow(/toleranceMs/);
    }
  });

  it("a tolerance or a clock reading that is an object with no usable toString is refused in words, not with a TypeError", () => {
    const hostile = { toString: "" } as unknown as number;
    for (const check of [vonage, telnyx]) {
      expect(() => check(NOW_MS / 1000, { toleranceMs: hostile })).toThrow(InvalidOptionError);
      expect(() => check(NOW_MS / 1000, { toleranceMs: hostile })).toThrow(/toleranceMs must be a number/);
      expect(() => check(NOW_MS / 1000, { nowMs: hostile })).toThrow(InvalidOptionError);
      expect(() => check(NOW_MS / 1000, { nowMs: hostile })).toThrow(/nowMs must be the Unix time/);
    }
  });

  it("a clock reading that is not a time is refused with a sentence naming it (never accepts a stale request)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(Number.NaN, Infinity, -Infinity),
        fc.integer({ min: 0, max: 3_000_000_000 }),
        (nowMs, iatS) => {
          expect(() => vonage(iatS, { nowMs })).toThrow(/nowMs/);
          expect(() => telnyx(iatS, { nowMs })).toThrow(/nowMs/);
        },
      ),
    );
  });

  it("at the edges of the bound: exactly toleranceMs either way passes, one ms more is stale", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 600 }), fc.boolean(), (toleranceS, ahead) => {
        const toleranceMs = toleranceS * 1000;
        const edge = NOW_MS / 1000 + (ahead ? toleranceS : -toleranceS);
        expect(vonage(edge, { toleranceMs }).valid).toBe(true);
        expect(telnyx(edge, { toleranceMs }).valid).toBe(true);
        expect(vonage(edge, { toleranceMs, nowMs: NOW_MS + (ahead ? -1 : 1) }).valid).toBe(false);
        expect(telnyx(edge, { toleranceMs, nowMs: NOW_MS + (ahead ? -1 : 1) }).valid).toBe(false);
      }),
    );
  });
});

describe("Vonage tokens with hostile JSON", () => {
  const claims = { iat: NOW_MS / 1000, payload_hash: queryHash, jti: "x", application_id: "app" };
  const header = { alg: "HS256", typ: "JWT" };
  const b64 = (text: string): string => Buffer.from(text, "utf8").toString("base64url");
  const check = (head: string, body: string, secret: string) => {
    const signed = `${b64(head)}.${b64(body)}`;
    return checkVonageSignature({
      signatureSecret: SECRET,
      authorization: `Bearer ${signed}.${createHmac("sha256", secret).update(signed).digest("base64url")}`,
      method: "GET",
      url: URL_,
      body: "",
      nowMs: NOW_MS,
    });
  };

  it("any field of the header or claims replaced by a hostile value: never throws; accepted only when signed and every checked field is intact", async () => {
    const { hostileVariants } = await import("../support/hostile-json.js");
    const base = JSON.stringify(claims);
    for (const v of hostileVariants(claims)) {
      const wrongKey = check(JSON.stringify(header), v.text, "not the secret");
      expect(wrongKey.valid, v.what).toBe(false);
      const signed = check(JSON.stringify(header), v.text, SECRET);
      const parsed = JSON.parse(v.text) as Record<string, unknown>;
      const intact = parsed["iat"] === claims.iat && parsed["payload_hash"] === claims.payload_hash;
      if (!intact) expect(signed.valid, v.what).toBe(false);
    }
    for (const v of hostileVariants(header)) {
      expect(check(v.text, base, "not the secret").valid, v.what).toBe(false);
      const signed = check(v.text, base, SECRET);
      if ((JSON.parse(v.text) as Record<string, unknown>)["alg"] !== "HS256")
        expect(signed.valid, v.what).toBe(false);
    }
  });

  it("any Authorization header text: never throws, never accepted unsigned", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 200 }), fc.string({ minLength: 4000, maxLength: 9000 })),
        (text) => {
          const result = checkVonageSignature({
            signatureSecret: SECRET,
            authorization: text,
            method: "POST",
            url: URL_,
            body: text,
            nowMs: NOW_MS,
          });
          expect(result.valid).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });
});
