import {
  type Frame,
  LLMFullResponseEndFrame,
  LLMFullResponseStartFrame,
  LLMPreemptiveTextFrame,
  LLMTextFrame,
} from "../../../src/index.js";

/** A held answer's text as an LLM service passes it on: each piece, then `last`. */
export const guess = (id: number, ...texts: string[]): Frame[] => [
  ...texts.map((text) => new LLMPreemptiveTextFrame(id, text, false)),
  new LLMPreemptiveTextFrame(id, "", true),
];

/** A confirmed answer as an LLM service pushes it: start, the texts, end. */
export const answer = (...texts: string[]): Frame[] => [
  new LLMFullResponseStartFrame(),
  ...texts.map((text) => new LLMTextFrame(text)),
  new LLMFullResponseEndFrame(),
];
