/**
 * The age header (docs/formats/age.md "Header"): the version line, one or more stanzas, and
 * the MAC line `--- <base64 HMAC>`. Parsing is strict and canonical, so the MAC is computed
 * over the bytes exactly as received (through `---`, without the space that follows) and a parsed
 * header re-encodes to the same bytes.
 *
 * `parseHeader` works on a prefix of a file: it returns null while the header is incomplete,
 * so a stream can feed it bytes as they arrive.
 */
import { createHmac, hkdfSync } from "node:crypto"
import { equalBytesConstantTime, encodeUtf8 } from "../internal/bytes.js"
import { decodeBase64Strict, encodeBase64 } from "./base64.js"
import { HeaderError } from "./errors.js"
import type { Stanza } from "./recipient.js"
import { encodeStanza, latin1, parseStanza } from "./stanza.js"

/** The only version line defined (docs/formats/age.md "Grammar and parsing"). */
export const VERSION_LINE = "age-encryption.org/v1\n"
const MAC_PREFIX = "--- "
const MAC_LINE_LENGTH = MAC_PREFIX.length + 43
const LF = 0x0a

/** A parsed header. */
export interface ParsedHeader {
  readonly stanzas: Stanza[]
  /** The 32-byte header MAC from the `---` line. */
  readonly mac: Uint8Array
  /** The bytes the MAC covers: from the version line through `---`. */
  readonly macInput: Uint8Array
  /** Bytes of the whole header, through the LF of the MAC line; the payload starts here. */
  readonly headerLength: number
}

/**
 * Parses the header at the start of `bytes` (which may hold more: the payload follows).
 * @returns the header, or null if `bytes` ends before the header does
 * @throws HeaderError on any syntax error, as soon as the bytes seen prove one
 */
export function parseHeader(bytes: Uint8Array): ParsedHeader | null {
  const versionEnd = bytes.indexOf(LF)
  if (versionEnd < 0 || versionEnd + 1 < VERSION_LINE.length) {
    checkPrefix(bytes, VERSION_LINE, "header: not an age file (bad version line)")
    if (versionEnd < 0) return null
  }
  if (latin1(bytes.subarray(0, versionEnd + 1)) !== VERSION_LINE) {
    throw new HeaderError(describeBadVersion(bytes.subarray(0, versionEnd)), {
      hints: versionHints(bytes.subarray(0, versionEnd)),
    })
  }
  const stanzas: Stanza[] = []
  let position = versionEnd + 1
  for (;;) {
    const rest = bytes.subarray(position)
    if (rest.length < 3) {
      if (!isPrefixOf(rest, "---") && !isPrefixOf(rest, "-> ")) {
        throw new HeaderError('header: line does not start with "-> " or "---"')
      }
      return null
    }
    if (rest[0] === 0x2d && rest[1] === 0x2d && rest[2] === 0x2d) break
    const parsed = parseStanza(bytes, position)
    if (parsed === null) return null
    stanzas.push(parsed.stanza)
    position += parsed.consumed
  }
  const macEnd = bytes.indexOf(LF, position)
  if (macEnd < 0) {
    if (bytes.length - position > MAC_LINE_LENGTH) {
      throw new HeaderError("header: malformed MAC line")
    }
    checkPrefix(bytes.subarray(position), MAC_PREFIX, "header: malformed MAC line")
    return null
  }
  const macLine = latin1(bytes.subarray(position, macEnd))
  if (macLine.length !== MAC_LINE_LENGTH || !macLine.startsWith(MAC_PREFIX)) {
    throw new HeaderError("header: malformed MAC line", {
      hints: ['the last header line is "--- " and 43 base64 characters'],
    })
  }
  const mac = decodeBase64Strict(macLine.slice(MAC_PREFIX.length), "header MAC")
  if (stanzas.length === 0) {
    // spec: header = v1-line 1*stanza end
    throw new HeaderError("header has no recipient stanzas")
  }
  return {
    stanzas,
    mac,
    macInput: bytes.slice(0, position + 3),
    headerLength: macEnd + 1,
  }
}

/**
 * Encodes a header for `stanzas` and MACs it with `fileKey`.
 * @returns the header bytes, through the LF of the MAC line
 */
export function encodeHeader(stanzas: readonly Stanza[], fileKey: Uint8Array): Uint8Array {
  if (stanzas.length === 0) throw new HeaderError("header has no recipient stanzas")
  const macInput = encodeUtf8(VERSION_LINE + stanzas.map(encodeStanza).join("") + "---")
  const mac = computeHeaderMac(fileKey, macInput)
  const tail = encodeUtf8(` ${encodeBase64(mac)}\n`)
  const out = new Uint8Array(macInput.length + tail.length)
  out.set(macInput, 0)
  out.set(tail, macInput.length)
  return out
}

/**
 * HMAC-SHA-256 keyed with HKDF-SHA-256(file key, salt "", info "header").
 * @returns the 32-byte MAC of `macInput`
 */
export function computeHeaderMac(fileKey: Uint8Array, macInput: Uint8Array): Uint8Array {
  const key = new Uint8Array(hkdfSync("sha256", fileKey, new Uint8Array(0), "header", 32))
  const mac = new Uint8Array(createHmac("sha256", key).update(macInput).digest())
  key.fill(0)
  return mac
}

/**
 * Verifies the header MAC in constant time (an early exit would leak matching bytes).
 * @returns whether `header.mac` is the MAC of `header.macInput` under `fileKey`
 */
export function verifyHeaderMac(
  header: Pick<ParsedHeader, "mac" | "macInput">,
  fileKey: Uint8Array,
): boolean {
  return equalBytesConstantTime(computeHeaderMac(fileKey, header.macInput), header.mac)
}

function isPrefixOf(partial: Uint8Array, text: string): boolean {
  for (let i = 0; i < Math.min(partial.length, text.length); i++) {
    if (partial[i] !== text.charCodeAt(i)) return false
  }
  return true
}

function checkPrefix(partial: Uint8Array, text: string, message: string): void {
  if (!isPrefixOf(partial, text)) {
    throw new HeaderError(message, {
      hints: partial.length === 0 ? [] : versionHints(partial),
    })
  }
}

function describeBadVersion(line: Uint8Array): string {
  const text = latin1(line.subarray(0, 40))
  if (text.startsWith("age-encryption.org/") && !text.endsWith("\r")) {
    return `header: unsupported age version ${JSON.stringify(text.slice(19))}`
  }
  return "header: not an age file (bad version line)"
}

function versionHints(line: Uint8Array): string[] {
  const text = latin1(line.subarray(0, 40))
  if (text.startsWith("age-encryption.org/v1\r")) {
    return ["the file has Windows (CRLF) line endings; it was probably converted as text"]
  }
  if (line[0] === 0xff && line[1] === 0xfe) {
    return ["the file is UTF-16 encoded; it was probably redirected through PowerShell 5.1"]
  }
  if (text.startsWith("-----BEGIN")) return ["the file looks armored or is a PEM key"]
  return []
}
