import { describe, expect, it } from "vitest";
import { chooseBot } from "../../examples/03-voice-bot/choose-bot.js";

const none = (): boolean => false;
const local = (name: string): boolean => name === "flite" || name === "pocketsphinx_continuous";

describe("npm start: which bot runs", () => {
  it("no keys: the echo bot, saying which key would start the assistant", () => {
    const choice = chooseBot({}, local);
    expect(choice.bot).toBe("echo");
    expect(choice.bot === "echo" && choice.why).toMatch(/no LLM key: set OPENAI_API_KEY/);
  });

  it("one OpenAI key: OpenAI hears, thinks and speaks", () => {
    expect(chooseBot({ OPENAI_API_KEY: "sk-1" }, none)).toEqual({
      bot: "assistant",
      stt: "openai",
      llm: "openai",
      tts: "openai",
      notes: [],
    });
  });

  it("Deepgram, OpenAI and Cartesia: the issue's reference wiring", () => {
    expect(chooseBot({ DEEPGRAM_API_KEY: "d", OPENAI_API_KEY: "o", CARTESIA_API_KEY: "c" }, none)).toEqual({
      bot: "assistant",
      stt: "deepgram",
      llm: "openai",
      tts: "cartesia",
      notes: [],
    });
  });

  it("an LLM key alone uses the local recogniser and voice when they are installed, else says what is missing", () => {
    expect(chooseBot({ ANTHROPIC_API_KEY: "a" }, local)).toEqual({
      bot: "assistant",
      stt: "pocketsphinx",
      llm: "anthropic",
      tts: "flite",
      notes: [],
    });
    const without = chooseBot({ ANTHROPIC_API_KEY: "a" }, none);
    expect(without.bot === "echo" && without.why).toMatch(/no speech-to-text: set DEEPGRAM_API_KEY/);
  });

  it("a blank key is no key; GOOGLE_API_KEY counts for Gemini", () => {
    expect(chooseBot({ OPENAI_API_KEY: "  ", GOOGLE_API_KEY: "g" }, local)).toMatchObject({ llm: "gemini" });
  });

  it("VOICEPIPE_LLM/STT/TTS prefer a provider that has a key; VOICEPIPE_BOT=echo forces the echo bot", () => {
    const env = { OPENAI_API_KEY: "o", DEEPGRAM_API_KEY: "d", ANTHROPIC_API_KEY: "a" };
    expect(chooseBot({ ...env, VOICEPIPE_LLM: "anthropic", VOICEPIPE_TTS: "openai" }, none)).toEqual({
      bot: "assistant",
      stt: "deepgram",
      llm: "anthropic",
      tts: "openai",
      notes: [],
    });
    // A preferred provider that cannot be used is said (the startup line carries the notes).
    expect(chooseBot({ ...env, VOICEPIPE_LLM: "gemini", VOICEPIPE_TTS: " Flite " }, none)).toMatchObject({
      llm: "openai",
      notes: [
        "VOICEPIPE_LLM=gemini is not used: GEMINI_API_KEY or GOOGLE_API_KEY is not set",
        "VOICEPIPE_TTS=flite is not used: flite is not installed",
      ],
    });
    expect(chooseBot({ ...env, VOICEPIPE_BOT: "echo" }, none)).toEqual({
      bot: "echo",
      why: "VOICEPIPE_BOT=echo",
    });
  });

  it("an unknown VOICEPIPE_BOT or provider name is refused, naming the variable; VOICEPIPE_BOT=assistant says what is missing", () => {
    const env = { OPENAI_API_KEY: "o", DEEPGRAM_API_KEY: "d" };
    expect(() => chooseBot({ ...env, VOICEPIPE_BOT: "eco" }, none)).toThrow(
      /VOICEPIPE_BOT must be echo or assistant.*"eco"/,
    );
    expect(() => chooseBot({ ...env, VOICEPIPE_LLM: "claude" }, none)).toThrow(
      /VOICEPIPE_LLM must be one of openai, anthropic, gemini.*"claude"/,
    );
    expect(() => chooseBot({ ...env, VOICEPIPE_STT: "whisper" }, none)).toThrow(/VOICEPIPE_STT/);
    expect(() => chooseBot({ ...env, VOICEPIPE_TTS: "polly" }, none)).toThrow(/VOICEPIPE_TTS/);
    expect(chooseBot({ ...env, VOICEPIPE_BOT: " Assistant " }, none)).toMatchObject({ bot: "assistant" });
    expect(() => chooseBot({ DEEPGRAM_API_KEY: "d", VOICEPIPE_BOT: "assistant" }, none)).toThrow(
      /VOICEPIPE_BOT=assistant, but there is no LLM key/,
    );
  });
});
