/**
 * `value` trimmed, or `undefined` when nothing is left: an API key or base URL read from the
 * environment, where `FOO=` (set but empty) must mean "not set", not "the empty key".
 */
export function nonEmpty(value: string | undefined): string | undefined {
  const v = value?.trim();
  return v ? v : undefined;
}
