import type { BaseInputTransport } from "./base-input-transport.js";
import type { BaseOutputTransport } from "./base-output-transport.js";

/**
 * A connection to one client, as two processors: `input()` goes first in the pipeline,
 * `output()` near the end (docs/design/transports.md). Each call returns the same instance.
 *
 * @example
 * const pipeline = new Pipeline([transport.input(), stt, llm, tts, transport.output()]);
 */
export abstract class BaseTransport {
  abstract input(): BaseInputTransport;
  abstract output(): BaseOutputTransport;
}
