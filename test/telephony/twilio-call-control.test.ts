import { performance } from "node:perf_hooks";
import { afterEach, describe, expect, it } from "vitest";
import { InvalidOptionError, SystemClock } from "../../src/index.js";
import type { TelephonyCall } from "../../src/serializers/telephony/telephony-serializer.js";
import { CallControlError } from "../../src/telephony/call-control.js";
import { TwilioCallControl, dialTwiml } from "../../src/telephony/twilio-call-control.js";
import {
  ACCOUNT_SID,
  AUTH_TOKEN,
  CALL_SID,
  STREAM_SID,
  type TwilioRest,
  startTwilioRest,
} from "../support/twilio-fake.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function rest(): Promise<TwilioRest> {
  const server = await startTwilioRest();
  cleanups.push(() => server.close());
  return server;
}

function twilioCall(callId = CALL_SID): TelephonyCall {
  return {
    provider: "twilio",
    callId,
    streamId: STREAM_SID,
    customParameters: {},
    inbound: { encoding: "mulaw", sampleRate: 8000 },
  };
}

function control(server: TwilioRest, options: { timeoutMs?: number } = {}): TwilioCallControl {
  return new TwilioCallControl({
    accountSid: ACCOUNT_SID,
    authToken: AUTH_TOKEN,
    baseUrl: server.baseUrl,
    env: {},
    ...options,
  });
}

const PATH = `/2010-04-01/Accounts/${ACCOUNT_SID}/Calls/${CALL_SID}.json`;
const AUTH = `Basic ${Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString("base64")}`;

async function refusal(promise: Promise<unknown>): Promise<CallControlError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CallControlError);
  return error as CallControlError;
}

