import { randomBytes } from "node:crypto";

/** One part of a `multipart/form-data` body: a text field, or a file. */
export type FormPart =
  | { readonly name: string; readonly value: string }
  | { readonly name: string; readonly file: Uint8Array; readonly filename: string; readonly type: string };

/**
 * A `multipart/form-data` body (RFC 7578) as bytes, with the `Content-Type` that names its
 * boundary. Made here rather than as a `FormData` so the body is plain bytes that any `fetch`
 * sends as they are (`httpFetch` sends bytes itself and hands a `FormData` to Node's fetch), and
 * that can be sent again on a retry. Names and file names are escaped as browsers do (`"` → `%22`,
 * CR and LF → `%0D`, `%0A`); the boundary is 128 random bits, so no part can contain it by chance.
 */
export function encodeMultipart(parts: readonly FormPart[]): { body: Uint8Array; contentType: string } {
  const boundary = `----voicepipe${randomBytes(16).toString("hex")}`;
  const chunks: Uint8Array[] = [];
  for (const part of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${escape(part.name)}"`;
    if ("file" in part) {
      head += `; filename="${escape(part.filename)}"\r\nContent-Type: ${part.type}`;
    }
    chunks.push(Buffer.from(`${head}\r\n\r\n`), "file" in part ? part.file : Buffer.from(part.value), CRLF);
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

const CRLF = Buffer.from("\r\n");

function escape(text: string): string {
  return text.replace(/"/gu, "%22").replace(/\r/gu, "%0D").replace(/\n/gu, "%0A");
}
