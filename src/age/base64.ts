/**
 * Strict, canonical, unpadded base64 (docs/formats/age.md "Encoding rules"): the encoding
 * of every header field.
 *
 * Node's `Buffer.from(text, "base64")` is lenient (padding, whitespace, non-canonical tails),
 * so decoding checks the alphabet and length first and then re-encodes and compares: a
 * string is accepted only if it is exactly what the encoder would have written.
 */
import { HeaderError } from "./errors.js"

const unpaddedAlphabet = /^[A-Za-z0-9+/]*$/

/**
 * Decodes canonical unpadded standard base64.
 * @param text the encoded text
 * @param what names the field in the error message ("stanza body", "header MAC")
 * @returns the decoded bytes
 * @throws HeaderError on padding, whitespace, invalid characters or a non-canonical tail
 */
export function decodeBase64Strict(text: string, what: string): Uint8Array {
  if (!unpaddedAlphabet.test(text)) {
    throw new HeaderError(`${what}: invalid base64 character or padding`, {
      hints: ["age header fields are unpadded standard base64 without spaces or line breaks"],
    })
  }
  if (text.length % 4 === 1) {
    throw new HeaderError(`${what}: invalid base64 length`)
  }
  const buffer = Buffer.from(text, "base64")
  if (encodeBase64(buffer) !== text) {
    // spec: decoders must reject non-canonical encodings (non-zero unused bits)
    throw new HeaderError(`${what}: non-canonical base64 encoding`)
  }
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
}

/**
 * @returns the canonical unpadded standard base64 encoding of `bytes`
 */
export function encodeBase64(bytes: Uint8Array): string {
  const padded = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")
  let end = padded.length
  while (end > 0 && padded.charCodeAt(end - 1) === 0x3d) end--
  return padded.slice(0, end)
}
