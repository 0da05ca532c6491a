/** The conversation `bench/turn-latency.ts` holds with the assistant, from the client's side. */
import { type Utterance, utterance } from "../../test/conversation/assistant-harness.js";
import type { LoopbackClient } from "../../test/conversation/loopback-client.js";

/** The two utterances the user says in turn (50 ms of the fixture's silence around each). */
export async function benchPhrases(): Promise<Utterance[]> {
  return [await utterance("vad-espeak", 1, 50), await utterance("vad-flite", 1, 50)];
}

/**
 * Waits for the greeting to end, then speaks `turns + warmup` utterances, each once the previous
 * answer has ended and 300 ms have passed. Returns, per measured turn (the warm-up left out), the
 * client's own view: last loud sample sent → first bot audio received, in ms.
 */
export async function converse(
  client: LoopbackClient,
  phrases: readonly Utterance[],
  turns: number,
  warmup: number,
): Promise<number[]> {
  const clientMs: number[] = [];
  let last = await client.waitFor("bot-stopped-speaking", 0, 20_000);
  for (let i = 0; i < turns + warmup; i++) {
    const phrase = phrases[i % phrases.length]!;
    // The last loud sample left the client 50 ms (the clip's padding) before its last sample.
    const spokeUntil = (await client.speak(phrase.samples)) - 50;
    const started = await client.waitFor("bot-started-speaking", last.atMs, 10_000);
    const firstAudio = client.audio.find((a) => a.atMs >= spokeUntil - 5 && a.samples.some((v) => v !== 0));
    if (i >= warmup && firstAudio) clientMs.push(firstAudio.atMs - spokeUntil);
    last = await client.waitFor("bot-stopped-speaking", started.atMs, 10_000);
    await new Promise((r) => setTimeout(r, 300));
  }
  return clientMs;
}
