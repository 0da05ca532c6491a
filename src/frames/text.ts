import { DataFrame } from "./frame.js";

/** A piece of text flowing through the pipeline (e.g. to a TTS service). */
export class TextFrame extends DataFrame {
  constructor(readonly text: string) {
    super();
  }
}

/** Text streamed by an LLM. */
export class LLMTextFrame extends TextFrame {}

/**
 * Text a TTS service has spoken (or is about to), optionally timed with `pts`. A word from a
 * service with word timings also carries where it falls in its response's audio: the output
 * transport then releases it when that audio is written, which is when the user hears it.
 */
export class TTSTextFrame extends TextFrame {
  /** The TTS context (response) whose audio this word is spoken in. */
  contextId: string | undefined = undefined;
  /** Where the word starts, in ms after the first sample of its context's audio. */
  audioOffsetMs: number | undefined = undefined;
}

/** Ask the TTS service to speak this text. */
export class TTSSpeakFrame extends DataFrame {
  constructor(readonly text: string) {
    super();
  }
}

/** A final transcription of user speech. */
export class TranscriptionFrame extends TextFrame {
  constructor(
    text: string,
    readonly userId: string,
    /** When the speech was captured, as ms of pipeline running time. */
    readonly timestampMs: number,
    readonly language?: string,
  ) {
    super(text);
  }
}

/** A partial transcription; later ones replace earlier ones until a {@link TranscriptionFrame}. */
export class InterimTranscriptionFrame extends TextFrame {
  constructor(
    text: string,
    readonly userId: string,
    readonly timestampMs: number,
    readonly language?: string,
  ) {
    super(text);
  }
}
