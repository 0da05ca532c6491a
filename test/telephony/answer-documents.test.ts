import { describe, expect, it } from "vitest";
import {
  plivoStreamXml,
  telnyxStreamTexml,
  twilioStreamTwiml,
  vonageStreamNcco,
} from "../../src/telephony/answer-documents.js";
import { child, parseXml } from "../support/xml.js";

const URL_ = "wss://bot.example.com/telephony/twilio/ws/T1";

describe("answer documents", () => {
  it("Twilio: <Connect><Stream url> with one <Parameter> per value, in order", () => {
    const text = twilioStreamTwiml({
      streamUrl: URL_,
      parameters: { from_number: "+15550100001", to_number: "+15550100002" },
    });
    expect(text.startsWith('<?xml version="1.0" encoding="UTF-8"?>')).toBe(true);
    const root = parseXml(text);
    expect(root.name).toBe("Response");
    const stream = child(child(root, "Connect"), "Stream");
    expect(stream.attributes).toStrictEqual({ url: URL_ });
    expect(stream.children.map((p) => p.attributes)).toStrictEqual([
      { name: "from_number", value: "+15550100001" },
      { name: "to_number", value: "+15550100002" },
    ]);
  });

  it("Telnyx: <Connect><Stream> in RTP mode, PCMU at 8 kHz back to the caller", () => {
    const root = parseXml(telnyxStreamTexml({ streamUrl: URL_ }));
    expect(root.name).toBe("Response");
    const stream = child(child(root, "Connect"), "Stream");
    expect(stream.attributes).toStrictEqual({
      url: URL_,
      bidirectionalMode: "rtp",
      bidirectionalCodec: "PCMU",
      bidirectionalSamplingRate: "8000",
    });
    const wide = child(
      child(parseXml(telnyxStreamTexml({ streamUrl: URL_, codec: "PCMA", samplingRate: 16000 })), "Connect"),
      "Stream",
    );
    expect(wide.attributes).toMatchObject({ bidirectionalCodec: "PCMA", bidirectionalSamplingRate: "16000" });
  });

  it("Plivo: the URL is the <Stream> element's text; bidirectional, keepCallAlive, μ-law 8 kHz", () => {
    const root = parseXml(
      plivoStreamXml({
        streamUrl: URL_,
        extraHeaders: { from: "+1 (555) 010-0001", to: "sip:bot@x", empty: "+" },
      }),
    );
    const stream = child(root, "Stream");
    expect(stream.text).toBe(URL_);
    expect(stream.attributes).toStrictEqual({
      bidirectional: "true",
      keepCallAlive: "true",
      contentType: "audio/x-mulaw;rate=8000",
      // Plivo takes letters and digits only: the rest is dropped, an empty entry left out.
      extraHeaders: "from=15550100001,to=sipbotx",
    });
    expect(child(parseXml(plivoStreamXml({ streamUrl: URL_ })), "Stream").attributes).not.toHaveProperty(
      "extraHeaders",
    );
  });

  it("Plivo: extraHeaders stay within Plivo's 512 bytes", () => {
    const headers = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, "v".repeat(20)]));
    const value = child(parseXml(plivoStreamXml({ streamUrl: URL_, extraHeaders: headers })), "Stream")
      .attributes.extraHeaders!;
    expect(value.length).toBeLessThanOrEqual(512);
    expect(value.split(",").every((entry) => /^k\d+=v{20}$/.test(entry))).toBe(true);
  });

  it("Vonage: an NCCO connecting a websocket endpoint at 16 kHz L16 with the call's headers", () => {
    const ncco = JSON.parse(
      vonageStreamNcco({ streamUrl: URL_, headers: { call_uuid: "abc", from: "4470000000" } }),
    ) as unknown;
    expect(ncco).toStrictEqual([
      {
        action: "connect",
        endpoint: [
          {
            type: "websocket",
            uri: URL_,
            "content-type": "audio/l16;rate=16000",
            headers: { call_uuid: "abc", from: "4470000000" },
          },
        ],
      },
    ]);
  });

  it("keeps markup in values as text: quotes, angle brackets, ampersands, line ends", () => {
    const hostile = `"/><Hangup/><Parameter name="x' & <!-- \r\n\t`;
    const root = parseXml(twilioStreamTwiml({ streamUrl: URL_, parameters: { from_number: hostile } }));
    const stream = child(child(root, "Connect"), "Stream");
    expect(stream.children).toHaveLength(1);
    expect(stream.children[0]!.attributes.value).toBe(hostile);
    const plivo = child(parseXml(plivoStreamXml({ streamUrl: `${URL_}?a=1&b=<2>` })), "Stream");
    expect(plivo.text).toBe(`${URL_}?a=1&b=<2>`);
  });

  it("drops characters XML cannot carry instead of writing a document the provider would reject", () => {
    const text = twilioStreamTwiml({
      streamUrl: URL_,
      parameters: { from_number: "a\u0000b\u001bc\ud800d\uffffe" },
    });
    const stream = child(child(parseXml(text), "Connect"), "Stream");
    expect(stream.children[0]!.attributes.value).toBe("abcde");
  });

  it("refuses a stream URL that is not ws:// or wss://, naming the function", () => {
    expect(() => twilioStreamTwiml({ streamUrl: "https://x/ws" })).toThrow(
      /twilioStreamTwiml: streamUrl must be a ws:\/\/ or wss:\/\/ URL/,
    );
    expect(() => plivoStreamXml({ streamUrl: "not a url" })).toThrow(/plivoStreamXml/);
  });
});
