/**
 * Turns byte chunks of PCM16 little-endian audio into `Int16Array`s, carrying an odd trailing
 * byte over to the next chunk: a provider may cut its audio anywhere (a base64 chunk of 4097
 * bytes, an HTTP body chunk), and reading a half sample would shift every sample after it into
 * noise. One carry per stream (per piece being spoken); {@link reset} between streams.
 */
export class PcmByteCarry {
  #carry: number | undefined;
  /** Odd bytes left over at a {@link reset} (a stream that ended on half a sample), dropped. */
  droppedBytes = 0;

  /** The whole samples in `carry + bytes`; keeps a trailing odd byte for the next call. */
  push(bytes: Uint8Array): Int16Array {
    const total = bytes.length + (this.#carry === undefined ? 0 : 1);
    const samples = total >> 1;
    const out = new Int16Array(samples);
    const view = new Uint8Array(out.buffer);
    let from = 0;
    if (this.#carry !== undefined && samples > 0) {
      view[0] = this.#carry;
      view[1] = bytes[0]!;
      from = 1;
      this.#carry = undefined;
      view.set(bytes.subarray(from, from + (samples - 1) * 2), 2);
      from += (samples - 1) * 2;
    } else if (samples > 0) {
      view.set(bytes.subarray(0, samples * 2));
      from = samples * 2;
    }
    if (from < bytes.length) this.#carry = bytes[from];
    if (!LITTLE_ENDIAN) swapBytes(out);
    return out;
  }

  /** True while half a sample waits for its other byte. */
  get pending(): boolean {
    return this.#carry !== undefined;
  }

  /** Forgets a carried byte (counted in {@link droppedBytes}): the next push starts a new stream. */
  reset(): void {
    if (this.#carry !== undefined) this.droppedBytes++;
    this.#carry = undefined;
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function swapBytes(samples: Int16Array): void {
  for (let i = 0; i < samples.length; i++) {
    const v = samples[i]!;
    samples[i] = ((v & 0xff) << 8) | ((v >> 8) & 0xff);
  }
}
