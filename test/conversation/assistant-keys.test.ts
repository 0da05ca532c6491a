/**
 * A rejected key in the assistant `npm start` runs is a clear message in the page, not a silent
 * disconnect: the provider refuses at the pipeline's start, before the pipeline can carry anything
 * to the output, and the client is still told why (an RTVI `error`, fatal: the RTVI processor's
 * last words on the cancel, which the output writes before it closes). Real time, about 1 s each.
 */
import { afterEach, describe, expect, it } from "vitest";
import { answer } from "../services/llm/loopback-openai.js";
import { type AssistantHarness, startAssistant } from "./assistant-harness.js";

let harness: AssistantHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

describe("a rejected provider key in the whole assistant", () => {
  for (const [provider, variable, words] of [
    ["Cartesia", "CARTESIA_API_KEY", "Invalid API key"],
    ["Deepgram", "DEEPGRAM_API_KEY", "Invalid credentials"],
  ] as const) {
    it(`${provider} refusing the key at start: the page gets one fatal RTVI error naming ${variable}, then the close`, async () => {
      harness = await startAssistant({
        llm: (sse) => answer(sse, ["Hi."]),
        bot: { env: { [variable]: "not-the-key" } },
      });
      const client = await harness.connect();
      const error = await client.waitFor("error", 0, 15_000);
      expect(error.data).toMatchObject({ fatal: true });
      const text = (error.data as { message: string }).message;
      expect(text).toContain(`check the key in ${variable}`);
      expect(text).toMatch(/401/);
      expect(text).toContain(words); // the provider's own words
      expect((await harness.outcome).how).toBe("failed");
      // The error came first, then the server closed the socket; nothing else followed it.
      const closedAt = await client.closed;
      expect(error.atMs).toBeLessThanOrEqual(closedAt);
      expect(client.received("error")).toHaveLength(1);
    });
  }
});
