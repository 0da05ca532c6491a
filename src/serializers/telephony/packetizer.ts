/**
 * Cuts a stream of wire bytes into the message sizes a provider asks for: exactly 20 ms a
 * message for most, "at least 3,200 bytes and a multiple of 320" for Exotel. Holds less than one
 * message between calls, so it never grows.
 */
export interface PacketRule {
  /** Bytes of one message; a message may hold several when `multipleOf` is set. */
  readonly packetBytes: number;
  /**
   * When set, a message may be any multiple of this many bytes that is at least `packetBytes`
   * (Exotel: 320, with `packetBytes` 3200); else every message is exactly `packetBytes`.
   */
  readonly multipleOf?: number;
  /**
   * With `multipleOf`: the most bytes one message may hold (Exotel: about 100 KB); longer runs of
   * audio go in several messages, each still at least `packetBytes`. At least `2 × packetBytes`.
   * @default no limit
   */
  readonly maxBytes?: number;
}

export class Packetizer {
  readonly #rule: PacketRule;
  readonly #fill: number;
  /** Bytes waiting for a whole message: fewer than `packetBytes`. */
  #carry: Uint8Array = new Uint8Array(0);

  /** `fill`: the byte value padding is made of (the encoding's silence). */
  constructor(rule: PacketRule, fill: number) {
    if (!Number.isInteger(rule.packetBytes) || rule.packetBytes < 1) {
      throw new RangeError(`Packetizer: packetBytes must be a whole number ≥ 1 (got ${rule.packetBytes})`);
    }
    const step = rule.multipleOf;
    if (step !== undefined && (!Number.isInteger(step) || step < 1 || rule.packetBytes % step !== 0)) {
      throw new RangeError(
        `Packetizer: multipleOf must be a whole number dividing packetBytes (got ${step})`,
      );
    }
    const max = rule.maxBytes;
    if (max !== undefined && (step === undefined || !Number.isInteger(max) || max < 2 * rule.packetBytes)) {
      throw new RangeError(
        `Packetizer: maxBytes needs multipleOf and must be a whole number ≥ 2 × packetBytes (got ${max})`,
      );
    }
    this.#rule = rule;
    this.#fill = fill;
  }

  /** Bytes held for the next message. */
  get pending(): number {
    return this.#carry.byteLength;
  }

  /** Adds `bytes`; returns the whole messages they complete, in order (often none or one). */
  push(bytes: Uint8Array): Uint8Array[] {
    const { packetBytes, multipleOf } = this.#rule;
    const total = this.#carry.byteLength + bytes.byteLength;
    if (total < packetBytes) {
      // Copied: `bytes` may be a view the caller reuses.
      this.#carry = this.#carry.byteLength === 0 ? bytes.slice() : concat(this.#carry, bytes);
      return [];
    }
    const all = concat(this.#carry, bytes);
    const out: Uint8Array[] = [];
    if (multipleOf !== undefined) {
      // One message of every whole step there is: fewest messages, each at least packetBytes
      // and (with maxBytes) at most maxBytes.
      const size = total - (total % multipleOf);
      const max =
        this.#rule.maxBytes === undefined ? size : this.#rule.maxBytes - (this.#rule.maxBytes % multipleOf);
      let at = 0;
      while (size - at > max) {
        // Never leave less than packetBytes for the last message.
        const take = Math.min(max, size - at - packetBytes);
        out.push(all.subarray(at, at + take));
        at += take;
      }
      out.push(all.subarray(at, size));
      this.#carry = all.slice(size);
      return out;
    }
    let at = 0;
    for (; at + packetBytes <= total; at += packetBytes) out.push(all.subarray(at, at + packetBytes));
    this.#carry = all.slice(at);
    return out;
  }

  /** The held bytes padded with silence to one whole message, or undefined when none are held. */
  flush(): Uint8Array | undefined {
    if (this.#carry.byteLength === 0) return undefined;
    const out = new Uint8Array(this.#rule.packetBytes).fill(this.#fill);
    out.set(this.#carry);
    this.#carry = new Uint8Array(0);
    return out;
  }

  /** Drops the held bytes (an interruption: they are stale). */
  clear(): void {
    this.#carry = new Uint8Array(0);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.byteLength === 0) return b;
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}
