/**
 * Bech32 (BIP-173 checksum and charset) without the 90-character limit, as age uses it for
 * keys (docs/formats/age.md "Encoding rules"): a post-quantum recipient is about 1959
 * characters. Strings must be all lower or all upper case; the human-readable part is
 * returned in its original case so callers can insist on `age` vs `AGE-SECRET-KEY-` exactly
 * as the Go reference does.
 */
import { bech32 } from "@scure/base"

/**
 * Encodes `data` with the human-readable part `hrp` (output case follows `hrp`'s case).
 * @returns the Bech32 string
 */
export function encodeBech32(hrp: string, data: Uint8Array): string {
  const upper = hrp !== hrp.toLowerCase()
  const text = bech32.encode(hrp.toLowerCase(), bech32.toWords(data), false)
  return upper ? text.toUpperCase() : text
}

/**
 * Decodes a Bech32 string of any length.
 * @returns the human-readable part (in the case it was written) and the data bytes
 * @throws Error (plain, never quoting the input) on mixed case, a bad checksum, bad characters or
 *   non-zero padding bits; callers wrap it in their own parse error class
 */
export function decodeBech32(text: string): { hrp: string; data: Uint8Array } {
  if (text !== text.toLowerCase() && text !== text.toUpperCase()) {
    throw new Error("mixed-case bech32 string")
  }
  let data: Uint8Array
  try {
    const decoded = bech32.decode(text as `${string}1${string}`, false)
    // spec: non-zero or over-long padding bits are rejected (fromWords is strict)
    data = bech32.fromWords(decoded.words)
  } catch (error) {
    // the codec's messages quote the input, which may be a secret key: don't pass them on
    const reason =
      error instanceof Error && /checksum/i.test(error.message) ? "bad checksum" : "malformed"
    throw new Error(`invalid bech32 string (${reason})`)
  }
  const hrp = text.slice(0, text.lastIndexOf("1"))
  return { hrp, data }
}
