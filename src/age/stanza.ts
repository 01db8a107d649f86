/**
 * One recipient stanza in its wire form (docs/formats/age.md "Grammar and parsing",
 * "Writing a stanza"): an argument line `-> type args...` and a body of unpadded base64
 * wrapped at 64 columns, always ended by a line shorter than 64 columns (possibly empty).
 * The same form carries stanzas in the plugin protocol (docs/formats/age.md "Plugins"), so
 * the parser works on a byte buffer from an offset and says how many bytes it used, or that
 * it needs more.
 */
import { decodeBase64Strict, encodeBase64 } from "./base64.js"
import { HeaderError } from "./errors.js"
import type { Stanza } from "./recipient.js"

const LF = 0x0a
/** Base64 columns per body line. */
export const COLUMNS_PER_LINE = 64
const BYTES_PER_LINE = 48

/**
 * Serialises a stanza: `->`, a space before the type and each argument, LF, then the body
 * wrapped at 64 columns ending with a short (possibly empty) line.
 * @returns the stanza text, ending in LF
 * @throws HeaderError if the type or an argument is empty or has a byte outside 0x21..0x7E
 */
export function encodeStanza(s: Stanza): string {
  for (const arg of [s.type, ...s.args]) checkArgument(arg)
  const args = [s.type, ...s.args].map((a) => ` ${a}`).join("")
  const body = encodeBase64(s.body)
  let text = `->${args}\n`
  let offset = 0
  for (; offset + COLUMNS_PER_LINE <= body.length; offset += COLUMNS_PER_LINE) {
    text += body.slice(offset, offset + COLUMNS_PER_LINE) + "\n"
  }
  // spec: the body always ends with a line shorter than 64 columns, empty if need be
  return text + body.slice(offset) + "\n"
}

/** A parsed stanza and the number of bytes it took. */
export interface ParsedStanza {
  readonly stanza: Stanza
  /** Bytes from the offset through the LF of the final body line. */
  readonly consumed: number
}

/**
 * Parses one stanza starting at `offset`.
 * @param what names the container in error messages ("header", "plugin message")
 * @returns the stanza and the bytes consumed, or null when `bytes` ends before the stanza does
 * @throws HeaderError on any syntax error (these apply to stanzas of every type)
 */
export function parseStanza(
  bytes: Uint8Array,
  offset: number,
  what = "header",
): ParsedStanza | null {
  const argEnd = bytes.indexOf(LF, offset)
  if (argEnd < 0) {
    checkPartialArgumentLine(bytes.subarray(offset), what)
    return null
  }
  const argLine = latin1(bytes.subarray(offset, argEnd))
  const parts = argLine.split(" ")
  if (parts[0] !== "->") {
    throw new HeaderError(`${what}: stanza line does not start with "-> "`)
  }
  if (parts.length < 2) {
    throw new HeaderError(`${what}: stanza has no type`)
  }
  for (const arg of parts.slice(1)) {
    try {
      checkArgument(arg)
    } catch (cause) {
      throw new HeaderError(`${what}: stanza argument is empty or has an invalid character`, {
        cause,
        hints: ["stanza arguments are printable ASCII separated by single spaces"],
      })
    }
  }
  const [type = "", ...args] = parts.slice(1)
  const bodyParts: Uint8Array[] = []
  let position = argEnd + 1
  for (;;) {
    const lineEnd = bytes.indexOf(LF, position)
    if (lineEnd < 0) {
      if (bytes.length - position > COLUMNS_PER_LINE) {
        throw new HeaderError(`${what}: stanza body line is longer than 64 columns`)
      }
      return null
    }
    const line = latin1(bytes.subarray(position, lineEnd))
    if (line.startsWith("->") || line.startsWith("---")) {
      throw new HeaderError(`${what}: stanza body is not ended by a short line`, {
        hints: ["files from age beta versions look like this; re-encrypt them with age 1.0+"],
      })
    }
    if (line.length > COLUMNS_PER_LINE) {
      throw new HeaderError(`${what}: stanza body line is longer than 64 columns`)
    }
    const decoded = decodeBase64Strict(line, `${what}: stanza body`)
    bodyParts.push(decoded)
    position = lineEnd + 1
    if (decoded.length < BYTES_PER_LINE) break
  }
  let length = 0
  for (const p of bodyParts) length += p.length
  const body = new Uint8Array(length)
  let at = 0
  for (const p of bodyParts) {
    body.set(p, at)
    at += p.length
  }
  return { stanza: { type, args, body }, consumed: position - offset }
}

/** @throws HeaderError unless `arg` is non-empty and all bytes are 0x21..0x7E */
function checkArgument(arg: string): void {
  if (arg.length === 0) throw new HeaderError("stanza argument is empty")
  for (let i = 0; i < arg.length; i++) {
    const c = arg.charCodeAt(i)
    if (c < 0x21 || c > 0x7e) {
      throw new HeaderError("stanza argument has a character outside printable ASCII")
    }
  }
}

/** Rejects an incomplete argument line early when what we have can't start a stanza. */
function checkPartialArgumentLine(partial: Uint8Array, what: string): void {
  const prefix = "-> "
  for (let i = 0; i < Math.min(partial.length, prefix.length); i++) {
    if (partial[i] !== prefix.charCodeAt(i)) {
      throw new HeaderError(`${what}: stanza line does not start with "-> "`)
    }
  }
}

/** Bytes as a string of code points 0..255 (so invalid bytes stay visible to the checks). */
export function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1")
}
