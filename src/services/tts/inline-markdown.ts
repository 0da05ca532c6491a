/**
 * Removes inline markdown from a fragment of one line: emphasis and strikethrough marks, code
 * ticks, links (their text stays), images, footnote marks, backslash escapes, `<br>`. Leaves alone
 * what only looks like markdown: `a*b`, `5 * 3`, `2**3`, `snake_case`, `~5 min`, URLs, `x < y > z`.
 * Emphasis follows CommonMark's flanking idea (a mark opens or closes a span when it touches a word
 * on one side only), decided per mark run so that a span split across two sentences loses its
 * marks in both. Every replacement is no longer than what it replaces.
 */

const INLINE = new RegExp(
  [
    /(`+)([^`\n]*?[^`\n])\1(?!`)/.source, // 1,2: code span: keep the code, drop the ticks
    /<((?:https?:\/\/|mailto:)[^\s<>]+)>/.source, // 3: autolink: the address
    /(?:https?:\/\/|www\.)[^\s<>]*[^\s<>.,;:!?)\]'"*_~`]/.source, // a bare URL, untouched
    /\\([!-/:-@[-`{-~])/.source, // 4: backslash escape: the character
    /!\[[^[\]\n]*\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+"[^"\n]*")?\)/.source, // image: dropped (alt text stops at "[", so a flood of "![" is linear)
    /\[([^[\]\n]+)\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+"[^"\n]*")?\)/.source, // 5: link: its text
    /\[\^[^[\]\s]+\]/.source, // footnote mark: dropped
    /\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+"[^"\n]*")?\)/.source, // the tail of a link whose text began in an earlier sentence
    /\[([^[\]\n]+)\]\[[^[\]\n]*\]/.source, // 6: reference link: its text
    /<br\s*\/?>/.source, // line break tag: a space
    /[*_]+|~~|`+/.source, // emphasis, strikethrough, stray ticks: decided by their neighbours
  ].join("|"),
  "giu",
);

const SPACE = /\s/u;
const PUNCTUATION = /[\p{P}\p{S}]/u;
const ALPHANUMERIC = /[\p{L}\p{N}]/u;

/** Strips inline markdown from `text` (one line or part of one). Never throws. */
export function stripInlineMarkdown(text: string): string {
  return dropUnclosedBrackets(replaceInline(text));
}

/**
 * Drops every `[` that no `]` follows: the head of a link whose text goes on in the next sentence
 * ("See [the guide. " | "It is short](url)"). Its tail is one of the INLINE patterns.
 */
function dropUnclosedBrackets(text: string): string {
  const open = text.indexOf("[", text.lastIndexOf("]") + 1);
  if (open < 0) return text;
  return text.slice(0, open) + text.slice(open).replaceAll("[", "");
}

function replaceInline(text: string): string {
  return text.replace(INLINE, (match: string, ...rest: unknown[]) => {
    const [, code, autolink, escaped, linkText, refText] = rest as (string | undefined)[];
    const offset = rest[6] as number;
    if (code !== undefined) return code;
    if (autolink !== undefined) return autolink.replace(/^mailto:/i, "");
    if (escaped !== undefined) return escaped;
    if (linkText !== undefined) return stripInlineMarkdown(linkText);
    if (refText !== undefined) return stripInlineMarkdown(refText);
    const first = match[0];
    if (first === "!" || first === "[" || first === "]") return "";
    if (first === "<") return " ";
    if (first === "h" || first === "H" || first === "w" || first === "W") return match; // URL
    if (first === "`") return "";
    return isMarkup(match, text[offset - 1], text[offset + match.length]) ? "" : match;
  });
}

/** Whether a run of `*`, `_` or `~~` between `before` and `after` (undefined at an edge) is markup. */
function isMarkup(run: string, before: string | undefined, after: string | undefined): boolean {
  const spaceBefore = before === undefined || SPACE.test(before);
  const spaceAfter = after === undefined || SPACE.test(after);
  if (spaceBefore && spaceAfter) return false; // "5 * 3", "a ** b"
  const punctBefore = before !== undefined && PUNCTUATION.test(before);
  const punctAfter = after !== undefined && PUNCTUATION.test(after);
  const opens = !spaceAfter && (!punctAfter || spaceBefore || punctBefore);
  const closes = !spaceBefore && (!punctBefore || spaceAfter || punctAfter);
  const wordBefore = before !== undefined && ALPHANUMERIC.test(before);
  const wordAfter = after !== undefined && ALPHANUMERIC.test(after);
  if (run.includes("_")) return (opens && !wordBefore) || (closes && !wordAfter); // snake_case stays
  if (wordBefore && wordAfter) return false; // a*b, 2**3, x~~y
  return opens || closes;
}
