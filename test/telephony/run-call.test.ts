/**
 * runCall end to end on loopback: a WebSocket client speaking Twilio's media stream, the call
 * answered and run through the WebSocket transport, and a loopback Twilio REST API that sees
 * (or does not see) the hang-up.
 */
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import {
  InvalidOptionError,
  Pipeline,
  PipelineTask,
  TTSAudioRawFrame,
  TTSStartedFrame,
  TTSStoppedFrame,
} from "../../src/index.js";
import type { DevSession } from "../../src/runner/dev-server-options.js";
import { type CallTransportOptions, answerCall } from "../../src/telephony/answer-call.js";
import type { CallControl } from "../../src/telephony/call-control.js";
import { type CallOutcome, type RunCallOptions, runCall } from "../../src/telephony/run-call.js";
import { TwilioCallControl } from "../../src/telephony/twilio-call-control.js";
import { memoryLogger } from "../support/logger.js";
import {
  ACCOUNT_SID,
  AUTH_TOKEN,
  CALL_SID,
  STREAM_SID,
  type TwilioRest,
  startTwilioRest,
  twilioStream,
} from "../support/twilio-fake.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const HANG_UP_PATH = `/2010-04-01/Accounts/${ACCOUNT_SID}/Calls/${CALL_SID}.json`;

interface CallRun {
  /** The Twilio side of the media socket. */
  readonly twilio: WebSocket;
  /** Every JSON message the bot sent to "Twilio". */
  readonly received: Array<Record<string, unknown>>;
  readonly closed: Promise<unknown>;
  readonly result: Promise<CallOutcome>;
  /** The pipeline runs with the call connected. */
  readonly ready: Promise<PipelineTask>;
  readonly session: { closing: AbortController; cancelled: AbortController };
  readonly lines: ReturnType<typeof memoryLogger>["lines"];
  /** The bot says a short tone, then ends the call. */
  endByBot(): void;
  /** When the task finished, in performance.now() ms. */
  finishedAt(): number | undefined;
}

/** A call: Twilio connects, starts the stream and sends 10 media packets; the bot runs until told. */
async function startCall(options: RunCallOptions, transportOptions?: CallTransportOptions): Promise<CallRun> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await once(wss, "listening");
  cleanups.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
  const { port } = wss.address() as AddressInfo;
  const { logger, lines } = memoryLogger();
  const session = { closing: new AbortController(), cancelled: new AbortController() };
  const devSession: DevSession = {
    id: 1,
    closing: session.closing.signal,
    cancelled: session.cancelled.signal,
    telephony: "twilio",
  };
  let finishedAt: number | undefined;
  let taskReady!: (task: PipelineTask) => void;
  const ready = new Promise<PipelineTask>((resolve) => (taskReady = resolve));
  const result = new Promise<CallOutcome>((resolve, reject) => {
    wss.once("connection", (socket) => {
      void (async () => {
        const answered = await answerCall(socket, "twilio");
        const transport = answered.transport(transportOptions);
        const task = new PipelineTask(new Pipeline([transport.input(), transport.output()]), { logger });
        transport.on("clientConnected", () => taskReady(task));
        task.on("pipelineFinished", () => {
          finishedAt = performance.now();
        });
        return runCall(task, devSession, answered, options);
      })().then(resolve, reject);
    });
  });
  const twilio = new WebSocket(`ws://127.0.0.1:${port}`);
  cleanups.push(() => twilio.terminate());
  const received: Array<Record<string, unknown>> = [];
  twilio.on("message", (data) => received.push(JSON.parse(String(data)) as Record<string, unknown>));
  const closed = once(twilio, "close");
  await once(twilio, "open");
  twilio.send(twilioStream.connected());
  twilio.send(twilioStream.start());
  for (let i = 0; i < 10; i++) twilio.send(twilioStream.media(i, new Uint8Array(160).fill(0xff)));
  return {
    twilio,
    received,
    closed,
    result,
    ready,
    session,
    lines,
    finishedAt: () => finishedAt,
    endByBot() {
      const tone = new Int16Array(2400).map((_, i) => Math.round(8000 * Math.sin(i / 5)));
      void ready.then((task) => {
        task.queueFrames([new TTSStartedFrame(), new TTSAudioRawFrame(tone, 24000), new TTSStoppedFrame()]);
        void task.stopWhenDone();
      });
    },
  };
}