describe("TwilioCallControl.hangUp", () => {
  it("posts Status=completed to the call's resource with Basic auth and a form body", async () => {
    const server = await rest();
    await control(server).hangUp(twilioCall());
    expect(server.requests).toEqual([
      {
        method: "POST",
        path: PATH,
        authorization: AUTH,
        contentType: "application/x-www-form-urlencoded",
        body: "Status=completed",
        form: { Status: "completed" },
      },
    ]);
    expect(server.liveCalls.has(CALL_SID)).toBe(false);
  });

  it("counts a call Twilio no longer has (404, code 20404) as hung up", async () => {
    const server = await rest();
    const twilio = control(server);
    await twilio.hangUp(twilioCall());
    await twilio.hangUp(twilioCall()); // the fake answers 20404 now, as Twilio does
    expect(server.requests).toHaveLength(2);
  });

  it("counts a call no longer in progress (400, code 21220) as hung up", async () => {
    const server = await rest();
    server.next.push({
      kind: "status",
      status: 400,
      body: { code: 21220, message: "Call is not in-progress", status: 400 },
    });
    await control(server).hangUp(twilioCall());
  });

  it("refuses a 404 without Twilio's code: the baseUrl is not Twilio's API", async () => {
    const server = await rest();
    server.behaviour = { kind: "status", status: 404, body: "<html>Not Found</html>" };
    const error = await refusal(control(server).hangUp(twilioCall()));
    expect(error.status).toBe(404);
    expect(error.message).toMatch(/HTTP 404/);
    expect(error.message).toMatch(/baseUrl/);
  });

  it("refuses rejected credentials in words, naming the variables, and does not retry a 4xx", async () => {
    const server = await rest();
    const twilio = new TwilioCallControl({
      accountSid: ACCOUNT_SID,
      authToken: "f".repeat(32),
      baseUrl: server.baseUrl,
      env: {},
    });
    const error = await refusal(twilio.hangUp(twilioCall()));
    expect(error.code).toBe("VP_CALL_CONTROL");
    expect(error.provider).toBe("twilio");
    expect(error.status).toBe(401);
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(
      /twilio: hanging up call CA0+1 was refused: HTTP 401 \("Authenticate", Twilio error 20003\)/,
    );
    expect(error.message).toMatch(/TWILIO_AUTH_TOKEN/);
    expect(error.message).not.toContain("f".repeat(32));
    expect(server.requests).toHaveLength(1);
  });

  it("sends a hang-up once more after a 5xx, within the same deadline", async () => {
    const server = await rest();
    server.next.push({ kind: "status", status: 503, body: { code: 20500, message: "Service unavailable" } });
    await control(server).hangUp(twilioCall());
    expect(server.requests).toHaveLength(2);

    server.liveCalls.add(CALL_SID);
    server.behaviour = {
      kind: "status",
      status: 500,
      body: { code: 20500, message: "Internal Server Error" },
    };
    const error = await refusal(control(server).hangUp(twilioCall()));
    expect(error.status).toBe(500);
    expect(error.retryable).toBe(true);
    expect(server.requests).toHaveLength(4); // two tries, not more
  });

  it("gives up at timeoutMs when Twilio never answers", async () => {
    const server = await rest();
    server.behaviour = { kind: "hang" };
    const started = performance.now();
    const error = await refusal(control(server, { timeoutMs: 200 }).hangUp(twilioCall()));
    const tookMs = performance.now() - started;
    expect(error.status).toBeUndefined();
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(/no answer from http:\/\/127\.0\.0\.1:\d+ within 200 ms \(timeoutMs\)/);
    expect(tookMs).toBeGreaterThanOrEqual(190);
    expect(tookMs).toBeLessThan(2000); // slack for a loaded machine; the default would be 5000
  });

  it("says it could not reach the API when nothing listens", async () => {
    const server = await rest();
    const twilio = control(server);
    await server.close();
    const error = await refusal(twilio.hangUp(twilioCall()));
    expect(error.status).toBeUndefined();
    expect(error.message).toMatch(/could not reach http:\/\/127\.0\.0\.1:\d+.*ECONNREFUSED.*baseUrl/);
  });

  it("refuses a call that is not Twilio's, or an id that is not a CallSid, without a request", async () => {
    const server = await rest();
    const twilio = control(server);
    const plivo = { ...twilioCall(), provider: "plivo" as const };
    expect((await refusal(twilio.hangUp(plivo))).message).toMatch(/cannot hang up a plivo call/);
    for (const id of [
      undefined as unknown as string,
      "",
      "CA1",
      `CA${"0".repeat(31)}/../x`,
      `${CALL_SID}?Status=x`,
    ]) {
      expect((await refusal(twilio.hangUp({ ...twilioCall(), callId: id }))).message).toMatch(
        /not a Twilio CallSid/,
      );
    }
    expect(server.requests).toHaveLength(0);
  });
});

describe("TwilioCallControl.transfer", () => {
  it("replaces the call's TwiML with a Dial to the number", async () => {
    const server = await rest();
    await control(server).transfer(twilioCall(), "+1 (555) 123-0000");
    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request!.path).toBe(PATH);
    expect(request!.authorization).toBe(AUTH);
    expect(request!.form).toEqual({ Twiml: "<Response><Dial>+15551230000</Dial></Response>" });
    expect(request!.body).toBe(
      new URLSearchParams({ Twiml: "<Response><Dial>+15551230000</Dial></Response>" }).toString(),
    );
    expect(server.liveCalls.has(CALL_SID)).toBe(true);
  });

  it("dials a SIP URI inside <Sip>, XML-escaped", async () => {
    const server = await rest();
    await control(server).transfer(twilioCall(), "sip:agent@pbx.example.com;transport=tls?X-Ref=a&b=<1>");
    expect(server.requests[0]!.form.Twiml).toBe(
      "<Response><Dial><Sip>sip:agent@pbx.example.com;transport=tls?X-Ref=a&amp;b=&lt;1&gt;</Sip></Dial></Response>",
    );
  });

  it("refuses a target that is neither a number nor a SIP URI, without a request", async () => {
    const server = await rest();
    const twilio = control(server);
    for (const target of [
      "",
      "reception",
      "+1555<Hangup/>",
      "1",
      "+1234567890123456",
      `sip:${"a".repeat(4000)}`,
    ]) {
      const error = await refusal(twilio.transfer(twilioCall(), target));
      expect(error.message).toMatch(/phone number|4000/);
    }
    expect(server.requests).toHaveLength(0);
  });

  it("is not retried after a 5xx (it could ring the target twice)", async () => {
    const server = await rest();
    server.behaviour = { kind: "status", status: 502, body: { code: 20500, message: "Bad gateway" } };
    const error = await refusal(control(server).transfer(twilioCall(), "+15551230000"));
    expect(error.status).toBe(502);
    expect(server.requests).toHaveLength(1);
  });

  it("says the call has ended when Twilio no longer has it", async () => {
    const server = await rest();
    server.liveCalls.clear();
    const error = await refusal(control(server).transfer(twilioCall(), "+15551230000"));
    expect(error.status).toBe(404);
    expect(error.message).toMatch(/the call has ended already/);
  });

  it("writes the TwiML of a number and of a SIP URI", () => {
    expect(dialTwiml("+15551230000")).toBe("<Response><Dial>+15551230000</Dial></Response>");
    expect(dialTwiml("SIP:bob@example.com")).toBe(
      "<Response><Dial><Sip>SIP:bob@example.com</Sip></Dial></Response>",
    );
  });
});

