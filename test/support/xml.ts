/**
 * A small strict XML reader for tests of the answer documents (TwiML, TeXML, Plivo XML): elements,
 * attributes, text, the five predefined entities and character references. It throws on anything
 * a conforming parser would reject in that subset (an unknown or bare `&`, `<` in an attribute
 * value, a duplicate attribute, a mismatched or missing end tag, content after the root), so a
 * document that is not well-formed fails the test. Written apart from the writer in src/, which
 * it checks.
 */
export interface XmlNode {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly children: readonly XmlNode[];
  /** The element's own text (its children's text not included), entities decoded. */
  readonly text: string;
}

const NAME = /[A-Za-z_][A-Za-z0-9_.-]*/y;

export function parseXml(source: string): XmlNode {
  let at = 0;
  const fail = (why: string): never => {
    throw new SyntaxError(`XML at ${at}: ${why} (…${source.slice(at, at + 30)}…)`);
  };
  const skipSpace = (): void => {
    while (at < source.length && /[ \t\r\n]/.test(source[at]!)) at++;
  };
  const name = (): string => {
    NAME.lastIndex = at;
    const match = NAME.exec(source);
    if (!match) return fail("expected a name");
    at += match[0].length;
    return match[0];
  };
  const decode = (raw: string, inAttribute: boolean): string => {
    let out = "";
    for (let i = 0; i < raw.length; i++) {
      const c = raw[i]!;
      if (c === "<") return fail("'<' in text or attribute");
      if (c !== "&") {
        out += inAttribute && /[\t\r\n]/.test(c) ? " " : c;
        continue;
      }
      const end = raw.indexOf(";", i);
      if (end < 0) return fail("'&' without ';'");
      const entity = raw.slice(i + 1, end);
      const named: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
      if (entity in named) out += named[entity];
      else if (/^#\d+$/.test(entity)) out += String.fromCodePoint(Number(entity.slice(1)));
      else if (/^#x[0-9A-Fa-f]+$/.test(entity)) out += String.fromCodePoint(parseInt(entity.slice(2), 16));
      else return fail(`unknown entity &${entity};`);
      i = end;
    }
    return out;
  };
  const elementAt = (): XmlNode => {
    if (source[at] !== "<") fail("expected '<'");
    at++;
    const tag = name();
    const attributes: Record<string, string> = {};
    for (;;) {
      const before = at;
      skipSpace();
      if (source.startsWith("/>", at)) {
        at += 2;
        return { name: tag, attributes, children: [], text: "" };
      }
      if (source[at] === ">") {
        at++;
        break;
      }
      if (at === before) fail("expected a space before an attribute");
      const key = name();
      skipSpace();
      if (source[at] !== "=") fail("expected '='");
      at++;
      skipSpace();
      const quote = source[at];
      if (quote !== '"' && quote !== "'") fail("expected a quoted value");
      const end = source.indexOf(quote!, at + 1);
      if (end < 0) fail("unterminated attribute value");
      if (key in attributes) fail(`duplicate attribute ${key}`);
      attributes[key] = decode(source.slice(at + 1, end), true);
      at = end + 1;
    }
    const children: XmlNode[] = [];
    let text = "";
    for (;;) {
      if (at >= source.length) fail(`no end tag for <${tag}>`);
      if (source.startsWith("</", at)) {
        at += 2;
        const closing = name();
        if (closing !== tag) fail(`</${closing}> closes <${tag}>`);
        skipSpace();
        if (source[at] !== ">") fail("expected '>'");
        at++;
        return { name: tag, attributes, children, text };
      }
      if (source[at] === "<") {
        children.push(elementAt());
        continue;
      }
      const next = source.indexOf("<", at);
      const end = next < 0 ? source.length : next;
      text += decode(source.slice(at, end), false);
      at = end;
    }
  };
  if (source.startsWith("<?xml")) {
    const end = source.indexOf("?>");
    if (end < 0) fail("unterminated XML declaration");
    at = end + 2;
  }
  skipSpace();
  const root = elementAt();
  skipSpace();
  if (at !== source.length) fail("content after the root element");
  return root;
}

/** The one child of `node` named `name` (throws when there is not exactly one). */
export function child(node: XmlNode, name: string): XmlNode {
  const found = node.children.filter((c) => c.name === name);
  if (found.length !== 1) throw new Error(`<${node.name}> has ${found.length} <${name}> children, want 1`);
  return found[0]!;
}
