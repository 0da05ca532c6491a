/**
 * Sample arrays for the per-chunk work of a session (an output chunk, its mixed copy), cut
 * from Node's shared `Buffer` pool instead of each having a backing store of its own.
 *
 * Why: `new Int16Array(n)` of more than a few dozen samples allocates its own `ArrayBuffer`
 * outside the heap, which costs about 1.3 µs and later garbage-collector work (measured on
 * Node 20, 512 bytes); a slice of the 8 KiB pool costs about 0.2 µs. Dozens of frames a second
 * per session, times a hundred sessions, make the difference show. The price: an array keeps
 * its pool slab (8 KiB) alive while it is kept, at most 8 KiB / its size times its own bytes
 * (4× for a 40 ms chunk at 24 kHz), and only for as long as it is kept. Arrays of half the pool
 * or more (4 KiB, 2,048 samples) get a buffer of their own, as `Buffer.allocUnsafe` does.
 */

/**
 * An uninitialized array of `length` samples: the caller must write every sample before anyone
 * reads it.
 */
export function pooledInt16(length: number): Int16Array {
  // Buffer.allocUnsafe aligns pool slices to 8 bytes, so the view is always aligned for Int16.
  const bytes = Buffer.allocUnsafe(length * 2);
  return new Int16Array(bytes.buffer, bytes.byteOffset, length);
}

/** A copy of `samples` (of its own, not a view: writes to one never show in the other). */
export function pooledCopy(samples: Int16Array): Int16Array {
  const out = pooledInt16(samples.length);
  out.set(samples);
  return out;
}

/** `length` samples of silence. */
export function pooledSilence(length: number): Int16Array {
  return pooledInt16(length).fill(0);
}
