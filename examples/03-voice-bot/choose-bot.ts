/**
 * Which bot `npm start` runs, from the environment: the assistant when there are credentials for
 * a speech-to-text, an LLM and a text-to-speech service, else the echo bot, with the reason. Pure
 * (no I/O but the `hasProgram` probe it is given), so the choice is tested on its own.
 */

/** Speech-to-text services the assistant can use. */
export type STTChoice = "deepgram" | "openai" | "pocketsphinx";
/** LLM services the assistant can use. */
export type LLMChoice = "openai" | "anthropic" | "gemini";
/** Text-to-speech services the assistant can use. */
export type TTSChoice = "cartesia" | "elevenlabs" | "deepgram" | "openai" | "flite";

/** What {@link chooseBot} decided. */
export type BotChoice =
  | {
      readonly bot: "assistant";
      readonly stt: STTChoice;
      readonly llm: LLMChoice;
      readonly tts: TTSChoice;
      /** Why a provider named by `VOICEPIPE_LLM`, `VOICEPIPE_STT` or `VOICEPIPE_TTS` was not used. */
      readonly notes: readonly string[];
    }
  | { readonly bot: "echo"; readonly why: string };

/** The environment variables that hold each provider's key (the first set one is used). */
export const KEY_VARIABLES = {
  deepgram: ["DEEPGRAM_API_KEY"],
  openai: ["OPENAI_API_KEY"],
  anthropic: ["ANTHROPIC_API_KEY"],
  gemini: ["GEMINI_API_KEY", "GOOGLE_API_KEY"],
  cartesia: ["CARTESIA_API_KEY"],
  elevenlabs: ["ELEVENLABS_API_KEY"],
} as const;

type Provider = keyof typeof KEY_VARIABLES;
type Env = Readonly<Record<string, string | undefined>>;

/** Whether a key for `provider` is set (an empty or blank value is not a key). */
export function hasKey(env: Env, provider: Provider): boolean {
  return KEY_VARIABLES[provider].some((name) => (env[name] ?? "").trim() !== "");
}

/**
 * Picks the bot. Each part takes the first provider with a key, in the order below; a part with
 * no key falls back to a local program when it is installed (PocketSphinx hears, flite speaks),
 * so one LLM key is enough on a machine with those packages. `VOICEPIPE_BOT=echo` forces the echo
 * bot; `VOICEPIPE_STT`, `VOICEPIPE_LLM` and `VOICEPIPE_TTS` name a provider to prefer.
 *
 * - speech-to-text: Deepgram, OpenAI, then PocketSphinx (local)
 * - LLM: OpenAI (or any server it reaches through `OPENAI_BASE_URL`), Anthropic, Gemini
 * - text-to-speech: Cartesia, ElevenLabs, Deepgram, OpenAI, then flite (local)
 */
export function chooseBot(env: Env, hasProgram: (name: string) => boolean): BotChoice {
  const wantedBot = (env.VOICEPIPE_BOT ?? "").trim().toLowerCase();
  if (wantedBot !== "" && wantedBot !== "echo" && wantedBot !== "assistant")
    throw new Error(
      `VOICEPIPE_BOT must be echo or assistant, or unset (got ${JSON.stringify(env.VOICEPIPE_BOT)})`,
    );
  if (wantedBot === "echo") return { bot: "echo", why: "VOICEPIPE_BOT=echo" };
  const choice = chooseAssistant(env, hasProgram);
  if (wantedBot === "assistant" && choice.bot === "echo")
    throw new Error(`VOICEPIPE_BOT=assistant, but there is ${choice.why}`);
  return choice;
}

function chooseAssistant(env: Env, hasProgram: (name: string) => boolean): BotChoice {
  const notes: string[] = [];
  const llm = pick<LLMChoice>(
    "VOICEPIPE_LLM",
    env.VOICEPIPE_LLM,
    ["openai", "anthropic", "gemini"],
    (p) => hasKey(env, p),
    notes,
  );
  if (!llm) {
    return {
      bot: "echo",
      why: "no LLM key: set OPENAI_API_KEY (or OPENAI_BASE_URL for a local OpenAI-compatible server), ANTHROPIC_API_KEY or GEMINI_API_KEY for the assistant",
    };
  }
  const stt = pick<STTChoice>(
    "VOICEPIPE_STT",
    env.VOICEPIPE_STT,
    ["deepgram", "openai", "pocketsphinx"],
    (p) => (p === "pocketsphinx" ? hasProgram("pocketsphinx_continuous") : hasKey(env, p)),
    notes,
  );
  if (!stt) {
    return {
      bot: "echo",
      why: "no speech-to-text: set DEEPGRAM_API_KEY or OPENAI_API_KEY, or install pocketsphinx and pocketsphinx-en-us",
    };
  }
  const tts = pick<TTSChoice>(
    "VOICEPIPE_TTS",
    env.VOICEPIPE_TTS,
    ["cartesia", "elevenlabs", "deepgram", "openai", "flite"],
    (p) => (p === "flite" ? hasProgram("flite") : hasKey(env, p)),
    notes,
  );
  if (!tts) {
    return {
      bot: "echo",
      why: "no text-to-speech: set CARTESIA_API_KEY, ELEVENLABS_API_KEY, DEEPGRAM_API_KEY or OPENAI_API_KEY, or install flite",
    };
  }
  return { bot: "assistant", stt, llm, tts, notes };
}

/**
 * The preferred provider if it is usable, else the first usable one in `order`; a preferred one
 * that is not usable is noted (the startup line says it), a name not in `order` is refused.
 */
function pick<T extends string>(
  variable: string,
  preferred: string | undefined,
  order: readonly T[],
  usable: (p: T) => boolean,
  notes: string[],
): T | undefined {
  const name = (preferred ?? "").trim().toLowerCase();
  if (name === "") return order.find(usable);
  const wanted = order.find((p) => p === name);
  if (!wanted)
    throw new Error(
      `${variable} must be one of ${order.join(", ")}, or unset (got ${JSON.stringify(preferred)})`,
    );
  if (usable(wanted)) return wanted;
  notes.push(
    `${variable}=${wanted} is not used: ${
      wanted === "pocketsphinx" || wanted === "flite"
        ? `${wanted} is not installed`
        : `${KEY_VARIABLES[wanted as Provider].join(" or ")} is not set`
    }`,
  );
  return order.find(usable);
}
