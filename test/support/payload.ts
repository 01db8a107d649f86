/**
 * The single-threaded STREAM payload (src/age/payload.ts) as the reference the parallel and
 * positional paths are checked against, and the damage the property tests apply.
 */
import { PayloadDecryptor, PayloadEncryptor } from "../../src/age/payload.js"
import { concatBytes } from "../../src/internal/bytes.js"

/** @returns the payload PayloadEncryptor writes for `plaintext` under `key` */
export function referenceSeal(key: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const out: Uint8Array[] = []
  const encryptor = new PayloadEncryptor(key)
  encryptor.push(plaintext, (c) => out.push(c))
  encryptor.finish((c) => out.push(c))
  return concatBytes(...out)
}

/** @returns what PayloadDecryptor releases from `ciphertext`, and its error (or null) */
export function referenceOpen(
  key: Uint8Array,
  ciphertext: Uint8Array,
): { out: Uint8Array; error: unknown } {
  const out: Uint8Array[] = []
  const decryptor = new PayloadDecryptor(key)
  try {
    decryptor.push(ciphertext, (c) => out.push(c))
    decryptor.finish((c) => out.push(c))
    return { out: concatBytes(...out), error: null }
  } catch (error) {
    return { out: concatBytes(...out), error }
  }
}

/** One damage to a payload: a bit flipped, the end cut, or zeros appended. */
export type Damage = "flip" | "cut" | "append"

/** @returns `ciphertext` with one damage at (or of a size from) `at` */
export function damage(ciphertext: Uint8Array, at: number, how: Damage): Uint8Array {
  if (how === "flip" && at < ciphertext.length) {
    const bytes = ciphertext.slice()
    bytes[at] = (bytes[at] ?? 0) ^ 0x80
    return bytes
  }
  if (how === "cut") return ciphertext.subarray(0, Math.min(at, ciphertext.length))
  return concatBytes(ciphertext, new Uint8Array(at % 70_000))
}
