import { InvalidOptionError } from "../errors.js";

/**
 * The documents a telephony provider fetches when a call comes in, each telling it to open a
 * bidirectional media stream to a WebSocket URL (docs/design/dev-server.md, "Phone calls").
 * Pure functions: every value goes through XML escaping (or JSON encoding) when the document is
 * rendered, so a caller number such as `"/><Hangup/>` stays text.
 */

/** Options of {@link twilioStreamTwiml}. */
export interface TwilioStreamOptions {
  /** `wss://…` (Twilio refuses `ws://` outside a test). */
  streamUrl: string;
  /** `<Parameter>`s of the stream; they arrive as `start.customParameters`. */
  parameters?: Readonly<Record<string, string>>;
}

/**
 * TwiML connecting the call to a bidirectional Media Stream:
 * `<Response><Connect><Stream url="…"><Parameter name value/>…</Stream></Connect></Response>`.
 * `<Connect>` holds the call until the socket closes.
 */
export function twilioStreamTwiml(options: TwilioStreamOptions): string {
  const parameters = Object.entries(options.parameters ?? {}).map(([name, value]) =>
    element("Parameter", { name, value }),
  );
  const stream = element(
    "Stream",
    { url: checkStreamUrl(options.streamUrl, "twilioStreamTwiml") },
    parameters,
  );
  return renderDocument(element("Response", {}, [element("Connect", {}, [stream])]));
}

/** Options of {@link telnyxStreamTexml}. */
export interface TelnyxStreamOptions {
  /** `wss://…`. */
  streamUrl: string;
  /** What voicepipe sends back (`bidirectionalCodec`). @default "PCMU" */
  codec?: "PCMU" | "PCMA" | "G722" | "OPUS" | "AMR-WB";
  /** Rate of the audio voicepipe sends back, in Hz (`bidirectionalSamplingRate`). @default 8000 */
  samplingRate?: 8000 | 16000 | 24000;
}

/**
 * TeXML connecting the call to a bidirectional media stream in RTP mode (raw codec payloads both
 * ways; the default `mp3` mode takes MP3 files, at most one a second):
 * `<Response><Connect><Stream url="…" bidirectionalMode="rtp" bidirectionalCodec="PCMU"
 * bidirectionalSamplingRate="8000"/></Connect></Response>`. Telnyx's `<Connect>` runs the stream
 * synchronously: the call stays on it until the socket closes.
 */
export function telnyxStreamTexml(options: TelnyxStreamOptions): string {
  const stream = element("Stream", {
    url: checkStreamUrl(options.streamUrl, "telnyxStreamTexml"),
    bidirectionalMode: "rtp",
    bidirectionalCodec: options.codec ?? "PCMU",
    bidirectionalSamplingRate: String(options.samplingRate ?? 8000),
  });
  return renderDocument(element("Response", {}, [element("Connect", {}, [stream])]));
}

/** Options of {@link plivoStreamXml}. */
export interface PlivoStreamOptions {
  /** `wss://…`: the element's text, not an attribute. */
  streamUrl: string;
  /**
   * Format of the stream both ways. Plivo's own default is `audio/x-l16;rate=8000`; voicepipe's
   * Plivo serializer expects μ-law unless told otherwise. @default "audio/x-mulaw;rate=8000"
   */
  contentType?: "audio/x-mulaw;rate=8000" | "audio/x-l16;rate=8000" | "audio/x-l16;rate=16000";
  /**
   * `extraHeaders`: arrive as the `start` message's `extra_headers` (`k=v,k2=v2`). Plivo takes
   * letters and digits only, 512 bytes at most: other characters are dropped (`+1555…` becomes
   * `1555…`), and an entry left empty is left out.
   */
  extraHeaders?: Readonly<Record<string, string>>;
}

/** Plivo's limit on `extraHeaders`, in bytes. */
const PLIVO_EXTRA_HEADERS_BYTES = 512;

/**
 * Plivo XML streaming the call both ways and holding it while the socket is open:
 * `<Response><Stream bidirectional="true" keepCallAlive="true" contentType="…">wss://…</Stream></Response>`.
 */
export function plivoStreamXml(options: PlivoStreamOptions): string {
  const attributes: Record<string, string> = {
    bidirectional: "true",
    keepCallAlive: "true",
    contentType: options.contentType ?? "audio/x-mulaw;rate=8000",
  };
  const extra = plivoExtraHeaders(options.extraHeaders ?? {});
  if (extra !== "") attributes.extraHeaders = extra;
  const stream = element("Stream", attributes, checkStreamUrl(options.streamUrl, "plivoStreamXml"));
  return renderDocument(element("Response", {}, [stream]));
}

