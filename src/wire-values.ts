/**
 * Reading values that came from outside the process (a provider's JSON, a client's message, a
 * webhook) without letting them throw. A JSON object may carry keys named `toString` or `valueOf`
 * that are not functions: `String()`, a template string, `Number()`, `+ ""` and `<` then throw
 * `TypeError: Cannot convert object to primitive value`. Every outside value that is printed or
 * read as a number goes through one of these (docs/design/serializers.md, "Hostile values").
 */

/**
 * A value read off the wire, printable in an error message. Only strings (cut to `maxChars`),
 * numbers, booleans and null are printed; an object or a list is named by its kind, because
 * `String()` of a parsed object can throw (`{"toString": ""}`). Never throws.
 */
export function wireText(value: unknown, maxChars = 40): string {
  if (typeof value === "string") return value.slice(0, maxChars);
  if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value);
  if (value === undefined) return "none";
  return Array.isArray(value) ? "a list" : "an object";
}

/**
 * A number read off the wire: a number, or a string that parses as one; NaN for anything else
 * (objects are never converted, so their `valueOf` is never called). Never throws.
 */
export function wireNumber(value: unknown): number {
  if (typeof value === "number") return value;
  return typeof value === "string" && value.trim() !== "" ? Number(value) : Number.NaN;
}

/**
 * A value read off the wire as JSON text for an error message, cut to `maxChars`; a value
 * `JSON.stringify` cannot write (nested too deep for the stack: a peer's `[[[[…` thousands of
 * levels down) is named by its kind instead. Never throws.
 */
export function wireJson(value: unknown, maxChars = 200): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    // Only a value made in the process can hold a cycle or a BigInt (TypeError).
    return error instanceof RangeError
      ? `${wireText(value, maxChars)} nested too deeply to print`
      : `${wireText(value, maxChars)} that is not JSON`;
  }
  return text === undefined ? wireText(value, maxChars) : text.slice(0, maxChars);
}

/**
 * A setting or value for an error message that says what was given: a string in quotes (so
 * `"16000"` is not mistaken for the number 16000), anything else as {@link wireText} prints it.
 * Never throws, whatever the value's `toString`.
 */
export function givenText(value: unknown, maxChars = 40): string {
  return typeof value === "string" ? JSON.stringify(value.slice(0, maxChars)) : wireText(value, maxChars);
}
