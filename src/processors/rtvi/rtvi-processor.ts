import { LLMConfigureOutputFrame } from "../../frames/bot-output.js";
import { InputDTMFFrame } from "../../frames/dtmf.js";
import { type Frame, FrameDirection } from "../../frames/frame.js";
import { FunctionCallResultFrame } from "../../frames/function-calls.js";
import {
  type CancelFrame,
  type EndFrame,
  EndTaskFrame,
  InterruptionFrame,
  InterruptionTaskFrame,
  type StartFrame,
} from "../../frames/lifecycle.js";
import { type LLMMessage, LLMMessagesAppendFrame } from "../../frames/llm.js";
import {
  RTVIClientMessageFrame,
  RTVIClientReadyFrame,
  type RTVIMessage,
  RTVIOutputMessageFrame,
} from "../../frames/rtvi.js";
import { InputTransportMessageFrame } from "../../frames/transport-messages.js";
import { FrameProcessor } from "../frame-processor.js";
import { AfterInterruption } from "./after-interruption.js";
import { ClientRequests } from "./client-requests.js";
import { type ParsedClientMessage, type RTVIClientMessage, parseClientMessage } from "./parse.js";
import { RTVI_ABOUT, RTVI_LABEL, RTVI_PROTOCOL_VERSION, rtviMessage } from "./protocol.js";
import { RTVIObserver } from "./rtvi-observer.js";
import {
  type RTVIClientInfo,
  type RTVIProcessorEvents,
  type RTVIProcessorOptions,
  positiveMs,
  wholeNumber,
} from "./rtvi-processor-options.js";

/** Batches of `send-text` frames that may wait for their interruption at once. */
const MAX_WAITING_SENDS = 16;
/** Longest wait for the interruption a `send-text` asked for, in ms, before its frames go anyway. */
const INTERRUPTION_WAIT_MS = 1_000;

/**
 * The server side of RTVI 2.1.0, the Pipecat client protocol (docs/design/rtvi.md). Put it right
 * after the transport's input, and add its {@link observer} to the task:
 *
 * - It answers the client's messages (which arrive as `InputTransportMessageFrame`s): `client-ready`
 *   with `bot-ready`, `disconnect-bot` by asking the task to end, `client-message` through the
 *   `clientMessage` event, and turns `send-text`, `append-to-context`, `llm-function-call-result`
 *   and `dtmf` into pipeline frames. Messages of other protocols pass on untouched.
 * - Its observer reports what happens in the pipeline to the client; those messages are held back
 *   until the client is ready (bounded), then leave as `RTVIOutputMessageFrame`s: urgent and never
 *   dropped.
 * - A fatal error that cancels the task reaches the client as one RTVI `error` (`fatal: true`),
 *   ready or not, even when it happens while the pipeline starts (a provider refusing its key):
 *   it rides the `CancelFrame` as last words, which the output transport writes before it closes.
 *
 * Guarantees: a malformed or unknown message never throws out of it; it gets an `error-response`
 * (or, with no usable id, a non-fatal `error`), the first is logged and the rest are counted in
 * {@link rejectedMessages}. Nothing it keeps grows with the length of a session: held messages,
 * waiting requests and waiting `send-text` batches are each bounded, and every wait has a deadline.
 *
 * @example
 * const rtvi = new RTVIProcessor();
 * rtvi.on("clientMessage", (request) => request.respond({ pong: request.data }));
 * const pipeline = new Pipeline([transport.input(), rtvi, bot, new RTVIOutputGate(), transport.output()]);
 * const task = new PipelineTask(pipeline, { observers: [rtvi.observer] });
 */
export class RTVIProcessor extends FrameProcessor<RTVIProcessorEvents> {
  /** Reports pipeline frames to the client; add it to the task's `observers`. */
  readonly observer: RTVIObserver;
  readonly #clientMessageTimeoutMs: number;
  readonly #maxPending: number;
  readonly #maxHeld: number;
  readonly #wallClockMs: () => number;
  #requests: ClientRequests | undefined;
  readonly #afterInterruption: AfterInterruption;
  #client: RTVIClientInfo | undefined;
  #clientMajor = 2;
  #held: RTVIMessage[] = [];
  #heldDropped = 0;
  #rejected = 0;
  #unsendable = 0;
  #sent = 0;
  #nextId = 1;
  #wallOriginMs: number | undefined;
  #warnedLateSend = false;

