import { ProviderSocket } from "../websocket/provider-socket.js";
import type { ProviderSocketError } from "../websocket/provider-socket-error.js";
import type { ProviderSocketOptions } from "../websocket/provider-socket-options.js";
import { OpenGate } from "./open-gate.js";
import type { SynthesisRequest } from "./tts-service.js";

/** How a piece waits for the connection: `SynthesisRequest.waitForConnection`, which bounds and names the wait. */
export type ConnectionWait = SynthesisRequest["waitForConnection"];

/** What a streaming TTS service's socket tells the service (docs/design/tts-services.md). */
export interface SpeechSocketOptions extends Omit<
  ProviderSocketOptions,
  "onOpen" | "onDisconnect" | "onFailure"
> {
  /** The socket opened (the first time or after a reconnect). */
  readonly onOpen?: () => void;
  /** The socket closed and reconnects: the sentence being read is lost. */
  readonly onDisconnect: (code: number, reason: string) => void;
  /**
   * The socket gave up (`error` as {@link explain} made it). `afterOpen`: it had opened at least
   * once, so the failure is the running service's to report; before that, `start` rejects with it.
   */
  readonly onFailure: (error: ProviderSocketError, afterOpen: boolean) => void;
  /** The failure as the service reports it (a provider that says why before closing adds that). Default: as it is. */
  readonly explain?: (error: unknown) => unknown;
}

/**
 * The WebSocket of a streaming TTS provider service (Cartesia, ElevenLabs): a
 * {@link ProviderSocket} with the state every such service keeps around it: whether it is open
 * now (a sentence that starts while it reconnects waits for it), whether it ever opened (which
 * decides who reports a failure), and the failure that ended it.
 */
export class SpeechSocket {
  readonly #socket: ProviderSocket;
  readonly #gate = new OpenGate();
  readonly #explain: (error: unknown) => unknown;
  #failure: ProviderSocketError | undefined;
  #everOpened = false;

  constructor(options: SpeechSocketOptions) {
    const { onOpen, onDisconnect, onFailure, explain, ...socket } = options;
    this.#explain = explain ?? ((error) => error);
    this.#socket = new ProviderSocket({
      ...socket,
      onOpen: () => {
        this.#everOpened = true;
        this.#gate.opened();
        onOpen?.();
      },
      onDisconnect: ({ code, reason }) => {
        this.#gate.closed();
        onDisconnect(code, reason);
      },
      onFailure: (error) => {
        const explained = this.#explain(error) as ProviderSocketError;
        this.#failure = explained;
        this.#gate.failed();
        onFailure(explained, this.#everOpened);
      },
    });
  }

  /** The socket's counters (reconnects, dropped sends). */
  get stats(): ProviderSocket["stats"] {
    return this.#socket.stats;
  }

  /**
   * Opens the socket (within its connect timeout and reconnect policy). When `signal` aborts the
   * socket is closed within `abortCloseMs`, which ends the start. Rejects with the explained failure.
   */
  async start(signal: AbortSignal, abortCloseMs = 100): Promise<void> {
    const onAbort = (): void => void this.#socket.close({ timeoutMs: abortCloseMs });
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      await this.#socket.start();
    } catch (error) {
      throw this.#explain(error);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Resolves when the socket is open (at once if it is): a socket reconnecting is waited for
   * through `wait` (the piece's `request.waitForConnection`, bounded by the base's stall bound and
   * reported as a wait for the connection). Rejects with `signal.reason`, or the failure that
   * ended it.
   */
  open(signal: AbortSignal, wait: ConnectionWait): Promise<void> {
    if (this.#gate.isOpen) return Promise.resolve();
    return wait(this.#gate.wait(signal, () => this.#failure));
  }

  /**
   * Sends the messages of one sentence. When the first cannot go out, the connection has just been
   * lost (the socket looks open until its close is reported) and nothing of the sentence was sent:
   * it waits for the next connection (through `wait`, as {@link open}) and sends them there.
   * Returns false when they still could not all be sent.
   */
  async sendSentence(
    messages: readonly string[],
    signal: AbortSignal,
    wait: ConnectionWait,
  ): Promise<boolean> {
    const [first, ...rest] = messages;
    if (first === undefined) return true;
    if (!this.#socket.send(first)) {
      this.#gate.closed();
      await this.open(signal, wait);
      if (!this.#socket.send(first)) return false;
    }
    return rest.every((message) => this.#socket.send(message));
  }

  /** Sends one message; false when the socket is not open (the message is dropped and counted). */
  send(message: string): boolean {
    return this.#socket.send(message);
  }

  /**
   * Closes the socket: waits for the server's close at most 200 ms (`cancel`) or the socket's close
   * timeout (`end`), and never more than `maxWaitMs` (the owner's own bound, less the time the
   * destroy takes), then destroys it.
   */
  close(how: "end" | "cancel", maxWaitMs = Infinity): Promise<void> {
    const waitMs = how === "cancel" ? 200 : this.#socket.closeTimeoutMs;
    return this.#socket.close({ timeoutMs: Math.min(waitMs, maxWaitMs) });
  }
}
