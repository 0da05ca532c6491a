import { InvalidOptionError } from "../../errors.js";

/** The settings every streaming TTS provider service takes (voice, model, language, rate). */
export interface ProviderVoiceOptions {
  voiceId?: string;
  model?: string;
  language?: string;
  sampleRate?: number;
}

/**
 * Checks a provider service's voice, model, language and sample rate at construction, where the
 * option was written, rather than as the provider's error at the first answer. Throws an
 * `InvalidOptionError` naming the option, what was wrong and what to do.
 */
export function checkProviderOptions(
  service: string,
  options: ProviderVoiceOptions,
  rules: {
    readonly sampleRates: readonly number[];
    readonly defaultVoice: string;
    readonly defaultModel: string;
    readonly defaultLanguage: string | undefined;
  },
): { voiceId: string; model: string; language: string | undefined } {
  const voiceId = options.voiceId ?? rules.defaultVoice;
  if (typeof voiceId !== "string" || !/^[A-Za-z0-9_-]{1,128}$/.test(voiceId)) {
    throw new InvalidOptionError(
      `${service}: voiceId must be the id of a voice (letters, digits, "-" and "_"), e.g. ${JSON.stringify(rules.defaultVoice)} ` +
        `(got ${JSON.stringify(voiceId)})`,
    );
  }
  const model = options.model ?? rules.defaultModel;
  if (typeof model !== "string" || !/^[A-Za-z0-9._:-]{1,128}$/.test(model)) {
    throw new InvalidOptionError(
      `${service}: model must be a model id such as ${JSON.stringify(rules.defaultModel)} (got ${JSON.stringify(model)})`,
    );
  }
  const language = options.language ?? rules.defaultLanguage;
  if (
    language !== undefined &&
    (typeof language !== "string" || !/^[a-z]{2,3}(-[A-Za-z]{2,4})?$/.test(language))
  ) {
    throw new InvalidOptionError(
      `${service}: language must be a language code such as "en", "fr" or "pt-BR" (got ${JSON.stringify(language)})`,
    );
  }
  const rate = options.sampleRate;
  if (rate !== undefined && !rules.sampleRates.includes(rate)) {
    throw new InvalidOptionError(
      `${service}: sampleRate ${String(rate)} Hz is not one the provider offers (${rules.sampleRates.join(", ")}); ` +
        "pick one of those, or leave it out to use the task's audioOutSampleRate (resampled if the provider lacks it)",
    );
  }
  return { voiceId, model, language };
}
