import { InvalidOptionError } from "../../errors.js";
import { RepeatReporter } from "../../reporting/repeat-reporter.js";
import { nonEmpty } from "../non-empty.js";
import { RecentIds } from "../tts/open-gate.js";
import { PcmByteCarry } from "../tts/pcm-byte-carry.js";
import { providerBaseUrl } from "../provider-base-url.js";
import { checkProviderOptions } from "../tts/provider-options.js";
import { type ProviderTTSStats, zeroProviderTTSStats } from "../tts/provider-tts-stats.js";
import { SpeechSocket } from "../tts/speech-socket.js";
import { SynthesisStream } from "../tts/synthesis-stream.js";
import { previewText } from "../tts/text-preview.js";
import { MissingTTSApiKeyError, TTSProviderError, quoteProvider } from "../tts/tts-provider-errors.js";
import {
  type SynthesisOutput,
  type SynthesisRequest,
  TTSService,
  type TTSServiceOptions,
  type WordTimestamp,
} from "../tts/tts-service.js";
import { ProviderSocketError } from "../websocket/provider-socket-error.js";
import type { ProviderSocketOptions } from "../websocket/provider-socket-options.js";
import { type ElevenLabsAlignment, parseElevenLabsMessage } from "./tts-messages.js";

/** ElevenLabs' public endpoint; `ELEVENLABS_BASE_URL` or `baseUrl` replace it. */
export const ELEVENLABS_DEFAULT_BASE_URL = "wss://api.elevenlabs.io";
/** The voice used when none is given ("Rachel", one of ElevenLabs' default voices). */
export const ELEVENLABS_DEFAULT_VOICE = "21m00Tcm4TlvDq8ikWAM";
/** PCM output formats the websocket offers (`pcm_<rate>`), in Hz. */
export const ELEVENLABS_SAMPLE_RATES: readonly number[] = [8000, 16000, 22050, 24000, 44100];

const RECENT_CONTEXTS = 32;

/** Voice settings sent when a context opens (ElevenLabs' names, camelCased). */
export interface ElevenLabsVoiceSettings {
  /** 0–1. */
  stability?: number;
  /** 0–1. */
  similarityBoost?: number;
  /** 0–1. */
  style?: number;
  /** 0.7–1.2. */
  speed?: number;
  useSpeakerBoost?: boolean;
}

/** Options of {@link ElevenLabsTTSService}. */
export interface ElevenLabsTTSOptions extends TTSServiceOptions {
  /** API key, sent as `xi-api-key`. @default `process.env.ELEVENLABS_API_KEY` */
  apiKey?: string;
  /**
   * Scheme and host; `/v1/text-to-speech/<voice>/multi-stream-input` is appended.
   * @default `process.env.ELEVENLABS_BASE_URL`, else `wss://api.elevenlabs.io`
   */
  baseUrl?: string;
  /** Where the key and base URL are read from. @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /** @default {@link ELEVENLABS_DEFAULT_VOICE} */
  voiceId?: string;
  /** Not `eleven_v3` (the multi-context socket does not serve it). @default "eleven_flash_v2_5" */
  model?: string;
  /** `language_code` (models that take one). @default none (the model decides) */
  language?: string;
  voiceSettings?: ElevenLabsVoiceSettings;
  /** Seconds without input before ElevenLabs closes a context (`inactivity_timeout`, 1–180). @default 180 */
  inactivityTimeoutS?: number;
  /** A keep-alive goes out when nothing was sent for this long, in ms. @default 10000 */
  keepAliveIntervalMs?: number;
  /** Reconnect, connect-timeout, ping and close settings of the socket (docs/design/provider-socket.md). */
  socket?: Pick<
    ProviderSocketOptions,
    "backoff" | "connectTimeoutMs" | "stableAfterMs" | "ping" | "closeTimeoutMs"
  >;
}

/** Counters of an {@link ElevenLabsTTSService} (each sentence is sent on a context of its own). */
export type ElevenLabsTTSStats = ProviderTTSStats;

interface Sentence {
  readonly contextId: string;
  readonly text: string;
  readonly stream: SynthesisStream;
  readonly carry: PcmByteCarry;
  /** Audio received so far, in ms: alignment times count from the start of their own message. */
  audioMs: number;
  /** The word being spelled by the alignment, and its start (ms from the sentence's start). */
  word: string;
  wordStartMs: number;
}

