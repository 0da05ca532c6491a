import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeMultipart } from "../../../src/services/openai-audio/multipart.js";

/** Parses the body as Node's fetch does (undici's multipart parser), so the encoding is checked by another implementation. */
async function parse(encoded: { body: Uint8Array; contentType: string }): Promise<FormData> {
  return new Response(encoded.body, { headers: { "content-type": encoded.contentType } }).formData();
}

describe("encodeMultipart", () => {
  it("encodes text fields and a file that a standard parser reads back exactly", async () => {
    const file = Uint8Array.from({ length: 1000 }, (_, i) => (i * 13) & 0xff);
    const form = await parse(
      encodeMultipart([
        { name: "file", file, filename: "audio.wav", type: "audio/wav" },
        { name: "model", value: "gpt-4o-transcribe" },
        { name: "prompt", value: 'Café "quoted"\r\n--not-a-boundary 😀' },
      ]),
    );
    const got = form.get("file") as File;
    expect(got.name).toBe("audio.wav");
    expect(got.type).toBe("audio/wav");
    expect(new Uint8Array(await got.arrayBuffer())).toEqual(file);
    expect(form.get("model")).toBe("gpt-4o-transcribe");
    expect(form.get("prompt")).toBe('Café "quoted"\r\n--not-a-boundary 😀');
  });

  it("escapes quotes and line breaks in names and file names, as browsers do", async () => {
    const encoded = encodeMultipart([
      { name: 'a"b\r\nc', file: new Uint8Array([1]), filename: 'x".wav', type: "audio/wav" },
    ]);
    const text = Buffer.from(encoded.body).toString("latin1");
    expect(text).toContain('name="a%22b%0D%0Ac"; filename="x%22.wav"');
  });

  it("property: any text values and file bytes come back unchanged", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.string({ unit: "grapheme" }), { maxLength: 4 }),
        fc.uint8Array({ maxLength: 2048 }),
        async (values, bytes) => {
          const form = await parse(
            encodeMultipart([
              ...values.map((value, i) => ({ name: `f${i}`, value })),
              { name: "file", file: bytes, filename: "a.bin", type: "application/octet-stream" },
            ]),
          );
          values.forEach((v, i) => expect(form.get(`f${i}`)).toBe(v));
          expect(new Uint8Array(await (form.get("file") as File).arrayBuffer())).toEqual(bytes);
        },
      ),
      { numRuns: 60 },
    );
  });
});
