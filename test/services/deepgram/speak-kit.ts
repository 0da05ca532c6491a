/**
 * What the Deepgram TTS tests share: a loopback `/v1/speak` server closed after each test, the
 * service pointed at it (no key from the environment, quick reconnects), and the samples the
 * server speaks for a text.
 */
import { afterEach } from "vitest";
import { DeepgramTTSService, type DeepgramTTSOptions } from "../../../src/services/deepgram/tts.js";
import { speechSample } from "../openai-audio/fake-openai-audio.js";
import {
  type FakeDeepgramSpeak,
  type FakeDeepgramSpeakOptions,
  fakeDeepgramSpeak,
} from "./fake-deepgram-speak.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A loopback speak server, closed after the test. */
export async function fake(options: FakeDeepgramSpeakOptions = {}): Promise<FakeDeepgramSpeak> {
  const server = await fakeDeepgramSpeak(options);
  cleanups.push(() => server.close());
  return server;
}

/** The service on `server`, reconnecting after 10–20 ms. */
export function service(server: FakeDeepgramSpeak, options: DeepgramTTSOptions = {}): DeepgramTTSService {
  return new DeepgramTTSService({
    apiKey: "test-key",
    baseUrl: server.baseUrl,
    env: {},
    socket: { backoff: { initialDelayMs: 10, maxDelayMs: 20 } },
    ...options,
  });
}

/** The samples the loopback server speaks for `text` (240 a character). */
export function expected(text: string): Int16Array {
  return Int16Array.from({ length: text.length * 240 }, (_, i) => speechSample(i));
}