describe("TwilioCallControl construction", () => {
  it("reads the credentials from TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN", () => {
    const twilio = new TwilioCallControl({
      env: { TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_AUTH_TOKEN: AUTH_TOKEN },
    });
    expect(twilio.accountSid).toBe(ACCOUNT_SID);
    expect(twilio.baseUrl).toBe("https://api.twilio.com");
    expect(twilio.timeoutMs).toBe(5000);
  });

  it("refuses missing credentials, naming the variable to set", () => {
    expect(() => new TwilioCallControl({ env: {} })).toThrow(InvalidOptionError);
    expect(() => new TwilioCallControl({ env: { TWILIO_AUTH_TOKEN: AUTH_TOKEN } })).toThrow(
      /no accountSid: set TWILIO_ACCOUNT_SID/,
    );
    expect(
      () => new TwilioCallControl({ env: { TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_AUTH_TOKEN: " " } }),
    ).toThrow(/no authToken: set TWILIO_AUTH_TOKEN/);
  });

  it("refuses malformed credentials without repeating the secret", () => {
    const secret = "not-a-token-but-a-password-123456";
    const make = (accountSid: string, authToken: string) => () =>
      new TwilioCallControl({ accountSid, authToken, env: {} });
    expect(make("SK0123456789abcdef0123456789abcdef", AUTH_TOKEN)).toThrow(
      /the accountSid option is not a Twilio accountSid.*"AC" and 32 hex digits.*TWILIO_ACCOUNT_SID/,
    );
    let message = "";
    try {
      make(ACCOUNT_SID, secret)();
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/authToken option is not a Twilio authToken.*32 hex digits.*TWILIO_AUTH_TOKEN/);
    expect(message).not.toContain(secret);
  });

  it("builds the regional host from edge and region, and refuses one without the other", () => {
    const base = { accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, env: {} };
    expect(new TwilioCallControl({ ...base, edge: "dublin", region: "ie1" }).baseUrl).toBe(
      "https://api.dublin.ie1.twilio.com",
    );
    expect(() => new TwilioCallControl({ ...base, edge: "dublin" })).toThrow(/give both edge and region/);
    expect(() => new TwilioCallControl({ ...base, edge: "x.evil.com/", region: "ie1" })).toThrow(
      /edge must be/,
    );
    expect(
      new TwilioCallControl({ ...base, edge: "dublin", region: "ie1", baseUrl: "http://127.0.0.1:9/" })
        .baseUrl,
    ).toBe("http://127.0.0.1:9");
    expect(() => new TwilioCallControl({ ...base, baseUrl: "ftp://x" })).toThrow(/http\(s\) URL/);
    expect(() => new TwilioCallControl({ ...base, timeoutMs: 0 })).toThrow(
      /timeoutMs must be a number of ms > 0/,
    );
    expect(() => new TwilioCallControl({ ...base, clock: new SystemClock() })).not.toThrow();
  });
});