  constructor(options: RTVIProcessorOptions = {}) {
    super(options);
    this.#clientMessageTimeoutMs = positiveMs(
      "clientMessageTimeoutMs",
      options.clientMessageTimeoutMs ?? 5_000,
    );
    this.#maxPending = wholeNumber("maxPendingClientMessages", options.maxPendingClientMessages ?? 64);
    this.#maxHeld = wholeNumber("maxHeldMessages", options.maxHeldMessages ?? 256);
    this.#wallClockMs = options.wallClockMs ?? (() => new Date().getTime());
    this.#afterInterruption = new AfterInterruption(MAX_WAITING_SENDS, INTERRUPTION_WAIT_MS, (frames) =>
      this.#pushLate(frames),
    );
    // The observer sees a narrow view of the processor, not its public API.
    this.observer = new RTVIObserver(
      {
        clientMajor: () => this.#clientMajor,
        isoTime: (runningMs) => this.#isoTime(runningMs),
        sendEvent: (type, data) => this.#send(rtviMessage(type, data, this.#newId())),
      },
      options.observer,
    );
  }

  /** Whether the client has sent `client-ready` (and been answered `bot-ready`). */
  get clientReady(): boolean {
    return this.#client !== undefined;
  }

  /** What the client said about itself in `client-ready`, once it has. */
  get client(): RTVIClientInfo | undefined {
    return this.#client;
  }

  /**
   * RTVI messages from the client that were refused, each with an error reply: malformed, of an
   * unsupported type, or over a bound (`maxPendingClientMessages`, 16 `send-text`s waiting).
   */
  get rejectedMessages(): number {
    return this.#rejected;
  }

  /** Answers to client messages whose data could not be sent as JSON (each got an `error-response`). */
  get unsendableResponses(): number {
    return this.#unsendable;
  }

  /** Messages held back before the client was ready and dropped because more than `maxHeldMessages` waited. */
  get droppedHeldMessages(): number {
    return this.#heldDropped;
  }

  /** Messages pushed towards the client so far (replies included). */
  get sentMessages(): number {
    return this.#sent;
  }

  /** Messages waiting for the client to be ready. */
  get heldMessages(): number {
    return this.#held.length;
  }

  /** `client-message` requests waiting for an answer. */
  get pendingClientMessages(): number {
    return this.#requests?.size ?? 0;
  }

  /** Sends the client a `server-message` with `data` (held until the client is ready). */
  sendServerMessage(data: unknown): void | Promise<void> {
    return this.sendMessage("server-message", data);
  }

  /**
   * Sends the client an RTVI message of any type (held until the client is ready). For the
   * types the observer reports, prefer pushing the frame they stand for.
   */
  sendMessage(type: string, data?: unknown): void | Promise<void> {
    const message: RTVIMessage =
      data === undefined
        ? { label: RTVI_LABEL, type, id: this.#newId() }
        : { label: RTVI_LABEL, type, id: this.#newId(), data };
    return this.#send(message);
  }

  protected override start(_frame: StartFrame): void {
    this.#wallOriginMs = this.#wallClockMs() - this.clock.now();
    this.#requests = new ClientRequests(
      this.clock,
      this.#clientMessageTimeoutMs,
      this.#maxPending,
      (m) => void this.#reply(m),
      (why) => {
        if (this.#unsendable++ === 0)
          this.logger.warn(`${this.name}: ${why}. Said once; later ones are counted in unsendableResponses`, {
            processor: this.name,
          });
      },
    );
  }

  protected override async end(_frame: EndFrame): Promise<void> {
    // Frames still waiting for an interruption go now, ahead of the EndFrame.
    for (const frame of this.#afterInterruption.takeAll())
      await this.pushFrame(frame, FrameDirection.DOWNSTREAM);
    this.#requests?.closeAll("the bot ended the session before answering");
  }

  protected override cancel(frame: CancelFrame): void {
    this.#sayFatalError(frame);
    this.#shutdown();
  }

  protected override cleanup(): void {
    this.#shutdown();
  }

  override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
    if (frame instanceof InputTransportMessageFrame && direction === FrameDirection.DOWNSTREAM) {
      const parsed = parseClientMessage(frame.message);
      if (parsed.kind === "not-rtvi") return super.processFrame(frame, direction);
      return this.#onClientMessage(parsed);
    }
    if (frame instanceof InterruptionFrame && this.#afterInterruption.size > 0) {
      return this.#forwardInterruption(frame, direction);
    }
    return super.processFrame(frame, direction); // audio and everything else: one call, no promise
  }

  /** Passes the interruption on, then the frames a send-text asked to follow it. */
  async #forwardInterruption(frame: InterruptionFrame, direction: FrameDirection): Promise<void> {
    await super.processFrame(frame, direction);
    for (const f of this.#afterInterruption.takeBefore(frame.id))
      await this.pushFrame(f, FrameDirection.DOWNSTREAM);
  }

  // ---------------------------------------------------------------- client → server

  async #onClientMessage(parsed: Exclude<ParsedClientMessage, { kind: "not-rtvi" }>): Promise<void> {
    if (parsed.kind === "rejected") return this.#reject(parsed.id, parsed.type, parsed.reason);
    const message = parsed.message;
    switch (message.type) {
      case "client-ready":
        return this.#onClientReady(message);
      case "disconnect-bot":
        this.logger.info(`${this.name}: the client sent disconnect-bot; ending the task`, {
          processor: this.name,
        });
        return this.pushFrame(new EndTaskFrame("the client sent disconnect-bot"), FrameDirection.UPSTREAM);
      case "client-message":
        return this.#onRequest(message.id, message.t, message.d);
      case "send-text":
        return this.#appendToContext(
          message.id,
          { role: "user", content: message.content },
          message.runImmediately,
          message.audioResponse,
        );
      case "append-to-context":
        return this.#appendToContext(message.id, message.message, message.runImmediately, true);
      case "llm-function-call-result":
        return this.pushFrame(
          new FunctionCallResultFrame(message.call, message.result),
          FrameDirection.DOWNSTREAM,
        );
      case "dtmf":
        for (const button of message.buttons)
          await this.pushFrame(new InputDTMFFrame(button), FrameDirection.DOWNSTREAM);
        return;
      default:
        this.emit("uiMessage", message.type, message.data);
    }
  }

  async #onClientReady(message: Extract<RTVIClientMessage, { type: "client-ready" }>): Promise<void> {
    const first = this.#client === undefined;
    if (first) {
      this.#client = Object.freeze({ version: message.version, about: message.about });
      this.#clientMajor = message.major;
    }
    // A 1.x client is served in its own version (and the legacy bot-output shape).
    const version = this.#clientMajor < 2 ? this.#client!.version : RTVI_PROTOCOL_VERSION;
    await this.#reply(rtviMessage("bot-ready", { version, about: { ...RTVI_ABOUT } }, message.id));
    if (!first) return;
    const held = this.#held;
    this.#held = [];
    for (const m of held) await this.#push(m);
    await this.pushFrame(new RTVIClientReadyFrame(message.version, message.about), FrameDirection.DOWNSTREAM);
    this.emit("clientReady", this.#client!);
  }

  async #onRequest(id: string, type: string, data: unknown): Promise<void> {
    const request = this.#requests?.open(id, type, data);
    if (!request) {
      return this.#reject(
        id,
        "client-message",
        `too many client-message requests waiting for an answer (${this.#maxPending}); try again later`,
      );
    }
    this.emit("clientMessage", request);
    await this.pushFrame(new RTVIClientMessageFrame(request), FrameDirection.DOWNSTREAM);
  }

  async #appendToContext(
    id: string,
    message: LLMMessage,
    runImmediately: boolean,
    audioResponse: boolean,
  ): Promise<void> {
    const messages: LLMMessage[] = [message];
    if (!runImmediately) {
      const append = new LLMMessagesAppendFrame(messages, false);
      // Behind a send-text still waiting for its interruption: pushed now, it would overtake that
      // message, or be flushed by its interruption downstream. It follows the waiting frames.
      if (this.#afterInterruption.appendToLast([append])) return;
      return this.pushFrame(append, FrameDirection.DOWNSTREAM);
    }
    const append = new LLMMessagesAppendFrame(messages, true);
    // audio_response: false makes this one run's answer text only.
    const frames: Frame[] = audioResponse
      ? [append]
      : [new LLMConfigureOutputFrame(true), append, new LLMConfigureOutputFrame(false)];
    // Interrupt the bot first; the frames follow the interruption, or it would flush them.
    const request = new InterruptionTaskFrame();
    if (!this.#afterInterruption.add(this.clock, request.id, frames)) {
      return this.#reject(
        id,
        "send-text",
        `too many messages waiting to interrupt the bot (${MAX_WAITING_SENDS}); try again later`,
      );
    }
    await this.pushFrame(request, FrameDirection.UPSTREAM);
  }

  async #reject(id: string | undefined, type: string | undefined, reason: string): Promise<void> {
    if (this.#rejected++ === 0) {
      this.logger.warn(
        `${this.name}: rejected a client message: ${reason}. Later rejections are counted in rejectedMessages, not logged`,
        { processor: this.name, type, id },
      );
    }
    // With no id to answer, say it in a (non-fatal) error the client shows.
    if (id === undefined)
      return this.#reply(
        rtviMessage("error", { error: reason, message: reason, fatal: false }, this.#newId()),
      );
    return this.#reply(rtviMessage("error-response", { error: reason }, id));
  }

  // ---------------------------------------------------------------- server → client

  /** A report: held until the client is ready. */
  #send(message: RTVIMessage): void | Promise<void> {
    if (this.#client !== undefined) return this.#push(message);
    if (this.#held.length >= this.#maxHeld) {
      this.#held.shift();
      if (this.#heldDropped++ === 0) {
        this.logger.warn(
          `${this.name}: more than ${this.#maxHeld} messages waiting for the client's client-ready; dropping the oldest ` +
            "(counted in droppedHeldMessages). Is the client an RTVI client?",
          { processor: this.name },
        );
      }
    }
    this.#held.push(message);
  }

  /** A reply to the client: sent at once, ready or not. */
  #reply(message: RTVIMessage): void | Promise<void> {
    return this.#push(message);
  }

  #push(message: RTVIMessage): void | Promise<void> {
    this.#sent++;
    return this.pushFrame(new RTVIOutputMessageFrame(message), FrameDirection.DOWNSTREAM);
  }

  #pushLate(frames: Frame[]): void {
    if (!this.#warnedLateSend) {
      this.#warnedLateSend = true;
      this.logger.warn(
        `${this.name}: the interruption asked for by send-text did not come within ${INTERRUPTION_WAIT_MS} ms; pushing its frames anyway`,
        { processor: this.name },
      );
    }
    for (const frame of frames) void this.pushFrame(frame, FrameDirection.DOWNSTREAM);
  }

  /**
   * A fatal error made the task cancel: the client is told why in the cancel's last words, which
   * the output transport writes before it closes, whether the pipeline had started or not (a
   * provider refusing its key while connecting at the start). The observer leaves fatal errors to
   * this one path: a message pushed through the pipeline is dropped by the cancel that overtakes
   * it, and before the start by the processors that never opened their lanes. Sent even before
   * `client-ready`: it is the last thing the session says, and the client shows it in any state.
   */
  #sayFatalError(frame: CancelFrame): void {
    const error = frame.error;
    if (!error || !this.observer.reports("error")) return;
    const text = error.error.message;
    const message = rtviMessage("error", { error: text, message: text, fatal: true }, this.#newId());
    if (frame.addLastWords(new RTVIOutputMessageFrame(message))) this.#sent++;
  }

  #shutdown(): void {
    this.#afterInterruption.clear();
    this.#requests?.closeAll();
    this.#held = [];
  }

  #newId(): string {
    return `vp-${(this.#nextId++).toString(36)}`;
  }

  #isoTime(runningMs: number): string {
    this.#wallOriginMs ??= this.#wallClockMs() - (this.context ? this.clock.now() : 0);
    const at = new Date(this.#wallOriginMs + runningMs);
    return Number.isNaN(at.getTime()) ? new Date(this.#wallOriginMs).toISOString() : at.toISOString();
  }
}