/**
 * ElevenLabs text-to-speech over its multi-context WebSocket (`multi-stream-input`), without the
 * SDK (docs/design/tts-services.md, "ElevenLabs"). Each sentence is spoken on a context of its
 * own: opened (`text: " "` with the voice settings), its text sent with `flush: true`, then
 * `close_context`, and its audio read until that context's `isFinal` (ElevenLabs marks no other
 * end of a flush). The character alignment becomes one `TTSTextFrame` per word with `pts`. On an
 * interruption the sentence's context is abandoned and the audio ElevenLabs still sends for it is
 * dropped and counted, never played. A keep-alive (`{"text":""}`, with the open context's id when
 * there is one) goes out after 10 s without input. A missing or rejected key is one clear fatal
 * error naming `ELEVENLABS_API_KEY`.
 *
 * @example
 * const tts = new ElevenLabsTTSService({ voiceId: "21m00Tcm4TlvDq8ikWAM", model: "eleven_flash_v2_5" });
 */
export class ElevenLabsTTSService extends TTSService {
  readonly #apiKey: string | undefined;
  readonly #baseUrl: string;
  readonly #voiceId: string;
  readonly #model: string;
  readonly #language: string | undefined;
  readonly #voiceSettings: Record<string, number | boolean> | undefined;
  readonly #inactivityTimeoutS: number;
  readonly #keepAliveIntervalMs: number;
  readonly #socketOptions: ElevenLabsTTSOptions["socket"];
  readonly #cancelled = new RecentIds(RECENT_CONTEXTS);
  #socket: SpeechSocket | undefined;
  #engineRate = 24_000;
  #contexts = 0;
  #reading: Sentence | undefined;
  /** The last error ElevenLabs sent that concerned no sentence (it explains a close that follows). */
  #lastProviderError: string | undefined;
  #repeats: RepeatReporter | undefined;
  readonly #stats: ElevenLabsTTSStats = zeroProviderTTSStats();

