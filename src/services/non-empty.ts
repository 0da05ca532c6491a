/**
 * `value` trimmed, or `undefined` when nothing is left: an API key or base URL read from the
 * environment, where `FOO=` (set but empty) must mean "not set", not "the empty key".
 */
export function nonEmpty(value: string | undefined): string | undefined {
  // Read as the text it would be in a real environment: a cast can smuggle in a number.
  const v = value === undefined || value === null ? undefined : String(value).trim();
  return v ? v : undefined;
}
