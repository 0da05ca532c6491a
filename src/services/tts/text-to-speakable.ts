/**
 * The step between sentence aggregation and synthesis: turns a piece of text written for the eye
 * (markdown, mostly) into text a voice can say. See docs/design/tts-text.md.
 */

/**
 * Turns one piece of text (a sentence from the aggregator, in order) into the text to speak.
 * It may keep state between the pieces of one response (an open code fence, whether the piece
 * starts a line), so a TTS service makes a fresh one per response and after each interruption,
 * through a {@link TextToSpeakableFactory}. It must not throw; an empty or whitespace-only result
 * means "nothing to say" and the piece is not synthesised.
 */
export type TextToSpeakable = (piece: string) => string;

/**
 * Makes the {@link TextToSpeakable} for one response. This is the replaceable step: pass your
 * own to a TTS service to change or disable it.
 *
 * @example
 * // Speak the text as written:
 * const asWritten: TextToSpeakableFactory = () => (piece) => piece;
 * // Strip markdown, then spell out "&":
 * const mine: TextToSpeakableFactory = () => {
 *   const strip = markdownToSpeakable();
 *   return (piece) => strip(piece).replaceAll("&", " and ");
 * };
 */
export type TextToSpeakableFactory = () => TextToSpeakable;
