/**
 * The ASCII armor (docs/formats/age.md "Armor", test/vectors/age/FORMAT.md "armor
 * failure"): strict PEM with the label `AGE ENCRYPTED FILE`, padded base64 in 64-column
 * lines. The reader accepts only what the Go reference (1.3) accepts: LF or CRLF,
 * whitespace (at most 1024 bytes) before BEGIN and after END, and no newline after END;
 * everything else is an `ArmorError`. The writer's output is byte-identical to Go's. Both
 * come as buffer functions and incremental classes.
 */
import { encodeUtf8 } from "../internal/bytes.js"
import { ArmorError } from "./errors.js"
import { latin1 } from "./stanza.js"

/** The armor's first line. */
export const ARMOR_BEGIN = "-----BEGIN AGE ENCRYPTED FILE-----"
/** The armor's last line. */
export const ARMOR_END = "-----END AGE ENCRYPTED FILE-----"
const COLUMNS = 64
const BYTES_PER_LINE = 48
/** Most whitespace accepted before BEGIN and after END (as the reference). */
export const MAX_ARMOR_WHITESPACE = 1024
const LF = 0x0a
const CR = 0x0d
const EQUALS = 0x3d
/** How far into a non-age file to look for a BEGIN line preceded by garbage. */
const GARBAGE_WINDOW = 2048
const paddedBase64 = /^[A-Za-z0-9+/]+={0,2}$/

function isWhitespace(byte: number | undefined): boolean {
  // space, \t, \n, \v, \f, \r
  return byte === 0x20 || (byte !== undefined && byte >= 0x09 && byte <= 0x0d)
}

/**
 * Decides whether a file is armored, as `age -d` does (up to 1024 bytes of whitespace, then
 * the BEGIN line), a little more broadly so that damaged armor is reported as an armor error
 * rather than as a bad binary header: a file whose first non-whitespace bytes are `-----`
 * (a PEM-like line, maybe with the wrong label), or that is not a binary age file but has
 * the BEGIN line in its first 2 KiB (garbage before the armor), counts as armored.
 * @param prefix the first bytes of the file
 * @param atEnd whether `prefix` is the whole file
 * @returns true or false, or null when more bytes are needed to decide
 */
export function detectArmor(prefix: Uint8Array, atEnd: boolean): boolean | null {
  let i = 0
  while (i < prefix.length && i < MAX_ARMOR_WHITESPACE && isWhitespace(prefix[i])) i++
  if (i === prefix.length && !atEnd && i < MAX_ARMOR_WHITESPACE) return null
  const dashes = "-----"
  let pemLike = true
  for (let j = 0; j < dashes.length && pemLike; j++) {
    const byte = prefix[i + j]
    if (byte === undefined) {
      if (!atEnd) return null
      pemLike = false
    } else if (byte !== 0x2d) {
      pemLike = false
    }
  }
  if (pemLike) return true
  const binaryPrefix = "age-encryption.org/"
  let binary = true
  for (let j = 0; j < binaryPrefix.length && binary; j++) {
    const byte = prefix[j]
    if (byte === undefined) {
      if (!atEnd) return null
      binary = false
    } else if (byte !== binaryPrefix.charCodeAt(j)) {
      binary = false
    }
  }
  if (binary) return false
  const window = prefix.subarray(0, GARBAGE_WINDOW + ARMOR_BEGIN.length)
  if (window.length < GARBAGE_WINDOW + ARMOR_BEGIN.length && !atEnd) return null
  return Buffer.from(window.buffer, window.byteOffset, window.byteLength).includes(ARMOR_BEGIN)
}

/**
 * Armors a whole binary age file.
 * @returns the armored text as bytes (LF line endings, final LF)
 */
export function encodeArmor(file: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = []
  const encoder = new ArmorEncoder()
  encoder.push(file, (p) => parts.push(p))
  encoder.finish((p) => parts.push(p))
  return joinParts(parts)
}

/**
 * De-armors a whole armored file, strictly.
 * @returns the binary age file
 * @throws ArmorError if the armor is invalid in any way
 */
export function decodeArmor(text: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = []
  const decoder = new ArmorDecoder()
  decoder.push(text, (p) => parts.push(p))
  decoder.finish((p) => parts.push(p))
  return joinParts(parts)
}

function joinParts(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1 && parts[0] !== undefined) return parts[0]
  return new Uint8Array(Buffer.concat(parts))
}

