/** The start of a text for an error or log message: white space folded, at most 40 characters. */
export function previewText(text: string): string {
  const flat = text.replace(/\s+/gu, " ").trim();
  return flat.length <= 40 ? flat : `${flat.slice(0, 39)}…`;
}
