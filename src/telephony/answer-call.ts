import WebSocket, { type RawData } from "ws";
import type { Clock } from "../clock/clock.js";
import { SystemClock } from "../clock/system-clock.js";
import { InvalidOptionError, VoicepipeError } from "../errors.js";
import type {
  TelephonyCall,
  TelephonyProvider,
  TelephonySerializer,
} from "../serializers/telephony/telephony-serializer.js";
import { deserializeGuarded } from "../serializers/frame-serializer.js";
import type { TransportParams } from "../transports/transport-params.js";
import {
  MAX_EARLY_BYTES,
  MAX_EARLY_MESSAGES,
  type ReceivedMessage,
  type WebSocketTransportOptions,
} from "../transports/websocket/websocket-options.js";
import { toBytes } from "../transports/websocket/websocket-input.js";
import { WebSocketTransport } from "../transports/websocket/websocket-transport.js";
import { createTelephonySerializer } from "./serializers.js";
import type { CallStreamOptions } from "./stream-url.js";
import { givenText } from "../wire-values.js";

/** The output's close bound for a call: it holds the bot's hang-up at the end (see `transport()`). */
const CALL_CLOSE_TIMEOUT_MS = 3_000;

/** The transport each answered call made, for {@link runCall} (which hangs up through it at the end). */
const madeTransports = new WeakMap<AnsweredCall, WebSocketTransport>();

/** @internal The transport `answered.transport()` made, if it was called. */
export function transportOfCall(answered: AnsweredCall): WebSocketTransport | undefined {
  return madeTransports.get(answered);
}

/** A call's stream never said what it was: closed, timed out, or sent too much before its start. */
export class CallStartError extends VoicepipeError {
  readonly code = "VP_CALL_START";
}

/** Options of {@link answerCall}. */
export interface AnswerCallOptions {
  /** How long the provider gets to send the message that describes the call, in ms. @default 10000 */
  startTimeoutMs?: number;
  /** Clock of the start deadline. @default a new SystemClock */
  clock?: Clock;
  /**
   * What the stream's URL chose (Exotel's `?sample-rate=`): the development server gives it as
   * `session.telephonyStream`; a server of one's own reads it with `readStreamUrl`. Leave it out
   * when `serializer` is given. @default {} (the provider's default rate)
   */
  stream?: CallStreamOptions;
  /**
   * Makes a new serializer each time it is called (twice per call: one reads the first messages,
   * the other is the transport's); give it to change a provider's formats.
   * @default createTelephonySerializer(provider, stream)
   */
  serializer?: () => TelephonySerializer;
}

/** Options of {@link AnsweredCall.transport}: those of {@link WebSocketTransport} but the serializer. */
export type CallTransportOptions = Omit<WebSocketTransportOptions, "serializer" | "receivedMessages">;

/** A call whose stream has said what it is (who calls, which ids, which format). */
export interface AnsweredCall {
  readonly call: TelephonyCall;
  /** The call's serializer; the transport uses it. */
  readonly serializer: TelephonySerializer;
  /**
   * The WebSocket transport of the call: the serializer, the messages read so far (handled
   * first, in order), audio in and out at the stream's rates in chunks of one provider packet (20 ms; Exotel 80–200 ms),
   * 200 ms of silence at the end, up to 3 s for the output's close (`closeTimeoutMs`: `runCall`
   * hangs up through the provider's API there, before the socket closes), and the task ended
   * by its normal end path when the provider closes the socket (a hang-up). `params` and the
   * other options override those. Call it once.
   */
  transport(options?: CallTransportOptions): WebSocketTransport;
}

/**
 * Reads a telephony stream's first messages until the call is known (Twilio, Telnyx and Exotel:
 * `connected` then `start`; Plivo: `start`; Vonage: `websocket:connected`), holding every message
 * for the transport, so none is lost. Rejects with {@link CallStartError} when the socket closes
 * first, or nothing describes the call within `startTimeoutMs`.
 *
 * @example
 * const answered = await answerCall(socket, "twilio");
 * const transport = answered.transport({ params: { vadAnalyzer } });
 */