function plivoExtraHeaders(headers: Readonly<Record<string, string>>): string {
  const entries: string[] = [];
  let bytes = 0;
  for (const [key, value] of Object.entries(headers)) {
    const k = key.replace(/[^A-Za-z0-9]/g, "");
    const v = value.replace(/[^A-Za-z0-9]/g, "");
    if (k === "" || v === "") continue;
    const entry = `${k}=${v}`;
    const added = entry.length + (entries.length > 0 ? 1 : 0);
    if (bytes + added > PLIVO_EXTRA_HEADERS_BYTES) break;
    entries.push(entry);
    bytes += added;
  }
  return entries.join(",");
}

/** Options of {@link vonageStreamNcco}. */
export interface VonageStreamOptions {
  /** `wss://…`. */
  streamUrl: string;
  /** Format both ways. @default "audio/l16;rate=16000" */
  contentType?: "audio/l16;rate=8000" | "audio/l16;rate=16000" | "audio/l16;rate=24000";
  /** Echoed in the socket's first message (`websocket:connected`). */
  headers?: Readonly<Record<string, string>>;
}

/**
 * An NCCO (JSON) connecting the call to a WebSocket:
 * `[{"action":"connect","endpoint":[{"type":"websocket","uri":"wss://…","content-type":"audio/l16;rate=16000","headers":{…}}]}]`.
 */
export function vonageStreamNcco(options: VonageStreamOptions): string {
  const endpoint = {
    type: "websocket",
    uri: checkStreamUrl(options.streamUrl, "vonageStreamNcco"),
    "content-type": options.contentType ?? "audio/l16;rate=16000",
    headers: { ...options.headers },
  };
  return JSON.stringify([{ action: "connect", endpoint: [endpoint] }]);
}

function checkStreamUrl(url: string, who: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || (parsed.protocol !== "wss:" && parsed.protocol !== "ws:")) {
    throw new InvalidOptionError(
      `${who}: streamUrl must be a ws:// or wss:// URL (got ${JSON.stringify(url)}); providers connect to wss:// outside a test`,
    );
  }
  return url;
}

// ---------------------------------------------------------------------------------------------
// A small XML writer: every name and value goes through escaping when rendered, so no caller
// ever concatenates input into markup.

interface XmlElement {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  /** Child elements, or the element's text. */
  readonly content: readonly XmlElement[] | string;
}

function element(
  name: string,
  attributes: Readonly<Record<string, string>>,
  content: readonly XmlElement[] | string = [],
): XmlElement {
  return { name, attributes, content };
}

function renderDocument(root: XmlElement): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n${render(root)}`;
}

function render(node: XmlElement): string {
  const name = xmlName(node.name);
  const attributes = Object.entries(node.attributes)
    .map(([key, value]) => ` ${xmlName(key)}="${escapeXml(value, true)}"`)
    .join("");
  if (typeof node.content === "string")
    return `<${name}${attributes}>${escapeXml(node.content, false)}</${name}>`;
  if (node.content.length === 0) return `<${name}${attributes}/>`;
  return `<${name}${attributes}>${node.content.map(render).join("")}</${name}>`;
}

/** Element and attribute names are ours, never input; a bad one is a bug here. */
function xmlName(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name))
    throw new RangeError(`not an XML name: ${JSON.stringify(name)}`);
  return name;
}

/**
 * Text safe inside an element or a double-quoted attribute. Characters XML 1.0 cannot carry at all
 * (controls other than tab, newline and carriage return; lone surrogates; U+FFFE, U+FFFF) are
 * dropped: a document holding one is not well-formed, and the provider would fail the call. In
 * an attribute, tab and line ends are written as references, which a parser keeps (it would turn
 * the characters themselves into spaces).
 */
function escapeXml(text: string, attribute: boolean): string {
  let out = "";
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (!xmlChar(code, char.length)) continue;
    switch (char) {
      case "&":
        out += "&amp;";
        break;
      case "<":
        out += "&lt;";
        break;
      case ">":
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case "'":
        out += "&apos;";
        break;
      case "\t":
      case "\n":
      case "\r":
        out += attribute ? `&#${code};` : char;
        break;
      default:
        out += char;
    }
  }
  return out;
}

/** Whether XML 1.0 allows the character (`length` 1 for a lone surrogate, which iterates alone). */
function xmlChar(code: number, length: number): boolean {
  if (code === 0x9 || code === 0xa || code === 0xd) return true;
  if (code < 0x20) return false;
  if (code >= 0xd800 && code <= 0xdfff && length === 1) return false;
  return code !== 0xfffe && code !== 0xffff;
}
