import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { plivoStreamXml, twilioStreamTwiml, vonageStreamNcco } from "../../src/telephony/answer-documents.js";
import { child, parseXml } from "../support/xml.js";

/** What XML 1.0 can carry: the writer drops the rest. */
const xmlCarries = (s: string): string =>
  [...s]
    .filter((c) => {
      const code = c.codePointAt(0)!;
      if (code === 0x9 || code === 0xa || code === 0xd) return true;
      if (code < 0x20 || code === 0xfffe || code === 0xffff) return false;
      return !(code >= 0xd800 && code <= 0xdfff && c.length === 1);
    })
    .join("");

describe("answer documents, any caller-supplied text", () => {
  it("a parameter value of any text parses back to itself (less what XML cannot carry), in a document of the same shape", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), fc.string({ unit: "grapheme" }), (from, to) => {
        const text = twilioStreamTwiml({
          streamUrl: "wss://h/telephony/twilio/ws",
          parameters: { from_number: from, to_number: to },
        });
        const root = parseXml(text);
        expect(root.children.map((c) => c.name)).toStrictEqual(["Connect"]);
        const stream = child(child(root, "Connect"), "Stream");
        expect(stream.children.map((p) => p.attributes)).toStrictEqual([
          { name: "from_number", value: xmlCarries(from) },
          { name: "to_number", value: xmlCarries(to) },
        ]);
      }),
      { numRuns: 500 },
    );
  });

  it("Plivo extraHeaders of any text stay letters, digits, '=' and ',' within 512 bytes", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.string({ unit: "binary" })), (headers) => {
        const stream = child(
          parseXml(plivoStreamXml({ streamUrl: "wss://h/ws", extraHeaders: headers })),
          "Stream",
        );
        const value = stream.attributes.extraHeaders ?? "";
        expect(value.length).toBeLessThanOrEqual(512);
        expect(value).toMatch(/^(?:[A-Za-z0-9]+=[A-Za-z0-9]+(?:,[A-Za-z0-9]+=[A-Za-z0-9]+)*)?$/);
      }),
      { numRuns: 300 },
    );
  });

  it("Vonage headers of any text come back unchanged from the NCCO's JSON", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (from) => {
        const ncco = JSON.parse(vonageStreamNcco({ streamUrl: "wss://h/ws", headers: { from } })) as [
          { endpoint: [{ headers: { from: string } }] },
        ];
        expect(ncco[0].endpoint[0].headers.from).toBe(from);
      }),
      { numRuns: 300 },
    );
  });
});