async function twilioRest(): Promise<TwilioRest> {
  const rest = await startTwilioRest();
  cleanups.push(() => rest.close());
  return rest;
}

function twilioControl(rest: TwilioRest, timeoutMs?: number): TwilioCallControl {
  return new TwilioCallControl({
    accountSid: ACCOUNT_SID,
    authToken: AUTH_TOKEN,
    baseUrl: rest.baseUrl,
    env: {},
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });
}

describe("runCall", () => {
  it("hangs up once through the REST API when the bot ends the call", async () => {
    const rest = await twilioRest();
    const call = await startCall({ control: twilioControl(rest) });
    call.endByBot();
    const { outcome, hungUp } = await call.result;
    await call.closed;
    expect(outcome.how).toBe("ended");
    expect(hungUp).toBe(true);
    expect(rest.requests.map((r) => [r.method, r.path, r.body])).toEqual([
      ["POST", HANG_UP_PATH, "Status=completed"],
    ]);
    // The bot's words reached "Twilio" before the end, on its stream.
    const media = call.received.filter((m) => m.event === "media");
    expect(media.length).toBeGreaterThan(0);
    expect(media.every((m) => m.streamSid === STREAM_SID)).toBe(true);
    expect(call.lines.filter((l) => l.level === "info" && /hung up call/.test(l.message))).toHaveLength(1);
  });

  it("hangs up when the goodbye has played, before the bot closes the media socket", async () => {
    const rest = await twilioRest();
    const call = await startCall({ control: twilioControl(rest) });
    // What "Twilio" saw of the media stream when the hang-up request reached its REST API.
    const atHangUp: Array<{ socketOpen: boolean; media: number }> = [];
    rest.onRequest = () =>
      atHangUp.push({
        socketOpen: call.twilio.readyState === WebSocket.OPEN,
        media: call.received.filter((m) => m.event === "media").length,
      });
    call.endByBot();
    const { outcome, hungUp } = await call.result;
    await call.closed;
    expect(outcome.how).toBe("ended");
    expect(hungUp).toBe(true);
    const media = call.received.filter((m) => m.event === "media").length;
    expect(media).toBeGreaterThan(0);
    // One request, while the media socket was still open (no close frame from the bot yet), and
    // after every packet of the goodbye had been sent: the end of the call, not earlier.
    expect(atHangUp).toEqual([{ socketOpen: true, media }]);
  });

  it("does not hang up when Twilio closed the media socket without a stop (the caller hung up)", async () => {
    const rest = await twilioRest();
    const call = await startCall({ control: twilioControl(rest) });
    await call.ready;
    call.twilio.close(1000);
    const { outcome, hungUp } = await call.result;
    expect(outcome.how).toBe("ended");
    expect(hungUp).toBe(false);
    expect(rest.requests).toHaveLength(0);
  });

  it("does not hang up when Twilio ended the stream (stop)", async () => {
    const rest = await twilioRest();
    const call = await startCall({ control: twilioControl(rest) });
    call.twilio.send(twilioStream.stop());
    const { outcome, hungUp } = await call.result;
    expect(outcome.how).toBe("ended");
    expect(hungUp).toBe(false);
    expect(rest.requests).toHaveLength(0);
  });

  it("hangs up when the session cancels the task", async () => {
    const rest = await twilioRest();
    const call = await startCall({ control: twilioControl(rest) });
    await call.ready;
    call.session.cancelled.abort(new Error("server shutting down"));
    const { outcome, hungUp } = await call.result;
    expect(outcome.how).toBe("cancelled");
    expect(outcome.reason).toMatch(/server shutting down/);
    expect(hungUp).toBe(true);
    expect(rest.requests.map((r) => r.path)).toEqual([HANG_UP_PATH]);
  });

  it("does not hang up with hangUpOnEnd: false, nor without a control", async () => {
    const rest = await twilioRest();
    const call = await startCall({ control: twilioControl(rest), hangUpOnEnd: false });
    call.endByBot();
    expect((await call.result).hungUp).toBe(false);
    const bare = await startCall({});
    bare.endByBot();
    expect((await bare.result).hungUp).toBe(false);
    expect(rest.requests).toHaveLength(0);
  });

  it("logs a hang-up that failed (the REST API is down) once, and still resolves", async () => {
    const rest = await twilioRest();
    const control = twilioControl(rest, 3000);
    await rest.close();
    const call = await startCall({ control });
    call.endByBot();
    const { outcome, hungUp } = await call.result;
    const resolvedAt = performance.now();
    expect(outcome.how).toBe("ended");
    expect(hungUp).toBe(false);
    const failures = call.lines.filter((l) => l.level === "error");
    expect(failures).toHaveLength(1);
    expect(failures[0]!.message).toMatch(
      /twilio: could not hang up call CA0+1 \(the bot ended the call\): .*could not reach .*ECONNREFUSED/,
    );
    expect(resolvedAt - call.finishedAt()!).toBeLessThan(3000); // within the control's timeoutMs
  });

  it("gives up on a REST API that never answers at the control's timeoutMs", async () => {
    const rest = await twilioRest();
    rest.behaviour = { kind: "hang" };
    const call = await startCall({ control: twilioControl(rest, 300) });
    let requestedAt = Number.NaN;
    rest.onRequest = () => (requestedAt = performance.now());
    call.endByBot();
    const { hungUp } = await call.result;
    const waitedMs = performance.now() - requestedAt;
    expect(hungUp).toBe(false);
    expect(waitedMs).toBeGreaterThanOrEqual(250);
    expect(waitedMs).toBeLessThan(300 + 1500); // slack for a loaded machine; the default would be 5000
    expect(call.lines.filter((l) => l.level === "error")).toHaveLength(1);
    expect(rest.requests).toHaveLength(1);
  });

  it("bounds a control that never settles by hangUpTimeoutMs", async () => {
    let calls = 0;
    let calledAt = Number.NaN;
    const stuck: CallControl = {
      provider: "twilio",
      hangUp: () => {
        calls++;
        calledAt = performance.now();
        return new Promise(() => undefined);
      },
    };
    const call = await startCall({ control: stuck, hangUpTimeoutMs: 200 });
    call.endByBot();
    const { hungUp } = await call.result;
    const waitedMs = performance.now() - calledAt;
    expect(hungUp).toBe(false);
    expect(calls).toBe(1);
    expect(waitedMs).toBeLessThan(200 + 1500); // the default would be 10000
    expect(call.lines.filter((l) => l.level === "error")[0]!.message).toMatch(/within 200 ms/);
  });

  it("holds the media socket for a slow hang-up at most the output's closeTimeoutMs, and still awaits its answer", async () => {
    const rest = await twilioRest();
    let release!: () => void;
    const answered = new Promise<void>((resolve) => (release = resolve));
    let calledAt = Number.NaN;
    const inner = twilioControl(rest);
    const slow: CallControl = {
      provider: "twilio",
      hangUp: async (c) => {
        calledAt = performance.now();
        await answered; // the provider's API is slow today
        return inner.hangUp(c);
      },
    };
    const call = await startCall({ control: slow }, { params: { closeTimeoutMs: 300 } });
    call.endByBot();
    await call.closed;
    const socketHeldMs = performance.now() - calledAt;
    expect(socketHeldMs).toBeGreaterThanOrEqual(250);
    expect(socketHeldMs).toBeLessThan(300 + 1500); // slack for a loaded machine
    let settled = false;
    void call.result.then(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(settled).toBe(false); // runCall still waits for the hang-up
    release();
    const { outcome, hungUp } = await call.result;
    expect(outcome.how).toBe("ended");
    expect(hungUp).toBe(true);
    expect(rest.requests.map((r) => r.path)).toEqual([HANG_UP_PATH]);
    const said = call.lines.filter((l) => l.level === "warn" || l.level === "error").map((l) => l.message);
    expect(said).toEqual([
      "twilio: closing the socket before a beforeEndClose hook finished (it had 270 ms, nine tenths of the output's closeTimeoutMs); the hook goes on",
    ]);
  });

  it("refuses a hangUpTimeoutMs that is not a number of ms, before running the task", async () => {
    const task = new PipelineTask(new Pipeline([]));
    await expect(runCall(task, undefined, {} as never, { hangUpTimeoutMs: 0 })).rejects.toThrow(
      InvalidOptionError,
    );
    expect(task.hasFinished()).toBe(false);
  });
});
