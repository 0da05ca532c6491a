import { randomBytes } from "node:crypto";
import type { Clock } from "../clock/clock.js";
import type { TelephonyProvider } from "../serializers/telephony/telephony-serializer.js";

/** What {@link StreamTickets.redeem} found. */
export type TicketRedemption = "ok" | "unknown" | "expired" | "other-provider";

/**
 * Single-use, short-lived tickets for telephony stream URLs: the development server puts one in
 * the WebSocket URL of each answer document it gives a verified provider request
 * (`/telephony/twilio/ws/<ticket>`), and accepts the socket only with a ticket it issued, once,
 * within `ttlMs`. So only the streams the server announced get a session (docs/design/dev-server.md,
 * "Phone calls").
 *
 * Bounded: at most `max` tickets wait at once (an issue past that is refused); expired ones are
 * dropped as new ones are issued, oldest first (all live equally long, so the oldest expire first).
 * No timer: time is read from the clock when a ticket is issued or redeemed.
 */
export class StreamTickets {
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #max: number;
  /** In issue order, which is expiry order. */
  readonly #waiting = new Map<string, { readonly provider: TelephonyProvider; readonly expiresAt: number }>();

  constructor(clock: Clock, ttlMs: number, max = 1024) {
    this.#clock = clock;
    this.#ttlMs = ttlMs;
    this.#max = max;
  }

  /** Tickets issued and neither redeemed nor dropped yet. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** A new ticket for one stream of `provider` (URL-safe text), or undefined when `max` are waiting. */
  issue(provider: TelephonyProvider): string | undefined {
    this.#dropExpired();
    if (this.#waiting.size >= this.#max) return undefined;
    const ticket = randomBytes(18).toString("base64url");
    this.#waiting.set(ticket, { provider, expiresAt: this.#clock.now() + this.#ttlMs });
    return ticket;
  }

  /** Uses `ticket` up (whatever the outcome: a ticket tried once is gone); "ok" when it was issued for `provider` and is still valid. */
  redeem(provider: TelephonyProvider, ticket: string): TicketRedemption {
    const entry = this.#waiting.get(ticket);
    if (entry === undefined) return "unknown";
    this.#waiting.delete(ticket);
    if (entry.expiresAt < this.#clock.now()) return "expired";
    return entry.provider === provider ? "ok" : "other-provider";
  }

  #dropExpired(): void {
    const now = this.#clock.now();
    for (const [ticket, entry] of this.#waiting) {
      if (entry.expiresAt >= now) break;
      this.#waiting.delete(ticket);
    }
  }
}
