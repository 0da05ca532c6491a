import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VirtualClock } from "../../../src/clock/index.js";
import { InvalidOptionError } from "../../../src/errors.js";
import {
  Backoff,
  type BackoffOptions,
  MAX_ATTEMPTS_LIMIT,
  ProviderSocket,
  ProviderSocketError,
} from "../../../src/services/websocket/index.js";
import { silentLogger } from "../../../src/logger.js";
import { type LoopbackProvider, loopbackProvider } from "./loopback-provider.js";

/** Settings a user may give: every one accepted. */
const accepted = fc
  .record({
    initialDelayMs: fc.double({ min: 0.001, max: 60_000, noNaN: true }),
    factor: fc.double({ min: 1, max: 100, noNaN: true }),
    extraMaxMs: fc.double({ min: 0, max: 600_000, noNaN: true }),
    maxAttempts: fc.integer({ min: 1, max: MAX_ATTEMPTS_LIMIT }),
    jitter: fc.double({ min: 0, max: 1, noNaN: true }),
    randoms: fc.array(fc.double({ noNaN: false }), { minLength: 1, maxLength: 16 }),
  })
  .map(({ extraMaxMs, randoms, ...rest }) => {
    let i = 0;
    const options: BackoffOptions = {
      ...rest,
      maxDelayMs: rest.initialDelayMs + extraMaxMs,
      random: () => randoms[i++ % randoms.length]!, // may be NaN or out of [0, 1): clamped
    };
    return options;
  });

describe("Backoff (property)", () => {
  it("accepted settings give every wait within [initialDelayMs, maxDelayMs], and a finite number of them", () => {
    fc.assert(
      fc.property(accepted, (options) => {
        const backoff = new Backoff("TestService", options);
        expect(backoff.maxAttempts).toBeGreaterThanOrEqual(1);
        expect(backoff.maxAttempts).toBeLessThanOrEqual(MAX_ATTEMPTS_LIMIT);
        let previousRaw = 0;
        for (let failures = 1; failures < backoff.maxAttempts; failures++) {
          const delay = backoff.delayAfter(failures);
          expect(Number.isFinite(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(backoff.initialDelayMs);
          expect(delay).toBeLessThanOrEqual(backoff.maxDelayMs);
          if (backoff.jitter === 0) {
            expect(delay).toBeGreaterThanOrEqual(previousRaw); // never shrinks without jitter
            previousRaw = delay;
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it("refused settings throw at construction, naming the setting and what it must be", () => {
    const bad = fc.oneof(
      fc.record({
        setting: fc.constant("initialDelayMs"),
        value: fc.oneof(fc.double({ max: 0 }), fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY)),
      }),
      fc.record({
        setting: fc.constant("factor"),
        value: fc.oneof(
          fc.double({ max: 0.999, noNaN: true }),
          fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY),
        ),
      }),
      fc.record({
        setting: fc.constant("maxDelayMs"),
        value: fc.oneof(
          fc.double({ max: 99.9, noNaN: true }),
          fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY),
        ),
      }),
      fc.record({
        setting: fc.constant("maxAttempts"),
        value: fc.oneof(
          fc.integer({ max: 0 }),
          fc.integer({ min: MAX_ATTEMPTS_LIMIT + 1 }),
          fc.double({ min: 1.01, max: 99.99, noNaN: true }),
          fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY),
        ),
      }),
      fc.record({
        setting: fc.constant("jitter"),
        value: fc.oneof(fc.double({ max: -0.001, noNaN: true }), fc.double({ min: 1.001, noNaN: true })),
      }),
    );
    fc.assert(
      fc.property(bad, ({ setting, value }) => {
        const options = { initialDelayMs: 100, [setting]: value } as BackoffOptions;
        expect(() => new Backoff("TestService", options)).toThrow(InvalidOptionError);
        expect(() => new Backoff("TestService", options)).toThrow(
          new RegExp(
            `^TestService: backoff\\.${setting} must be .* \\(got .*\\); fix the reconnect settings$`,
          ),
        );
        // The socket refuses them too, before any connection.
        expect(
          () =>
            new ProviderSocket({
              service: "TestService",
              clock: new VirtualClock(),
              logger: silentLogger,
              url: "ws://127.0.0.1:1/",
              onMessage: () => {},
              backoff: options,
            }),
        ).toThrow(InvalidOptionError);
      }),
      { numRuns: 300 },
    );
  });
});

describe("ProviderSocket backoff against a refusing server (property)", () => {
  let server: LoopbackProvider;
  const starts: number[] = [];
  let clock: VirtualClock;
  beforeAll(async () => {
    server = await loopbackProvider({
      answer: () => {
        starts.push(clock.now());
        return { status: 503 };
      },
    });
  });
  afterAll(() => server.close());

  it("makes exactly maxAttempts attempts, waits within [initialDelayMs, maxDelayMs] between them, then fails once", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          initialDelayMs: fc.integer({ min: 1, max: 10_000 }),
          factor: fc.double({ min: 1, max: 5, noNaN: true }),
          extraMaxMs: fc.integer({ min: 0, max: 30_000 }),
          maxAttempts: fc.integer({ min: 1, max: 6 }),
          jitter: fc.double({ min: 0, max: 1, noNaN: true }),
          seed: fc.double({ min: 0, max: 0.999, noNaN: true }),
        }),
        async ({ extraMaxMs, seed, ...rest }) => {
          clock = new VirtualClock();
          starts.length = 0;
          const backoff = { ...rest, maxDelayMs: rest.initialDelayMs + extraMaxMs, random: () => seed };
          const failures: ProviderSocketError[] = [];
          const socket = new ProviderSocket({
            service: "TestService",
            clock,
            logger: silentLogger,
            url: server.url,
            backoff,
            onMessage: () => {},
            onFailure: (error) => void failures.push(error),
          });
          const outcome = await clock.runUntil(
            socket.start().then(
              () => "open",
              (e: unknown) => e,
            ),
          );
          expect(outcome).toBeInstanceOf(ProviderSocketError);
          expect(failures).toHaveLength(1);
          expect(starts).toHaveLength(rest.maxAttempts);
          for (let i = 1; i < starts.length; i++) {
            // Clock times are sums of fractional waits: allow for rounding in the subtraction.
            const waited = starts[i]! - starts[i - 1]!;
            expect(waited).toBeGreaterThanOrEqual(rest.initialDelayMs - 1e-6);
            expect(waited).toBeLessThanOrEqual(backoff.maxDelayMs + 1e-6);
          }
          await socket.close();
          expect(clock.pendingTimers).toBe(0);
        },
      ),
      { numRuns: 25 },
    );
  });
});
