import { createHash, createHmac, generateKeyPairSync, sign } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  checkPlivoSignature,
  checkTelnyxSignature,
  checkTwilioSignature,
  checkVonageSignature,
  telnyxPublicKey,
} from "../../src/telephony/webhook-signatures.js";

// Each expected signature below is computed in the test from a string written out by hand,
// following the provider's published description of the scheme, not by the code under test.
const hmac = (algorithm: "sha1" | "sha256", key: string, text: string): string =>
  createHmac(algorithm, key).update(text, "utf8").digest("base64");

describe("Twilio X-Twilio-Signature", () => {
  it("accepts the example from Twilio's documentation", () => {
    const check = checkTwilioSignature({
      authToken: "12345",
      url: "https://mycompany.com/myapp.php?foo=1&bar=2",
      params: [
        ["CallSid", "CA1234567890ABCDE"],
        ["Caller", "+14158675309"],
        ["Digits", "1234"],
        ["From", "+14158675309"],
        ["To", "+18005551212"],
      ],
      signature: "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
    });
    expect(check).toStrictEqual({ valid: true });
  });

  const url = "https://abc.ngrok.app/telephony/twilio?token=t";
  const params: [string, string][] = [
    ["To", "+15550100002"],
    ["From", "+15550100001"],
    ["CallSid", "CA01"],
  ];
  // URL, then the parameters sorted by name, each name then value, no separators.
  const signed = hmac("sha1", "tok", `${url}CallSidCA01From+15550100001To+15550100002`);

  it("accepts a signature over the URL and the sorted parameters, whatever their order", () => {
    expect(checkTwilioSignature({ authToken: "tok", url, params, signature: signed }).valid).toBe(true);
    expect(
      checkTwilioSignature({ authToken: "tok", url, params: [...params].reverse(), signature: signed }).valid,
    ).toBe(true);
  });

  it("accepts the URL signed with the scheme's default port, as Twilio's libraries do", () => {
    const withPort = hmac("sha1", "tok", "https://abc.ngrok.app:443/telephony/twilioCallSidCA01");
    const check = checkTwilioSignature({
      authToken: "tok",
      url: "https://abc.ngrok.app/telephony/twilio",
      params: [["CallSid", "CA01"]],
      signature: withPort,
    });
    expect(check.valid).toBe(true);
  });

  it("refuses a wrong token, a changed parameter, another URL and a missing header, saying which", () => {
    const wrongToken = checkTwilioSignature({ authToken: "other", url, params, signature: signed });
    expect(wrongToken).toMatchObject({ valid: false, reason: "mismatch" });
    expect(wrongToken.valid || wrongToken.detail).toMatch(/Auth Token/);
    const changed = checkTwilioSignature({
      authToken: "tok",
      url,
      params: [...params.slice(1), ["To", "+15550100009"]],
      signature: signed,
    });
    expect(changed.valid).toBe(false);
    const otherUrl = checkTwilioSignature({
      authToken: "tok",
      url: "http://abc.ngrok.app/telephony/twilio?token=t",
      params,
      signature: signed,
    });
    expect(otherUrl.valid).toBe(false);
    expect(checkTwilioSignature({ authToken: "tok", url, params, signature: undefined })).toMatchObject({
      valid: false,
      reason: "missing",
    });
  });
});

describe("Plivo X-Plivo-Signature-V3", () => {
  const nonce = "05429567804466091622";
  const post: [string, string][] = [
    ["To", "15550100002"],
    ["From", "15550100001"],
    ["CallUUID", "c1"],
  ];

  it("accepts a POST with no query: base URL, '?', the sorted parameters, '.', the nonce", () => {
    const url = "https://abc.ngrok.app/telephony/plivo";
    const signature = hmac(
      "sha256",
      "ptok",
      `https://abc.ngrok.app/telephony/plivo?CallUUIDc1From15550100001To15550100002.${nonce}`,
    );
    expect(
      checkPlivoSignature({ authToken: "ptok", method: "POST", url, params: post, nonce, signature }),
    ).toStrictEqual({
      valid: true,
    });
  });

  it("accepts a POST with a query: the sorted query, '.', the parameters, '.', the nonce", () => {
    const url = "https://abc.ngrok.app:8443/telephony/plivo?z=2&a=1&a=0";
    const signature = hmac(
      "sha256",
      "ptok",
      `https://abc.ngrok.app:8443/telephony/plivo?a=0&a=1&z=2.CallUUIDc1From15550100001To15550100002.${nonce}`,
    );
    expect(
      checkPlivoSignature({ authToken: "ptok", method: "POST", url, params: post, nonce, signature }).valid,
    ).toBe(true);
  });

  it("accepts a GET (the query only) and a header holding several signatures", () => {
    const url = "https://abc.ngrok.app/telephony/plivo?To=2&From=1";
    const good = hmac("sha256", "ptok", `https://abc.ngrok.app/telephony/plivo?From=1&To=2.${nonce}`);
    const signature = `${hmac("sha256", "old-token", "x")},${good}`;
    expect(
      checkPlivoSignature({ authToken: "ptok", method: "GET", url, params: [], nonce, signature }).valid,
    ).toBe(true);
  });

  it("refuses a wrong token, another nonce, a changed parameter and missing headers", () => {
    const url = "https://abc.ngrok.app/telephony/plivo";
    const signature = hmac("sha256", "ptok", `${url}?CallUUIDc1From15550100001To15550100002.${nonce}`);
    const base = { method: "POST" as const, url, params: post, nonce, signature };
    expect(checkPlivoSignature({ ...base, authToken: "nope" })).toMatchObject({
      valid: false,
      reason: "mismatch",
    });
    expect(checkPlivoSignature({ ...base, authToken: "ptok", nonce: "1" }).valid).toBe(false);
    expect(checkPlivoSignature({ ...base, authToken: "ptok", params: [...post, ["Extra", "1"]] }).valid).toBe(
      false,
    );
    expect(checkPlivoSignature({ ...base, authToken: "ptok", nonce: undefined })).toMatchObject({
      valid: false,
      reason: "missing",
    });
  });
});

