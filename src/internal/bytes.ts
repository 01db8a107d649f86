/**
 * Small byte helpers shared by every domain. Bytes are `Uint8Array` in the core; Node
 * `Buffer`s are converted at the edges.
 */
import { timingSafeEqual } from "node:crypto"

const encoder = new TextEncoder()
const strictDecoder = new TextDecoder("utf-8", { fatal: true })

/**
 * @returns the UTF-8 encoding of `text`
 */
export function encodeUtf8(text: string): Uint8Array {
  return encoder.encode(text)
}

/**
 * @returns the text of `bytes`
 * @throws TypeError if `bytes` is not valid UTF-8
 */
export function decodeUtf8(bytes: Uint8Array): string {
  return strictDecoder.decode(bytes)
}

/**
 * @returns one array holding all `parts` in order
 */
export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let length = 0
  for (const p of parts) length += p.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}

/**
 * Compares two byte strings in time that depends only on their lengths (for MACs and tags:
 * an early exit would tell an attacker how many leading bytes were right).
 * @returns true when `a` and `b` hold the same bytes
 */
export function equalBytesConstantTime(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  return timingSafeEqual(a, b)
}

/**
 * Overwrites key material once it is no longer needed (best effort: the garbage collector
 * may have copied it, but this keeps it out of later heap snapshots and core dumps).
 */
export function wipeBytes(bytes: Uint8Array): void {
  bytes.fill(0)
}

/** @returns a view of `buffer` as a plain `Uint8Array` (no copy) */
export function asUint8Array(buffer: ArrayBufferView): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
}
