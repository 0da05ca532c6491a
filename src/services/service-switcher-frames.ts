import { ControlFrame } from "../frames/frame.js";
import type { FrameProcessor } from "../processors/frame-processor.js";

/**
 * Asks the `ServiceSwitcher` that holds `service` to make it the active one
 * (docs/design/resilience.md). A switcher that does not hold it passes the frame on, so several
 * switchers (STT, LLM, TTS) can sit in one pipeline. Ordered with the frames before it, and
 * uninterruptible: a barge-in never loses a switch.
 */
export class ManuallySwitchServiceFrame extends ControlFrame {
  static override readonly uninterruptible = true;
  constructor(
    /** The service to make active. */
    readonly service: FrameProcessor,
  ) {
    super();
  }
}