describe("Telnyx telnyx-signature-ed25519", () => {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  // Telnyx shows the key as base64 of its 32 raw bytes: the last 32 of the SPKI encoding.
  const shown = publicKey.export({ format: "der", type: "spki" }).subarray(-32).toString("base64");
  const key = telnyxPublicKey(shown);
  const body = '{"data":{"event_type":"call.initiated"}}';
  const nowMs = 1_760_000_000_000;
  const timestamp = String(nowMs / 1000);
  const signature = sign(null, Buffer.from(`${timestamp}|${body}`), privateKey).toString("base64");

  it("accepts a signature over '<timestamp>|<body>' made with the account's key", () => {
    expect(checkTelnyxSignature({ publicKey: key, signature, timestamp, body, nowMs })).toStrictEqual({
      valid: true,
    });
    expect(
      checkTelnyxSignature({
        publicKey: key,
        signature,
        timestamp,
        body: Buffer.from(body),
        nowMs: nowMs + 299_000,
      }).valid,
    ).toBe(true);
  });

  it("refuses a stale or future timestamp even when signed, a changed body, another key, missing headers", () => {
    expect(
      checkTelnyxSignature({ publicKey: key, signature, timestamp, body, nowMs: nowMs + 301_000 }),
    ).toMatchObject({
      valid: false,
      reason: "stale",
    });
    expect(
      checkTelnyxSignature({ publicKey: key, signature, timestamp, body, nowMs: nowMs - 301_000 }),
    ).toMatchObject({
      valid: false,
      reason: "stale",
    });
    expect(
      checkTelnyxSignature({ publicKey: key, signature, timestamp, body: `${body} `, nowMs }),
    ).toMatchObject({
      valid: false,
      reason: "mismatch",
    });
    const other = telnyxPublicKey(
      generateKeyPairSync("ed25519")
        .publicKey.export({ format: "der", type: "spki" })
        .subarray(-32)
        .toString("base64"),
    );
    expect(checkTelnyxSignature({ publicKey: other, signature, timestamp, body, nowMs }).valid).toBe(false);
    expect(checkTelnyxSignature({ publicKey: key, signature: "AAAA", timestamp, body, nowMs }).valid).toBe(
      false,
    );
    expect(
      checkTelnyxSignature({ publicKey: key, signature, timestamp: undefined, body, nowMs }),
    ).toMatchObject({
      reason: "missing",
    });
  });

  it("takes the key as base64 of 32 bytes or as PEM, and refuses anything else with the setting's name", () => {
    const pem = publicKey.export({ format: "pem", type: "spki" }).toString();
    expect(
      checkTelnyxSignature({ publicKey: telnyxPublicKey(pem), signature, timestamp, body, nowMs }).valid,
    ).toBe(true);
    for (const bad of [
      "",
      "not base64!",
      Buffer.alloc(31).toString("base64"),
      "-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----",
    ])
      expect(() => telnyxPublicKey(bad)).toThrow(/telephony\.telnyx\.publicKey \(TELNYX_PUBLIC_KEY\)/);
  });
});