export async function answerCall(
  socket: WebSocket,
  provider: TelephonyProvider,
  options: AnswerCallOptions = {},
): Promise<AnsweredCall> {
  const timeoutMs = options.startTimeoutMs ?? 10_000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new InvalidOptionError(
      `answerCall: startTimeoutMs must be a number of ms > 0 (got ${givenText(options.startTimeoutMs)})`,
    );
  }
  if (options.serializer && options.stream && Object.keys(options.stream).length > 0) {
    throw new InvalidOptionError(
      "answerCall: give options.stream or options.serializer, not both (a serializer of your own sets the stream's rate itself)",
    );
  }
  const stream = options.stream ?? {};
  const make = options.serializer ?? (() => createTelephonySerializer(provider, stream));
  const clock = options.clock ?? new SystemClock();
  const held: ReceivedMessage[] = [];
  let heldBytes = 0;
  /** Messages past the hold caps after the call was known (the transport not made yet): counted, reported by the transport. */
  let dropped = 0;
  // A serializer of its own reads ahead; the transport's reads every message again from the start.
  const peek = make();
  const serializer = make();
  if (serializer === peek) {
    peek.dispose();
    throw new InvalidOptionError(
      "answerCall: options.serializer must make a new serializer each time it is called (one reads the call's first messages, the other is the transport's)",
    );
  }
  let settle: ((error?: Error) => void) | undefined;
  const known = new Promise<void>((resolve, reject) => {
    settle = (error) => (error ? reject(error) : resolve());
  });
  const onMessage = (data: RawData, isBinary: boolean): void => {
    const bytes = toBytes(data);
    if (held.length >= MAX_EARLY_MESSAGES || heldBytes + bytes.byteLength > MAX_EARLY_BYTES) {
      if (peek.call) {
        dropped++;
        return;
      }
      settle?.(
        new CallStartError(
          `${provider}: ${held.length} messages came and none described the call; is this socket really a ${provider} media stream?`,
        ),
      );
      return;
    }
    const message: ReceivedMessage = { data: isBinary ? bytes : bytes.toString("utf8"), isBinary };
    held.push(message);
    heldBytes += bytes.byteLength;
    if (peek.call) return;
    deserializeGuarded(peek, message.data); // a throw here would be out of the socket's handler
    if (peek.call) settle?.();
  };
  const onClose = (code: number): void =>
    settle?.(
      new CallStartError(`${provider}: the stream closed (code ${code}) before it described the call`),
    );
  // ws emits "error" (a message over maxPayload, a protocol error) before it closes the socket;
  // with no listener, Node would throw it out of the socket's data handler and end the process.
  // After the call is known the close that follows is the transport's news.
  const onError = (error: Error): void =>
    settle?.(
      new CallStartError(`${provider}: the stream failed before it described the call: ${error.message}`, {
        cause: error,
      }),
    );
  socket.on("message", onMessage);
  socket.on("close", onClose);
  socket.on("error", onError);
  if (socket.readyState !== WebSocket.OPEN) onClose(1006);
  const timer = clock.setTimer(
    () =>
      settle?.(
        new CallStartError(
          `${provider}: no message described the call within ${timeoutMs} ms (startTimeoutMs); check the provider's stream settings`,
        ),
      ),
    timeoutMs,
  );
  const detach = (): void => {
    socket.off("message", onMessage);
    socket.off("close", onClose);
    socket.off("error", onError);
  };
  try {
    await known;
  } catch (error) {
    detach();
    // An error ws emits later (the rest of a bad burst) must not throw for want of a listener.
    socket.on("error", ignore);
    peek.dispose();
    serializer.dispose();
    socket.terminate();
    throw error;
  } finally {
    timer.cancel();
    settle = undefined;
  }
  peek.dispose();
  const call = peek.call!;
  let made = false;
  const answered: AnsweredCall = {
    call,
    serializer,
    transport(transportOptions: CallTransportOptions = {}): WebSocketTransport {
      if (made) throw new InvalidOptionError(`answerCall: transport() was already called for this call`);
      made = true;
      // Synchronous from here to the transport's own listeners: no message (or error) falls between.
      detach();
      const params: Partial<TransportParams> = {
        audioInEnabled: true,
        audioInSampleRate: call.inbound.sampleRate,
        audioOutEnabled: true,
        audioOutSampleRate: serializer.outbound.sampleRate,
        // One chunk a packet: 20 ms for most providers. Exotel's packets are 200 ms at 8 kHz; with
        // shorter chunks its first packet would leave only on the tenth tick (180 ms late), and
        // audio the output counts as played would still sit in the serializer.
        audioOut10msChunks: Math.max(2, Math.round(serializer.packetMs / 10)),
        // The provider plays what it is sent as it comes: a long tail of silence at the end only
        // delays the hang-up.
        audioOutEndSilenceMs: 200,
        // runCall hangs up in the output's close when the bot ends the call, so the socket closes
        // after the provider's API has answered: a REST round trip, with room to spare.
        closeTimeoutMs: CALL_CLOSE_TIMEOUT_MS,
        ...transportOptions.params,
      };
      const transport = new WebSocketTransport(socket, {
        onClientDisconnect: "end",
        name: provider,
        ...transportOptions,
        params,
        serializer,
        receivedMessages: held.splice(0),
      });
      // Said once, with the transport's own early drops, when its input opens.
      transport.refusedMessages["early-overflow"] += dropped;
      madeTransports.set(answered, transport);
      return transport;
    },
  };
  return answered;
}

function ignore(): void {}
