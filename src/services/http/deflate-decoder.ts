import { Transform, type TransformCallback } from "node:stream";
import { type Inflate, type InflateRaw, createInflate, createInflateRaw } from "node:zlib";

/**
 * A decoder for `content-encoding: deflate` that reads both forms servers send: deflate in a zlib
 * wrapper, as HTTP means it, and raw deflate, which some servers send instead. The first byte
 * tells them apart (a zlib header's low four bits are 8, "deflate"), as `fetch` (undici) tells
 * them apart. Its output waits for its reader (the inner decoder is paused while this stream's
 * buffer is full), so a small body that inflates to a large one is not decoded ahead of the reader.
 */
export function createDeflateDecoder(): Transform {
  return new DeflateDecoder();
}

class DeflateDecoder extends Transform {
  #inner: Inflate | InflateRaw | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (chunk.length === 0) return callback();
    this.#inner ??= this.#begin((chunk[0]! & 0x0f) === 0x08);
    this.#inner.write(chunk, () => callback());
  }

  override _flush(callback: TransformCallback): void {
    const inner = this.#inner;
    if (!inner) return callback();
    inner.once("end", () => callback());
    inner.end();
  }

  override _read(size: number): void {
    this.#inner?.resume(); // the reader wants more: let the inner decoder go on
    super._read(size);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#inner?.destroy();
    callback(error);
  }

  #begin(zlibWrapped: boolean): Inflate | InflateRaw {
    const inner = zlibWrapped ? createInflate() : createInflateRaw();
    inner.on("data", (data: Buffer) => {
      if (!this.push(data)) inner.pause();
    });
    inner.once("error", (error) => this.destroy(error));
    return inner;
  }
}
