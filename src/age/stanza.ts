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
/** The most arguments a stanza may have after its type (age 1.3.2's limit). */
export const MAX_STANZA_ARGUMENTS = 128

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
  const { type, args } = parseArgumentLine(latin1(bytes.subarray(offset, argEnd)), what)
  const body = new BodyCollector()
  let position = argEnd + 1
  for (;;) {
    const lineEnd = bytes.indexOf(LF, position)
    if (lineEnd < 0) {
      checkPartialBodyLine(bytes.length - position, what)
      return null
    }
    const last = body.add(latin1(bytes.subarray(position, lineEnd)), what)
    position = lineEnd + 1
    if (last) break
  }
  return { stanza: { type, args, body: body.bytes() }, consumed: position - offset }
}

/**
 * Parses a stanza's argument line (without its LF): `->`, then the type and the arguments,
 * each after one space (age 1.3 allows at most 128 arguments after the type).
 * @param what names the container in error messages
 * @returns the type and the arguments
 * @throws HeaderError when the line is not a valid argument line
 */
export function parseArgumentLine(
  argLine: string,
  what: string,
): { readonly type: string; readonly args: string[] } {
  const parts = argLine.split(" ")
  if (parts[0] !== "->") {
    throw new HeaderError(`${what}: stanza line does not start with "-> "`)
  }
  if (parts.length < 2) {
    throw new HeaderError(`${what}: stanza has no type`)
  }
  if (parts.length - 2 > MAX_STANZA_ARGUMENTS) {
    throw new HeaderError(
      `${what}: stanza has more than ${String(MAX_STANZA_ARGUMENTS)} arguments`,
      { hints: ["age 1.3 refuses such a stanza too; the file is damaged or hostile"] },
    )
  }
  for (let i = 1; i < parts.length; i++) {
    try {
      checkArgument(parts[i] ?? "")
    } catch (cause) {
      throw new HeaderError(`${what}: stanza argument is empty or has an invalid character`, {
        cause,
        hints: ["stanza arguments are printable ASCII separated by single spaces"],
      })
    }
  }
  const [type = "", ...args] = parts.slice(1)
  return { type, args }
}

/**
 * A stanza body read line by line: full 64-column lines, then a short (possibly empty) one.
 */
export class BodyCollector {
  readonly #parts: Uint8Array[] = []
  #length = 0

  /**
   * Adds one body line (without its LF).
   * @param what names the container in error messages
   * @returns whether this was the body's last (short) line
   * @throws HeaderError when the line can't be a body line
   */
  add(line: string, what: string): boolean {
    if (line.startsWith("->") || line.startsWith("---")) {
      throw new HeaderError(`${what}: stanza body is not ended by a short line`, {
        hints: ["files from age beta versions look like this; re-encrypt them with age 1.0+"],
      })
    }
    if (line.length > COLUMNS_PER_LINE) {
      throw new HeaderError(`${what}: stanza body line is longer than 64 columns`)
    }
    const decoded = decodeBase64Strict(line, `${what}: stanza body`)
    this.#parts.push(decoded)
    this.#length += decoded.length
    return decoded.length < BYTES_PER_LINE
  }

  /** @returns the body so far, in one array */
  bytes(): Uint8Array {
    const body = new Uint8Array(this.#length)
    let at = 0
    for (const p of this.#parts) {
      body.set(p, at)
      at += p.length
    }
    return body
  }
}

/**
 * Refuses an incomplete body line that is already too long.
 * @param length the bytes of the line seen so far (no LF yet)
 * @throws HeaderError when the line has more than 64 columns
 */
export function checkPartialBodyLine(length: number, what: string): void {
  if (length > COLUMNS_PER_LINE) {
    throw new HeaderError(`${what}: stanza body line is longer than 64 columns`)
  }
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
export function checkPartialArgumentLine(partial: Uint8Array, what: string): void {
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