  constructor(options: ElevenLabsTTSOptions = {}) {
    super(options);
    const checked = checkProviderOptions(this.name, options, {
      sampleRates: ELEVENLABS_SAMPLE_RATES,
      defaultVoice: ELEVENLABS_DEFAULT_VOICE,
      defaultModel: "eleven_flash_v2_5",
      defaultLanguage: undefined,
    });
    this.#voiceId = checked.voiceId;
    this.#model = checked.model;
    this.#language = checked.language;
    if (this.#model === "eleven_v3") {
      throw new InvalidOptionError(
        `${this.name}: model "eleven_v3" is not served by ElevenLabs' multi-context websocket; use "eleven_flash_v2_5" or "eleven_multilingual_v2"`,
      );
    }
    this.#voiceSettings = checkVoiceSettings(this.name, options.voiceSettings);
    this.#inactivityTimeoutS = options.inactivityTimeoutS ?? 180;
    if (
      !Number.isInteger(this.#inactivityTimeoutS) ||
      this.#inactivityTimeoutS < 1 ||
      this.#inactivityTimeoutS > 180
    ) {
      throw new InvalidOptionError(
        `${this.name}: inactivityTimeoutS must be a whole number of seconds from 1 to 180 (got ${String(options.inactivityTimeoutS)})`,
      );
    }
    this.#keepAliveIntervalMs = options.keepAliveIntervalMs ?? 10_000;
    if (!Number.isFinite(this.#keepAliveIntervalMs) || this.#keepAliveIntervalMs <= 0) {
      throw new InvalidOptionError(
        `${this.name}: keepAliveIntervalMs must be a positive number of ms (got ${String(options.keepAliveIntervalMs)}); the default is 10000`,
      );
    }
    const env = options.env ?? process.env;
    this.#apiKey = options.apiKey ?? nonEmpty(env["ELEVENLABS_API_KEY"]);
    this.#baseUrl = providerBaseUrl(
      this.name,
      options.baseUrl,
      "ELEVENLABS_BASE_URL",
      ELEVENLABS_DEFAULT_BASE_URL,
      env,
    );
    this.#socketOptions = options.socket;
  }

  /** The URL the service connects to at `sampleRate` (the key goes in a header, never here). */
  url(sampleRate = this.#engineRate): string {
    const query = new URLSearchParams({
      model_id: this.#model,
      output_format: `pcm_${sampleRate}`,
      inactivity_timeout: String(this.#inactivityTimeoutS),
      sync_alignment: "true",
    });
    if (this.#language !== undefined) query.set("language_code", this.#language);
    return `${this.#baseUrl}/v1/text-to-speech/${encodeURIComponent(this.#voiceId)}/multi-stream-input?${query}`;
  }

  get stats(): Readonly<ElevenLabsTTSStats> {
    return this.#stats;
  }

  get socketStats(): SpeechSocket["stats"] | undefined {
    return this.#socket?.stats;
  }

  protected override get model(): string {
    return this.#model;
  }

  protected override get engineSampleRate(): number {
    return this.#engineRate;
  }

  protected override async connect(signal: AbortSignal): Promise<void> {
    if (this.#apiKey === undefined) throw new MissingTTSApiKeyError(this.name, "ELEVENLABS_API_KEY");
    this.#engineRate = ELEVENLABS_SAMPLE_RATES.includes(this.sampleRate) ? this.sampleRate : 24_000;
    const socket = new SpeechSocket({
      ...this.#socketOptions,
      service: this.name,
      clock: this.clock,
      logger: this.logger,
      url: this.url(),
      headers: { "xi-api-key": this.#apiKey },
      apiKeyEnv: "ELEVENLABS_API_KEY",
      baseUrlEnv: "ELEVENLABS_BASE_URL",
      // Multi-context only: on the single-context endpoint `{"text":""}` would end the stream.
      keepAlive: {
        message: () =>
          JSON.stringify(this.#reading ? { text: "", context_id: this.#reading.contextId } : { text: "" }),
        intervalMs: this.#keepAliveIntervalMs,
      },
      endOfStream: JSON.stringify({ close_socket: true }),
      onMessage: (data, isBinary) => this.#onMessage(data, isBinary),
      explain: (error) => this.#explained(error),
      onDisconnect: (code, reason) => this.#onDisconnect(code, reason),
      onFailure: (error, afterOpen) => this.#onFailure(error, afterOpen),
    });
    this.#socket = socket;
    await socket.start(signal);
  }

  protected override async disconnect(how: "end" | "cancel", waitMs: number): Promise<void> {
    this.#reading?.stream.fail(new TTSProviderError(this.name, `${this.name}: disconnected`));
    await this.#socket?.close(how, waitMs);
    this.#repeats?.flush();
  }

  protected override async *synthesize(
    text: string,
    signal: AbortSignal,
    request: SynthesisRequest,
  ): AsyncGenerator<SynthesisOutput, void, undefined> {
    const socket = this.#socket;
    if (!socket) throw new TTSProviderError(this.name, `${this.name}: not connected`);
    await socket.open(signal, request.waitForConnection);
    const contextId = `${request.contextId}:${++this.#contexts}`;
    const sentence: Sentence = {
      contextId,
      text,
      stream: new SynthesisStream(),
      carry: new PcmByteCarry(),
      audioMs: 0,
      word: "",
      wordStartMs: 0,
    };
    this.#stats.sentences++;
    let complete = false;
    try {
      const open: Record<string, unknown> = { text: " ", context_id: contextId };
      if (this.#voiceSettings) open["voice_settings"] = this.#voiceSettings;
      // Sent before the sentence is the one being read (see SpeechSocket.sendSentence): a
      // connection lost just before must not fail a sentence that waits for the next one.
      const sent = await socket.sendSentence(
        [
          JSON.stringify(open),
          // ElevenLabs wants each piece of text to end with a space.
          JSON.stringify({ text: /\s$/u.test(text) ? text : `${text} `, context_id: contextId, flush: true }),
          JSON.stringify({ context_id: contextId, close_context: true }),
        ],
        signal,
        request.waitForConnection,
      );
      this.#reading = sentence;
      if (!sent) {
        throw new TTSProviderError(
          this.name,
          `${this.name}: the connection to ElevenLabs closed before "${previewText(text)}" could be sent; the sentence was skipped`,
        );
      }
      yield* sentence.stream.read(signal);
      complete = true;
    } finally {
      if (this.#reading === sentence) this.#reading = undefined;
      sentence.carry.reset();
      this.#stats.oddBytesDropped += sentence.carry.droppedBytes;
      // The context was closed when it opened; what ElevenLabs still sends for it is stale.
      if (!complete) this.#cancelled.add(contextId);
    }
  }

  // ---------------------------------------------------------------- internals

  #onMessage(data: Buffer, isBinary: boolean): void {
    if (isBinary) {
      return this.#malformed("binary", `a binary message (${data.length} bytes); it sends only JSON text`);
    }
    const message = parseElevenLabsMessage(data.toString("utf8"));
    if ("cause" in message) return this.#malformed(message.cause, message.what);
    if (message.kind === "ignored") return;
    const sentence = this.#reading;
    if (message.kind === "error") {
      const said = quoteProvider(message.error);
      if (sentence && (message.contextId === undefined || message.contextId === sentence.contextId)) {
        this.#cancelled.add(sentence.contextId);
        sentence.stream.fail(
          new TTSProviderError(
            this.name,
            `${this.name}: ElevenLabs refused "${previewText(sentence.text)}": ${said}. Check the voice, model, settings and key`,
            said,
          ),
        );
        return;
      }
      if (message.contextId !== undefined && this.#cancelled.has(message.contextId)) return;
      this.#lastProviderError = said;
      this.#reporter().reportOnce(
        "provider-error",
        () => `${this.name}: ElevenLabs reported an error: ${said}`,
      );
      return;
    }
    if (!sentence || message.contextId !== sentence.contextId) {
      const id = message.contextId;
      if (id !== undefined && this.#cancelled.has(id)) {
        if (message.audio !== undefined) this.#stats.droppedAfterCancel++;
        return;
      }
      if (message.audio === undefined && !message.isFinal) return; // an empty keep-alive echo
      this.#stats.unknownContext++;
      this.#reporter().reportOnce(
        "unknown-context",
        () =>
          `${this.name}: ElevenLabs sent audio for context ${JSON.stringify(quoteProvider(id ?? "(none)", 80))}, which is not being spoken; dropped`,
        "warn",
      );
      return;
    }
    const offsetMs = sentence.audioMs;
    if (message.audio !== undefined) {
      this.#stats.chunks++;
      const audio = sentence.carry.push(Buffer.from(message.audio, "base64"));
      sentence.audioMs += (audio.length * 1000) / this.#engineRate;
      sentence.stream.push(audio);
    }
    if (message.alignment) {
      const words = this.#spell(sentence, message.alignment, offsetMs);
      if (words.length > 0) sentence.stream.push({ words });
    }
    if (message.isFinal) {
      const last = this.#endWord(sentence);
      if (last) sentence.stream.push({ words: [last] });
      sentence.stream.end();
    }
  }

  /** Words completed by this alignment; a word cut by the message's end waits for the next one. */
  #spell(sentence: Sentence, alignment: ElevenLabsAlignment, offsetMs: number): WordTimestamp[] {
    const words: WordTimestamp[] = [];
    alignment.chars.forEach((char, i) => {
      if (/^\s*$/u.test(char)) {
        const word = this.#endWord(sentence);
        if (word) words.push(word);
        return;
      }
      if (sentence.word === "") sentence.wordStartMs = offsetMs + alignment.startsMs[i]!;
      sentence.word += char;
    });
    return words;
  }

  #endWord(sentence: Sentence): WordTimestamp | undefined {
    if (sentence.word === "") return undefined;
    const word = { text: sentence.word, startMs: sentence.wordStartMs };
    sentence.word = "";
    return word;
  }

  #onDisconnect(code: number, reason: string): void {
    const sentence = this.#reading;
    if (!sentence) return;
    this.#cancelled.add(sentence.contextId);
    sentence.stream.fail(
      new TTSProviderError(
        this.name,
        `${this.name}: the connection to ElevenLabs was lost (code ${code}${reason ? `, ${quoteProvider(reason, 80)}` : ""}) ` +
          `while speaking "${previewText(sentence.text)}"; the sentence was abandoned and the next one goes on a new connection`,
      ),
    );
  }

  #onFailure(error: ProviderSocketError, afterOpen: boolean): void {
    this.#reading?.stream.fail(error);
    if (afterOpen) void this.fail(error);
  }

  /** A socket failure with what ElevenLabs said just before it (it closes with 1008 after an error message). */
  #explained<T>(error: T): T | ProviderSocketError {
    const said = this.#lastProviderError;
    if (!(error instanceof ProviderSocketError) || said === undefined) return error;
    const aboutKey = /api[ _-]?key|auth|unauthori[sz]ed/i.test(said);
    return new ProviderSocketError(
      error.service,
      error.failure,
      `${error.message}. ElevenLabs said: "${said}"` +
        (aboutKey ? "; check the key in ELEVENLABS_API_KEY" : ""),
      { status: error.status, closeCode: error.closeCode, cause: error },
    );
  }

  #malformed(cause: string, what: string): void {
    this.#stats.malformed++;
    this.#reporter().reportOnce(
      `malformed:${cause}`,
      () => `${this.name}: ElevenLabs sent ${what}; it was ignored`,
      "warn",
    );
  }

  #reporter(): RepeatReporter {
    return (this.#repeats ??= new RepeatReporter({
      owner: this.name,
      logger: () => this.logger,
      now: () => this.clock.now(),
    }));
  }
}

function checkVoiceSettings(
  service: string,
  settings: ElevenLabsVoiceSettings | undefined,
): Record<string, number | boolean> | undefined {
  if (settings === undefined) return undefined;
  const out: Record<string, number | boolean> = {};
  const range = (key: keyof ElevenLabsVoiceSettings, wire: string, min: number, max: number): void => {
    const value = settings[key];
    if (value === undefined) return;
    if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
      throw new InvalidOptionError(
        `${service}: voiceSettings.${key} must be a number from ${min} to ${max} (got ${String(value)})`,
      );
    }
    out[wire] = value;
  };
  range("stability", "stability", 0, 1);
  range("similarityBoost", "similarity_boost", 0, 1);
  range("style", "style", 0, 1);
  range("speed", "speed", 0.7, 1.2);
  if (settings.useSpeakerBoost !== undefined) out["use_speaker_boost"] = settings.useSpeakerBoost === true;
  return out;
}
