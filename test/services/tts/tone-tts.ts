import {
  TTSService,
  type SynthesisOutput,
  type SynthesisRequest,
  type TTSServiceOptions,
} from "../../../src/services/tts/tts-service.js";

/**
 * A complete TTS engine on the base class, in process: 10 ms of a tone per character (pitch from
 * the character), in chunks of `chunkMs`, at 16 kHz, with word timings. Tests the base's own
 * behaviour (order, resampling, word pts, splits) without a subprocess's cost.
 */
export class ToneTTS extends TTSService {
  readonly sent: string[] = [];
  readonly rate = 16_000;
  constructor(options: TTSServiceOptions & { withWords?: boolean; chunkMs?: number } = {}) {
    super(options);
    this.#withWords = options.withWords ?? false;
    this.#chunkMs = options.chunkMs ?? 50;
  }
  readonly #withWords: boolean;
  readonly #chunkMs: number;

  protected override get engineSampleRate(): number {
    return this.rate;
  }

  protected override async *synthesize(
    text: string,
    signal: AbortSignal,
    _request?: SynthesisRequest,
  ): AsyncIterable<SynthesisOutput> {
    this.sent.push(text);
    if (this.#withWords) {
      const words: { text: string; startMs: number }[] = [];
      for (const match of text.matchAll(/\S+/gu)) words.push({ text: match[0], startMs: match.index * 10 });
      yield { words };
    }
    const perChar = this.rate / 100;
    const audio = new Int16Array(text.length * perChar);
    for (let i = 0; i < text.length; i++) {
      const f = 200 + (text.charCodeAt(i) % 50) * 10;
      for (let j = 0; j < perChar; j++) {
        audio[i * perChar + j] = Math.round(8000 * Math.sin((2 * Math.PI * f * j) / this.rate));
      }
    }
    const chunk = (this.rate * this.#chunkMs) / 1000;
    for (let at = 0; at < audio.length; at += chunk) {
      if (signal.aborted) throw signal.reason;
      await Promise.resolve();
      yield audio.subarray(at, at + chunk);
    }
  }
}