describe("Vonage signed webhooks (Authorization: Bearer JWT, HS256)", () => {
  const secret = "vonage-signature-secret";
  const nowMs = 1_760_000_000_000;
  const iat = nowMs / 1000;
  const url =
    "https://abc.ngrok.app/telephony/vonage/answer?to=447700900001&from=447700900000&uuid=u-1&conversation_uuid=CON-1";
  // Vonage's payload for a GET: the query's parameters as a JSON object, in order, no whitespace.
  const query = '{"to":"447700900001","from":"447700900000","uuid":"u-1","conversation_uuid":"CON-1"}';
  const sha256 = (text: string): string => createHash("sha256").update(text, "utf8").digest("hex");
  const b64url = (text: string): string => Buffer.from(text, "utf8").toString("base64url");
  /** A JWT written out by hand: header, claims, HMAC-SHA256 of `header.claims` with `key`. */
  const jwt = (claims: string, options: { key?: string; header?: string } = {}): string => {
    const signed = `${b64url(options.header ?? '{"alg":"HS256","typ":"JWT"}')}.${b64url(claims)}`;
    return `${signed}.${createHmac("sha256", options.key ?? secret)
      .update(signed)
      .digest("base64url")}`;
  };
  const claimsFor = (payload: string, issuedAt = iat, extra = ""): string =>
    `{"iat":${issuedAt},"jti":"c5ba8f24-1a14-4c10-bfdf-3fbe8ce511b5","iss":"Vonage","payload_hash":"${sha256(payload)}","api_key":"a1b2c3d","application_id":"aaaaaaaa-bbbb-cccc-dddd-0123456789ab"${extra}}`;
  const get = (authorization: string | undefined, at = nowMs, where = url) =>
    checkVonageSignature({
      signatureSecret: secret,
      authorization,
      method: "GET",
      url: where,
      body: "",
      nowMs: at,
    });

  it("accepts a GET whose token hashes its query, and a POST whose token hashes its JSON body", () => {
    expect(get(`Bearer ${jwt(claimsFor(query))}`)).toStrictEqual({ valid: true });
    expect(get(`bearer  ${jwt(claimsFor(query))}`).valid).toBe(true); // the scheme is case-insensitive
    const body = '{"from":"447700900000","to":"447700900001","uuid":"u-1","conversation_uuid":"CON-1"}';
    const post = (sent: string, hashed: string) =>
      checkVonageSignature({
        signatureSecret: secret,
        authorization: `Bearer ${jwt(claimsFor(hashed))}`,
        method: "POST",
        url: "https://abc.ngrok.app/telephony/vonage/answer",
        body: Buffer.from(sent),
        nowMs,
      });
    expect(post(body, body).valid).toBe(true);
    // The same object sent with whitespace: Vonage hashes the compact JSON.
    expect(post(JSON.stringify(JSON.parse(body), null, 2), body).valid).toBe(true);
    expect(post(body.replace("u-1", "u-2"), body)).toMatchObject({ valid: false, reason: "mismatch" });
  });

  it("refuses another secret, another algorithm, a changed query, a token that is not a JWT, saying why", () => {
    const wrong = get(`Bearer ${jwt(claimsFor(query), { key: "other" })}`);
    expect(wrong).toMatchObject({ valid: false, reason: "mismatch" });
    expect(wrong.valid || wrong.detail).toMatch(/signature secret/);
    // HS512 (or "none") is refused even when the token is "signed": only HS256 is checked.
    const otherAlg = get(`Bearer ${jwt(claimsFor(query), { header: '{"alg":"HS512","typ":"JWT"}' })}`);
    expect(otherAlg.valid || otherAlg.detail).toMatch(
      /signed with "HS512"; Vonage signs webhooks with HS256/,
    );
    const none = `${b64url('{"alg":"none"}')}.${b64url(claimsFor(query))}.`;
    expect(get(`Bearer ${none}`)).toMatchObject({ valid: false, reason: "mismatch" });
    const changed = get(`Bearer ${jwt(claimsFor(query))}`, nowMs, url.replace("u-1", "u-2"));
    expect(changed.valid || changed.detail).toMatch(
      /payload_hash is not the SHA-256 of this request's query/,
    );
    const noHash = get(`Bearer ${jwt(`{"iat":${iat}}`)}`);
    expect(noHash).toMatchObject({ valid: false, reason: "mismatch" });
    for (const bad of [
      "Bearer a.b",
      "Bearer !!.??.xx",
      `Bearer ${"a".repeat(5000)}.b.c`,
      `Bearer ${b64url("[]")}.${b64url("{}")}.x`,
    ])
      expect(get(bad)).toMatchObject({ valid: false, reason: "mismatch" });
  });

  it("refuses a token issued more than 5 minutes from now either way, or expired, as stale", () => {
    const token = `Bearer ${jwt(claimsFor(query))}`;
    expect(get(token, nowMs + 299_000).valid).toBe(true);
    const old = get(token, nowMs + 301_000);
    expect(old).toMatchObject({ valid: false, reason: "stale" });
    expect(old.valid || old.detail).toMatch(/issued 301 s ago \(more than 300 s\)/);
    expect(get(token, nowMs - 301_000)).toMatchObject({ valid: false, reason: "stale" });
    const expired = get(`Bearer ${jwt(claimsFor(query, iat, `,"exp":${iat - 1}`))}`);
    expect(expired.valid || expired.detail).toMatch(/has expired/);
  });

  it("says a missing or non-Bearer Authorization header is missing", () => {
    for (const header of [undefined, "", "Basic dXNlcjpwYXNz", "Bearer"])
      expect(get(header)).toMatchObject({ valid: false, reason: "missing" });
  });

  it("never throws, whatever the header, and accepts nothing not signed with the secret", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 600 }), fc.string({ maxLength: 200 }), (header, claims) => {
        expect(get(header).valid).toBe(false);
        expect(get(`Bearer ${b64url('{"alg":"HS256"}')}.${b64url(claims)}.${b64url(header)}`).valid).toBe(
          false,
        );
      }),
      { numRuns: 500 },
    );
  });
});
