import { ControlFrame } from "./frame.js";

/** A TTS service began a turn of speech. */
export class TTSStartedFrame extends ControlFrame {
  constructor(readonly contextId?: string) {
    super();
  }
}

/** A TTS service finished a turn of speech (the output transport flushes its partial chunk). */
export class TTSStoppedFrame extends ControlFrame {
  constructor(readonly contextId?: string) {
    super();
  }
}
