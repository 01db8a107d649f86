/**
 * The sops JSON store (docs/formats/sops.md "Writing JSON", "Reading JSON",
 * `stores/json/store.go`).
 *
 * Parsing is token by token so key order survives and duplicate keys stay separate items;
 * integers that fit int64 are ints (sops 3.13.2+), every other number a float64. Writing
 * reproduces Go: `json.Marshal` escaping (`<`, `>`, `&`, U+2028/U+2029 as `\u…`), floats in
 * Go's shortest form, `json.Indent` with one tab (or N spaces), a final newline, comments
 * dropped. The `sops` section is the last top-level key.
 */
import { InternalError } from "../../internal/errors.js"
import { StoreEmitError, StoreParseError } from "../errors.js"
import type { Metadata } from "../metadata.js"
import type { Document, Entry, Mapping, Node, Scalar } from "../tree.js"
import { METADATA_KEY, metadataFromNode, metadataToNode } from "./metadata-wire.js"
import { MAX_NESTING_DEPTH, tooDeep } from "./limits.js"
import { formatGoFloatF, parseGoInt } from "./scalar-text.js"
import type { EncryptedFile, Store, StoreFormat, StoreOptions } from "./store.js"
import { wherePrefix } from "./store.js"

/** The JSON store. */
export class JsonStore implements Store {
  readonly format: StoreFormat = "json"
  readonly #options: StoreOptions

  /** @param options file name for errors, indent (-1 or absent: tab) */
  constructor(options: StoreOptions = {}) {
    this.#options = options
  }

