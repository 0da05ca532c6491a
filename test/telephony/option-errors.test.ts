/**
 * Telephony settings that are wrong get an `InvalidOptionError` that shows what was given: a
 * string in quotes (`"16000"` is not the number 16000), and no `TypeError` for a value whose
 * `toString` is not a function (a setting read from a JSON config file can be such an object).
 */
import { describe, expect, it } from "vitest";
import { InvalidOptionError } from "../../src/errors.js";
import {
  ExotelFrameSerializer,
  PlivoCallControl,
  TelnyxCallControl,
  TelnyxFrameSerializer,
  TwilioCallControl,
  TwilioFrameSerializer,
  VonageFrameSerializer,
} from "../../src/telephony/index.js";

const HOSTILE = { toString: "", valueOf: "" };
const PLIVO = { authId: "MA0000000000000000AA", authToken: "token", env: {} };
const TWILIO = { accountSid: "AC00000000000000000000000000000000", authToken: "0".repeat(32), env: {} };

const settings: ReadonlyArray<[string, (value: unknown) => unknown]> = [
  ["ExotelFrameSerializer sampleRate", (v) => new ExotelFrameSerializer({ sampleRate: v as never })],
  ["VonageFrameSerializer sampleRate", (v) => new VonageFrameSerializer({ sampleRate: v as never })],
  ["TelnyxFrameSerializer reorderWindow", (v) => new TelnyxFrameSerializer({ reorderWindow: v as never })],
  [
    "TwilioFrameSerializer maxMessageBytes",
    (v) => new TwilioFrameSerializer({ maxMessageBytes: v as never }),
  ],
  ["TwilioCallControl timeoutMs", (v) => new TwilioCallControl({ ...TWILIO, timeoutMs: v as never })],
  [
    "TelnyxCallControl timeoutMs",
    (v) => new TelnyxCallControl({ apiKey: "k", env: {}, timeoutMs: v as never }),
  ],
  ["PlivoCallControl timeoutMs", (v) => new PlivoCallControl({ ...PLIVO, timeoutMs: v as never })],
];

describe("telephony settings that are wrong are said as given", () => {
  for (const [name, make] of settings) {
    it(`${name}: a string is quoted, an object with no usable toString is named`, () => {
      expect(() => make("16000")).toThrow(InvalidOptionError);
      expect(() => make("16000")).toThrow(/got "16000"/);
      expect(() => make(HOSTILE)).toThrow(InvalidOptionError);
      expect(() => make(HOSTILE)).toThrow(/got an object/);
    });
  }
});