/** Armors a binary age file given in pieces. */
export class ArmorEncoder {
  #pending: Uint8Array = new Uint8Array(0)
  #started = false
  #finished = false

  /**
   * Adds binary bytes.
   * @param emit receives armored text (whole lines), in order
   */
  push(bytes: Uint8Array, emit: (text: Uint8Array) => void): void {
    if (this.#finished) throw new RangeError("armor encoder already finished")
    this.#start(emit)
    const data = this.#pending.length === 0 ? bytes : Buffer.concat([this.#pending, bytes])
    const whole = data.length - (data.length % BYTES_PER_LINE)
    if (whole > 0) emit(encodeLines(data.subarray(0, whole)))
    this.#pending = data.slice(whole)
  }

  /**
   * Writes the last data line and the END line.
   * @param emit receives the remaining armored text
   */
  finish(emit: (text: Uint8Array) => void): void {
    if (this.#finished) throw new RangeError("armor encoder already finished")
    this.#start(emit)
    this.#finished = true
    const last = this.#pending.length > 0 ? encodeLines(this.#pending) : new Uint8Array(0)
    emit(joinParts([last, encodeUtf8(`${ARMOR_END}\n`)]))
  }

  #start(emit: (text: Uint8Array) => void): void {
    if (this.#started) return
    this.#started = true
    emit(encodeUtf8(`${ARMOR_BEGIN}\n`))
  }
}

/** Encodes bytes as padded base64 lines of 64 columns, each followed by LF. */
function encodeLines(bytes: Uint8Array): Uint8Array {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")
  const lines = Math.ceil(text.length / COLUMNS)
  const out = Buffer.allocUnsafe(text.length + lines)
  // write the base64 text in one call, then spread it into lines from the last one back
  // (each line moves right by its index, so no line overwrites one not yet moved)
  out.write(text, 0, "latin1")
  for (let i = lines - 1; i >= 0; i--) {
    const from = i * COLUMNS
    const length = Math.min(COLUMNS, text.length - from)
    const to = from + i
    if (i > 0) out.copyWithin(to, from, from + length)
    out[to + length] = LF
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.length)
}

type DecoderState = "leading" | "data" | "footer" | "trailing"

/** De-armors an armored file given in pieces, line by line, strictly. */
export class ArmorDecoder {
  #state: DecoderState = "leading"
  #pending: Uint8Array = new Uint8Array(0)
  #leadingWhitespace = 0
  #trailingWhitespace = 0
  #failed: ArmorError | null = null

  /**
   * Adds armored bytes.
   * @param emit receives the decoded binary bytes, in order
   * @throws ArmorError as soon as the bytes seen prove the armor invalid
   */
  push(bytes: Uint8Array, emit: (binary: Uint8Array) => void): void {
    if (this.#failed !== null) throw this.#failed
    if (this.#state === "trailing") {
      this.#checkTrailing(bytes)
      return
    }
    let start = 0
    if (this.#pending.length > 0) {
      // finish the pending line first, without copying the rest of the input
      const end = bytes.indexOf(LF)
      if (end < 0) {
        this.#keepPartial(Buffer.concat([this.#pending, bytes]))
        return
      }
      const line = Buffer.concat([this.#pending, bytes.subarray(0, end)])
      this.#pending = new Uint8Array(0)
      this.#line(line, emit)
      start = end + 1
      if (this.#isTrailing()) {
        this.#checkTrailing(bytes.subarray(start))
        return
      }
    }
    for (;;) {
      if (this.#state === "data") start = this.#fullLines(bytes, start, emit)
      const end = bytes.indexOf(LF, start)
      if (end < 0) break
      this.#line(bytes.subarray(start, end), emit)
      start = end + 1
      if (this.#isTrailing()) {
        this.#checkTrailing(bytes.subarray(start))
        return
      }
    }
    this.#keepPartial(bytes.subarray(start))
  }

  /** Keeps the start of a line that has no LF yet, if it can still become a valid line. */
  #keepPartial(data: Uint8Array): void {
    const limit =
      this.#state === "leading" ? MAX_ARMOR_WHITESPACE + ARMOR_BEGIN.length + 2 : COLUMNS + 1
    if (data.length > limit) {
      this.#fail(
        this.#state === "leading"
          ? "armor: invalid first line"
          : "armor: line longer than 64 columns",
      )
    }
    this.#pending = data.slice()
  }

  /**
   * Decodes, in one go, the run of full data lines (64 columns, no padding, LF or CRLF) that
   * starts at `start`. A run with any invalid byte is handed line by line to `#line`, which
   * reports the first bad line exactly as for a short run.
   * @returns where the run ends
   */
  #fullLines(data: Uint8Array, start: number, emit: (binary: Uint8Array) => void): number {
    let at = start
    let lines = 0
    while (at + COLUMNS < data.length && data[at + COLUMNS - 1] !== EQUALS) {
      const after = data[at + COLUMNS]
      if (after === LF) {
        at += COLUMNS + 1
      } else if (after === CR && data[at + COLUMNS + 1] === LF) {
        at += COLUMNS + 2
      } else {
        break
      }
      lines++
    }
    if (lines === 0) return start
    const run = Buffer.from(data.buffer, data.byteOffset + start, at - start)
    // Node's decoder skips CR and LF, and also any byte outside the alphabet (so the length
    // falls short) except the URL-safe `-` and `_`, which it accepts and we must not
    const decoded = Buffer.from(run.toString("latin1"), "base64")
    if (decoded.length === lines * BYTES_PER_LINE && !run.includes(0x2d) && !run.includes(0x5f)) {
      emit(new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.byteLength))
      return at
    }
    let from = start
    while (from < at) {
      const end = data.indexOf(LF, from)
      this.#line(data.subarray(from, end), emit)
      from = end + 1
    }
    return at
  }

  /**
   * Ends the armored input (a last line need not end in LF).
   * @param emit receives any remaining decoded bytes
   * @throws ArmorError if the END line is missing or anything is wrong at the end
   */
  finish(emit: (binary: Uint8Array) => void): void {
    if (this.#failed !== null) throw this.#failed
    if (this.#state !== "trailing" && this.#pending.length > 0) {
      const last = this.#pending
      this.#pending = new Uint8Array(0)
      this.#line(last, emit)
    }
    if (this.#state === "leading") this.#fail("armor: no BEGIN line")
    if (!this.#isTrailing()) {
      this.#fail("armor: missing END line", ["the armored file is truncated"])
    }
  }

  #line(raw: Uint8Array, emit: (binary: Uint8Array) => void): void {
    // a line ends in LF, optionally preceded by one CR
    const bytes = raw[raw.length - 1] === 0x0d ? raw.subarray(0, raw.length - 1) : raw
    const line = latin1(bytes)
    switch (this.#state) {
      case "leading":
        if (bytes.every((b) => isWhitespace(b))) {
          this.#leadingWhitespace += raw.length + 1
          if (this.#leadingWhitespace > MAX_ARMOR_WHITESPACE) {
            this.#fail("armor: too much leading whitespace")
          }
          return
        }
        if (line !== ARMOR_BEGIN) {
          this.#fail("armor: invalid first line", [
            `an armored age file starts with ${ARMOR_BEGIN}`,
          ])
        }
        this.#state = "data"
        return
      case "footer":
        if (line !== ARMOR_END) this.#fail("armor: invalid closing line after the last data line")
        this.#state = "trailing"
        return
      case "data": {
        if (line === ARMOR_END) {
          this.#state = "trailing"
          return
        }
        if (line.length === 0) this.#fail("armor: empty line")
        if (line.length > COLUMNS) this.#fail("armor: line longer than 64 columns")
        if (line.length % 4 !== 0 || !paddedBase64.test(line)) {
          this.#fail("armor: invalid base64 line", [
            "armor lines are padded standard base64 with no spaces, headers or checksums",
          ])
        }
        const decoded = Buffer.from(line, "base64")
        if (decoded.toString("base64") !== line) this.#fail("armor: non-canonical base64 line")
        if (decoded.length < BYTES_PER_LINE) this.#state = "footer"
        emit(new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.byteLength))
        return
      }
      case "trailing":
        return
      default: {
        const never: never = this.#state
        return never
      }
    }
  }

  #isTrailing(): boolean {
    return this.#state === "trailing"
  }

  #checkTrailing(bytes: Uint8Array): void {
    if (!bytes.every((b) => isWhitespace(b))) this.#fail("armor: data after the END line")
    this.#trailingWhitespace += bytes.length
    if (this.#trailingWhitespace >= MAX_ARMOR_WHITESPACE) {
      this.#fail("armor: too much trailing whitespace")
    }
  }

  #fail(message: string, hints: readonly string[] = []): never {
    this.#failed = new ArmorError(message, { hints })
    this.#pending = new Uint8Array(0)
    throw this.#failed
  }
}
