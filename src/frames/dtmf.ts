import { DataFrame, SystemFrame } from "./frame.js";

/** The keys of a telephone keypad. */
export const DTMF_KEYS = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#"] as const;

/** One keypad key. */
export type DTMFKey = (typeof DTMF_KEYS)[number];

/** Whether `value` is a keypad key (`"0"`–`"9"`, `"*"`, `"#"`). */
export function isDTMFKey(value: unknown): value is DTMFKey {
  return typeof value === "string" && (DTMF_KEYS as readonly string[]).includes(value);
}

/**
 * The user pressed a keypad key (RTVI `dtmf`, or a telephony stream's DTMF event). One frame per
 * key, in the order pressed.
 */
export class InputDTMFFrame extends SystemFrame {
  constructor(readonly button: DTMFKey) {
    super();
  }
}

/**
 * Play keypad tones to the caller (a telephony stream that can send DTMF, e.g. Plivo's
 * `sendDTMF`). `keys` is one or more keys, played in order.
 */
export class OutputDTMFFrame extends DataFrame {
  constructor(readonly keys: readonly DTMFKey[]) {
    super();
  }
}