  /**
   * @param text a JSON object
   * @returns a one-branch document
   * @throws StoreParseError naming the line
   */
  parse(text: string): Document {
    return { branches: [parseJsonObject(text, this.#options)] }
  }

  /**
   * @param doc a one-branch document
   * @returns the JSON text with a final newline
   * @throws StoreEmitError for NaN/Inf or several branches
   */
  emit(doc: Document): string {
    return emitJsonBranch(onlyBranch(doc, "json"), this.#options.indent)
  }

  /**
   * @throws StoreParseError, MetadataError
   */
  parseEncrypted(text: string): EncryptedFile {
    const branch = parseJsonObject(text, this.#options)
    return splitMetadata(branch, this.#options)
  }

  /** @returns the JSON text with the `sops` key last */
  emitEncrypted(doc: Document, metadata: Metadata): string {
    return emitJsonBranch(withMetadata(onlyBranch(doc, "json"), metadata), this.#options.indent)
  }
}

/**
 * The single branch of a non-YAML document.
 * @throws StoreEmitError when there is not exactly one
 */
export function onlyBranch(doc: Document, format: string): Mapping {
  const [branch] = doc.branches
  if (branch === undefined || doc.branches.length !== 1) {
    throw new StoreEmitError(
      `a ${format} file holds exactly one document, this one has ${doc.branches.length}`,
    )
  }
  return branch
}

/**
 * Appends the `sops` entry (3.13 layout) as the last key of a branch.
 * @returns the new branch
 */
export function withMetadata(branch: Mapping, metadata: Metadata): Mapping {
  return {
    kind: "mapping",
    items: [...branch.items, { kind: "entry", key: METADATA_KEY, value: metadataToNode(metadata) }],
  }
}

/**
 * Removes every top-level `sops` entry and reads the first as metadata.
 * @throws MetadataError when there is none
 */
export function splitMetadata(branch: Mapping, options: StoreOptions): EncryptedFile {
  let metadataNode: Node | undefined
  const items = branch.items.filter((item) => {
    if (item.kind === "entry" && item.key === METADATA_KEY) {
      metadataNode ??= item.value
      return false
    }
    return true
  })
  if (metadataNode === undefined) {
    throw noMetadata(options)
  }
  return {
    doc: { branches: [{ kind: "mapping", items }] },
    metadata: metadataFromNode(metadataNode),
  }
}

/** The error for a file without a `sops` section. */
export function noMetadata(options: StoreOptions): StoreParseError {
  return new StoreParseError(`${wherePrefix(options)}no sops metadata found`.replace(/^: /, ""), {
    hints: ["the file is not encrypted with sops, or its sops section was removed"],
  })
}

// ---------------------------------------------------------------- parsing

/** A backslash or a control character: the string is read character by character. */
// eslint-disable-next-line no-control-regex
const NEEDS_SLOW_READ = /[\\\u0000-\u001f]/
/** What Go's json.Marshal escapes or replaces (and lone surrogates, which become U+FFFD). */
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /["\\\u0000-\u001f<>&\u2028\u2029\ud800-\udfff]/

class JsonReader {
  pos = 0
  readonly text: string
  readonly options: StoreOptions
  constructor(text: string, options: StoreOptions) {
    this.text = text
    this.options = options
  }

  line(at = this.pos): number {
    let n = 1
    for (let i = 0; i < at && i < this.text.length; i++) if (this.text.charCodeAt(i) === 10) n++
    return n
  }

  fail(message: string, at = this.pos): StoreParseError {
    return new StoreParseError(
      `${wherePrefix(this.options, this.line(at))}invalid JSON: ${message}`,
    )
  }

  skipSpace(): void {
    while (this.pos < this.text.length) {
      const c = this.text.charCodeAt(this.pos)
      if (c === 32 || c === 9 || c === 10 || c === 13) this.pos++
      else break
    }
  }

  expect(char: string): void {
    this.skipSpace()
    if (this.text[this.pos] !== char)
      throw this.fail(`expected ${JSON.stringify(char)}, found ${this.found()}`)
    this.pos++
  }

  found(): string {
    const c = this.text[this.pos]
    return c === undefined ? "end of input" : JSON.stringify(c)
  }

  value(depth: number): Node {
    if (depth > MAX_NESTING_DEPTH) throw tooDeep(wherePrefix(this.options, this.line()))
    this.skipSpace()
    const c = this.text[this.pos]
    if (c === "{") return this.object(depth)
    if (c === "[") return this.array(depth)
    if (c === '"') return { kind: "string", value: this.string() }
    if (c === "t" && this.text.startsWith("true", this.pos)) {
      this.pos += 4
      return { kind: "bool", value: true }
    }
    if (c === "f" && this.text.startsWith("false", this.pos)) {
      this.pos += 5
      return { kind: "bool", value: false }
    }
    if (c === "n" && this.text.startsWith("null", this.pos)) {
      this.pos += 4
      return { kind: "null" }
    }
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return this.number()
    throw this.fail(`unexpected ${this.found()}`)
  }

  object(depth: number): Mapping {
    this.pos++ // {
    const items: Entry[] = []
    this.skipSpace()
    if (this.text[this.pos] === "}") {
      this.pos++
      return { kind: "mapping", items }
    }
    for (;;) {
      this.skipSpace()
      if (this.text[this.pos] !== '"')
        throw this.fail(`expected a key string, found ${this.found()}`)
      const key = this.string()
      this.expect(":")
      items.push({ kind: "entry", key, value: this.value(depth + 1) })
      this.skipSpace()
      const next = this.text[this.pos]
      this.pos++
      if (next === "}") return { kind: "mapping", items }
      if (next !== ",")
        throw this.fail(
          `expected "," or "}", found ${next === undefined ? "end of input" : JSON.stringify(next)}`,
          this.pos - 1,
        )
    }
  }

  array(depth: number): Node {
    this.pos++ // [
    const items: Node[] = []
    this.skipSpace()
    if (this.text[this.pos] === "]") {
      this.pos++
      return { kind: "sequence", items }
    }
    for (;;) {
      items.push(this.value(depth + 1))
      this.skipSpace()
      const next = this.text[this.pos]
      this.pos++
      if (next === "]") return { kind: "sequence", items }
      if (next !== ",")
        throw this.fail(
          `expected "," or "]", found ${next === undefined ? "end of input" : JSON.stringify(next)}`,
          this.pos - 1,
        )
    }
  }

  string(): string {
    const start = this.pos
    this.pos++ // opening quote
    // the usual string: no escape and no control character before the closing quote
    const close = this.text.indexOf('"', this.pos)
    if (close >= 0) {
      const body = this.text.slice(this.pos, close)
      if (!NEEDS_SLOW_READ.test(body)) {
        this.pos = close + 1
        return body
      }
    }
    let out = ""
    for (;;) {
      const c = this.text[this.pos]
      if (c === undefined) throw this.fail("unterminated string", start)
      const code = c.charCodeAt(0)
      if (c === '"') {
        this.pos++
        return out
      }
      if (code < 0x20) throw this.fail("control character in string")
      if (c !== "\\") {
        out += c
        this.pos++
        continue
      }
      const e = this.text[this.pos + 1]
      this.pos += 2
      switch (e) {
        case '"':
        case "\\":
        case "/":
          out += e
          break
        case "b":
          out += "\b"
          break
        case "f":
          out += "\f"
          break
        case "n":
          out += "\n"
          break
        case "r":
          out += "\r"
          break
        case "t":
          out += "\t"
          break
        case "u": {
          const hex = this.text.slice(this.pos, this.pos + 4)
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw this.fail("bad \\u escape")
          out += String.fromCharCode(parseInt(hex, 16))
          this.pos += 4
          break
        }
        default:
          throw this.fail(`bad escape \\${e ?? ""}`)
      }
    }
  }

  number(): Scalar {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(
      this.text.slice(this.pos, this.pos + 400),
    )
    if (m === null) throw this.fail("bad number")
    const text = m[0]
    this.pos += text.length
    if (m[2] === undefined && m[3] === undefined) {
      // spec: since 3.13.2 integers that fit int64 are ints, others float64
      const int = parseGoInt(text, 10)
      if (int !== undefined) return { kind: "int", value: int }
    }
    return { kind: "float", value: Number(text) }
  }
}

/**
 * Parses a JSON text whose top level is an object.
 * @throws StoreParseError naming the line
 */
export function parseJsonObject(text: string, options: StoreOptions = {}): Mapping {
  const reader = new JsonReader(text.startsWith("\uFEFF") ? text.slice(1) : text, options)
  reader.skipSpace()
  if (reader.text[reader.pos] !== "{") {
    throw new StoreParseError(
      `${wherePrefix(options, reader.line())}the top level of a JSON file must be an object`,
    )
  }
  const branch = reader.object(0)
  reader.skipSpace()
  if (reader.pos !== reader.text.length)
    throw reader.fail(`unexpected ${reader.found()} after the object`)
  return branch
}

// ---------------------------------------------------------------- writing

/**
 * Go's `json.Marshal` for a string (HTML-safe escaping, lower-case hex, U+FFFD for lone
 * surrogates).
 * @returns the quoted JSON string
 */
export function quoteGoJson(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return `"${value}"`
  let out = '"'
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i)
    const c = value[i] ?? ""
    if (code >= 0xd800 && code <= 0xdbff) {
      const next = value.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) {
        out += c + (value[i + 1] ?? "")
        i++
      } else out += "\\ufffd"
      continue
    }
    if (code >= 0xdc00 && code <= 0xdfff) {
      out += "\\ufffd"
      continue
    }
    switch (c) {
      case '"':
        out += '\\"'
        continue
      case "\\":
        out += "\\\\"
        continue
      case "\n":
        out += "\\n"
        continue
      case "\r":
        out += "\\r"
        continue
      case "\t":
        out += "\\t"
        continue
      case "\b":
        out += "\\b"
        continue
      case "\f":
        out += "\\f"
        continue
    }
    if (code < 0x20 || c === "<" || c === ">" || c === "&" || code === 0x2028 || code === 0x2029) {
      out += "\\u" + code.toString(16).padStart(4, "0")
      continue
    }
    out += c
  }
  return out + '"'
}

/**
 * Go's `encoding/json` float64 text: `'f'` form, `'e'` below 1e-6 or from 1e21 (`1e-7`, `1e+21`).
 * @throws StoreEmitError for NaN and infinities
 */
export function formatGoJsonFloat(f: number, path: string): string {
  if (!Number.isFinite(f))
    throw new StoreEmitError(`${path}: JSON cannot hold the float ${String(f)}`)
  const abs = Math.abs(f)
  if (abs !== 0 && (abs < 1e-6 || abs >= 1e21)) {
    return expClean(f)
  }
  return formatGoFloatF(f, -1)
}

function expClean(f: number): string {
  // Go: 'e' with shortest digits, then e-09 -> e-9 (only for negative exponents)
  const text = f.toExponential()
  const [mantissa = "", exponent = ""] = text.split("e")
  const sign = exponent.startsWith("-") ? "-" : "+"
  const digits = exponent.replace(/^[+-]/, "")
  const exp = sign === "+" ? digits.padStart(2, "0") : digits
  return `${mantissa}e${sign}${exp}`
}

function scalarJson(node: Scalar, path: string): string {
  switch (node.kind) {
    case "string":
    case "time":
      return quoteGoJson(node.value)
    case "int":
      return node.value.toString()
    case "float":
      return formatGoJsonFloat(node.value, path)
    case "bool":
      return node.value ? "true" : "false"
    case "null":
      return "null"
    case "bytes":
      return quoteGoJson(Buffer.from(node.value).toString("base64"))
    default: {
      const never: never = node
      throw new InternalError(`unknown scalar ${JSON.stringify(never)}`)
    }
  }
}

/**
 * Writes a mapping as sops's JSON store does (`json.Indent` output plus a final newline).
 * @param branch the top-level mapping
 * @param indent -1/undefined for a tab, else that many spaces
 * @returns the text
 */
export function emitJsonBranch(branch: Mapping, indent?: number): string {
  const unit = indent === undefined || indent < 0 ? "\t" : " ".repeat(indent)
  const write = (node: Node, depth: number, path: string): string => {
    const pad = "\n" + unit.repeat(depth + 1)
    const close = "\n" + unit.repeat(depth)
    switch (node.kind) {
      case "mapping": {
        const parts = node.items.flatMap((item) =>
          item.kind === "entry"
            ? [
                `${pad}${quoteGoJson(item.key)}: ${write(item.value, depth + 1, path === "" ? item.key : `${path}.${item.key}`)}`,
              ]
            : [],
        )
        return parts.length === 0 ? "{}" : `{${parts.join(",")}${close}}`
      }
      case "sequence": {
        const parts = node.items.flatMap((item, i) =>
          item.kind === "comment" ? [] : [`${pad}${write(item, depth + 1, `${path}[${i}]`)}`],
        )
        return parts.length === 0 ? "[]" : `[${parts.join(",")}${close}]`
      }
      default:
        return scalarJson(node, path)
    }
  }
  return write(branch, 0, "") + "\n"
}
