import { describe } from "../../errors.js";
import type { Clock, TimerHandle } from "../../clock/clock.js";
import type { RTVIClientRequest, RTVIMessage } from "../../frames/rtvi.js";
import { preview } from "./parse.js";
import { rtviMessage } from "./protocol.js";

/**
 * The `client-message` requests waiting for their reply (docs/design/rtvi.md). Each gets exactly
 * one: the application's answer, or an `error-response` when `timeoutMs` passes first. At most
 * `max` wait at once, so a client that floods requests nobody answers cannot grow memory.
 * @internal
 */
export class ClientRequests {
  readonly #pending = new Set<PendingRequest>();

  constructor(
    private readonly clock: Clock,
    private readonly timeoutMs: number,
    private readonly max: number,
    private readonly send: (message: RTVIMessage) => void,
    /** An answer could not be sent (its data is not JSON): said by the owner, once. */
    private readonly unsendable: (message: string) => void = () => {},
  ) {}

  /** Requests waiting for their reply. */
  get size(): number {
    return this.#pending.size;
  }

  /** Registers a request and arms its deadline; undefined when `max` are already waiting. */
  open(id: string, type: string, data: unknown): RTVIClientRequest | undefined {
    if (this.#pending.size >= this.max) return undefined;
    const request = new PendingRequest(
      id,
      type,
      data,
      this.send,
      (r) => this.#pending.delete(r),
      this.unsendable,
    );
    this.#pending.add(request);
    request.arm(this.clock, this.timeoutMs);
    return request;
  }

  /**
   * The session is ending: every waiting request is settled and its timer cleared. With
   * `reason` each gets an `error-response` saying it (a graceful end); without, none (a cancel,
   * when nothing more can be sent).
   */
  closeAll(reason?: string): void {
    for (const request of [...this.#pending]) {
      if (reason === undefined) request.abandon();
      else request.fail(reason);
    }
    this.#pending.clear();
  }
}

class PendingRequest implements RTVIClientRequest {
  #answered = false;
  #timer: TimerHandle | undefined;

  constructor(
    readonly id: string,
    readonly type: string,
    readonly data: unknown,
    private readonly send: (message: RTVIMessage) => void,
    private readonly settled: (request: PendingRequest) => void,
    private readonly unsendable: (message: string) => void,
  ) {}

  get answered(): boolean {
    return this.#answered;
  }

  arm(clock: Clock, timeoutMs: number): void {
    this.#timer = clock.setTimer(() => {
      this.#timer = undefined;
      this.fail(
        `no answer to client-message "${preview(this.type)}" within ${timeoutMs} ms ` +
          "(the bot has no handler for it, or its handler did not respond)",
      );
    }, timeoutMs);
  }

  respond(data?: unknown): boolean {
    if (this.#answered) return false;
    // The reply goes out as JSON: data that JSON cannot hold (a cycle, a BigInt) would fail in the
    // serializer, after the request was settled, and the client would get no reply at all.
    try {
      JSON.stringify(data);
    } catch (error) {
      const why =
        `the bot's answer to client-message "${preview(this.type)}" cannot be sent as JSON (${describe(error)}); ` +
        "answer with plain data";
      this.unsendable(why);
      this.fail(why);
      return false;
    }
    this.#settle();
    this.send(rtviMessage("server-response", { t: this.type, d: data }, this.id));
    return true;
  }

  fail(error: string): boolean {
    if (!this.#settle()) return false;
    this.send(rtviMessage("error-response", { error: describe(error) }, this.id));
    return true;
  }

  abandon(): void {
    this.#settle();
  }

  #settle(): boolean {
    if (this.#answered) return false;
    this.#answered = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.settled(this);
    return true;
  }
}
