/**
 * The age header (docs/formats/age.md "Header"): the version line, one or more stanzas, and
 * the MAC line `--- <base64 HMAC>`. Parsing is strict and canonical, so the MAC is computed
 * over the bytes exactly as received (through `---`, without the space that follows) and a parsed
 * header re-encodes to the same bytes.
 *
 * `parseHeader` works on a prefix of a file: it returns null while the header is incomplete,
 * so a stream can feed it bytes as they arrive; `HeaderParser` does the same without going
 * over the lines it has already read. Headers over 2 MiB or with more than 1,024 stanzas
 * are refused, as age 1.3.2 refuses them.
 */
import { createHmac, hkdfSync } from "node:crypto"
import { equalBytesConstantTime, encodeUtf8 } from "../internal/bytes.js"
import { decodeBase64Strict, encodeBase64 } from "./base64.js"
import { HeaderError } from "./errors.js"
import type { Stanza } from "./recipient.js"
import {
  BodyCollector,
  checkPartialArgumentLine,
  checkPartialBodyLine,
  encodeStanza,
  latin1,
  parseArgumentLine,
} from "./stanza.js"

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

/** age 1.3.2's limits on a header it reads (docs/formats/age.md "Header limits"). */
export const MAX_HEADER_BYTES: number = 2 * 1024 * 1024
/** The most recipient stanzas a header may have (age 1.3.2's limit). */
export const MAX_HEADER_STANZAS = 1024

/** Options for parsing a header. */
export interface HeaderParseOptions {
  /** Largest header accepted, in bytes, through the LF of the MAC line (default 2 MiB). */
  readonly maxHeaderSize?: number
}

/**
 * Parses the header at the start of `bytes` (which may hold more: the payload follows).
 * @returns the header, or null if `bytes` ends before the header does
 * @throws HeaderError on any syntax error, as soon as the bytes seen prove one, and when
 *   the header has more than 1,024 stanzas or is larger than `maxHeaderSize`
 */
export function parseHeader(
  bytes: Uint8Array,
  options: HeaderParseOptions = {},
): ParsedHeader | null {
  return new HeaderParser(options).parse(bytes)
}

/**
 * An incremental header parser for a file read in pieces: each call gets the whole prefix
 * read so far (the previous prefix and more) and resumes from the first line it had not
 * finished, so reading a header costs time linear in its size however it is cut.
 * Its verdicts are those of `parseHeader` on the same prefix.
 */
export class HeaderParser {
  readonly #maxHeaderSize: number
  #versionRead = false
  /** Start of the first line not yet consumed. */
  #position = 0
  /** Where to look for the next LF (the partial line before it has none). */
  #scanFrom = 0
  readonly #stanzas: Stanza[] = []
  #current: { type: string; args: string[]; body: BodyCollector } | null = null
  #done: ParsedHeader | null = null

  constructor(options: HeaderParseOptions = {}) {
    this.#maxHeaderSize = options.maxHeaderSize ?? MAX_HEADER_BYTES
  }

  /**
   * @param bytes everything read so far, starting with the bytes given to earlier calls
   * @returns the header, or null while `bytes` ends before the header does
   * @throws HeaderError as `parseHeader`
   */
  parse(bytes: Uint8Array): ParsedHeader | null {
    if (this.#done !== null) return this.#done
    if (!this.#versionRead) {
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
      this.#versionRead = true
      this.#position = versionEnd + 1
      this.#scanFrom = this.#position
    }
    for (;;) {
      const position = this.#position
      if (this.#current === null) {
        // at the start of a line: a stanza or the MAC line
        const restLength = bytes.length - position
        if (restLength < 3) {
          const rest = bytes.subarray(position)
          if (!isPrefixOf(rest, "---") && !isPrefixOf(rest, "-> ")) {
            throw new HeaderError('header: line does not start with "-> " or "---"')
          }
          return this.#incomplete(bytes)
        }
        if (
          bytes[position] === 0x2d &&
          bytes[position + 1] === 0x2d &&
          bytes[position + 2] === 0x2d
        ) {
          return this.#macLine(bytes)
        }
        if (this.#stanzas.length >= MAX_HEADER_STANZAS) {
          throw new HeaderError(
            `header has more than ${String(MAX_HEADER_STANZAS)} recipient stanzas`,
            { hints: ["age 1.3 refuses such a header too; the file is damaged or hostile"] },
          )
        }
      }
      const lineEnd = bytes.indexOf(LF, Math.max(this.#scanFrom, position))
      if (lineEnd < 0) {
        this.#scanFrom = bytes.length
        if (this.#current === null) {
          checkPartialArgumentLine(bytes.subarray(position), "header")
        } else {
          checkPartialBodyLine(bytes.length - position, "header")
        }
        return this.#incomplete(bytes)
      }
      this.#checkSize(lineEnd + 1)
      const line = latin1(bytes.subarray(position, lineEnd))
      if (this.#current === null) {
        const { type, args } = parseArgumentLine(line, "header")
        this.#current = { type, args, body: new BodyCollector() }
      } else if (this.#current.body.add(line, "header")) {
        const { type, args, body } = this.#current
        this.#stanzas.push({ type, args, body: body.bytes() })
        this.#current = null
      }
      this.#position = lineEnd + 1
      this.#scanFrom = this.#position
    }
  }

  #macLine(bytes: Uint8Array): ParsedHeader | null {
    const position = this.#position
    const macEnd = bytes.indexOf(LF, Math.max(this.#scanFrom, position))
    if (macEnd < 0) {
      this.#scanFrom = bytes.length
      if (bytes.length - position > MAC_LINE_LENGTH) {
        throw new HeaderError("header: malformed MAC line")
      }
      checkPrefix(bytes.subarray(position), MAC_PREFIX, "header: malformed MAC line")
      return this.#incomplete(bytes)
    }
    this.#checkSize(macEnd + 1)
    const macLine = latin1(bytes.subarray(position, macEnd))
    if (macLine.length !== MAC_LINE_LENGTH || !macLine.startsWith(MAC_PREFIX)) {
      throw new HeaderError("header: malformed MAC line", {
        hints: ['the last header line is "--- " and 43 base64 characters'],
      })
    }
    const mac = decodeBase64Strict(macLine.slice(MAC_PREFIX.length), "header MAC")
    if (this.#stanzas.length === 0) {
      // spec: header = v1-line 1*stanza end
      throw new HeaderError("header has no recipient stanzas")
    }
    this.#done = {
      stanzas: this.#stanzas,
      mac,
      macInput: bytes.slice(0, position + 3),
      headerLength: macEnd + 1,
    }
    return this.#done
  }

  /** @returns null, once the bytes so far still fit in a header */
  #incomplete(bytes: Uint8Array): null {
    this.#checkSize(bytes.length + 1)
    return null
  }

  /** @throws HeaderError when a header of at least `length` bytes is too large */
  #checkSize(length: number): void {
    if (length > this.#maxHeaderSize) {
      throw new HeaderError(`header is larger than ${describeSize(this.#maxHeaderSize)}`, {
        hints: ["age 1.3 refuses headers over 2 MiB; the file is damaged or hostile"],
      })
    }
  }
}

function describeSize(bytes: number): string {
  return bytes % (1024 * 1024) === 0
    ? `${String(bytes / (1024 * 1024))} MiB`
    : `${String(bytes)} bytes`
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
