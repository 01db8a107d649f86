/**
 * YAML scalars as go-yaml v3 reads and writes them for sops (docs/formats/sops.md "Writing
 * YAML", "Reading YAML"): the plain-scalar resolver (`resolve.go`: YAML 1.2 core plus
 * `0777` octals, `_` separators, timestamps, while `yes`/`on` stay strings) and the
 * emitter's scalar analysis and style choice (`encode.go` `stringv`, `emitterc.go`
 * `analyze_scalar`/`select_scalar_style`).
 */
import type { Scalar } from "../tree.js"
import { formatGoFloatG, parseGoInt } from "./scalar-text.js"

const YAML_STYLE_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/
const BASE60_FLOAT = /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/
const OLD_BOOLS = new Set([
  "y",
  "Y",
  "yes",
  "Yes",
  "YES",
  "on",
  "On",
  "ON",
  "n",
  "N",
  "no",
  "No",
  "NO",
  "off",
  "Off",
  "OFF",
])

const RESOLVE_MAP: ReadonlyMap<string, Scalar> = new Map<string, Scalar>([
  ...["true", "True", "TRUE"].map((s): [string, Scalar] => [s, { kind: "bool", value: true }]),
  ...["false", "False", "FALSE"].map((s): [string, Scalar] => [s, { kind: "bool", value: false }]),
  ...["", "~", "null", "Null", "NULL"].map((s): [string, Scalar] => [s, { kind: "null" }]),
  ...[".nan", ".NaN", ".NAN"].map((s): [string, Scalar] => [s, { kind: "float", value: NaN }]),
  ...[".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"].map((s): [string, Scalar] => [
    s,
    { kind: "float", value: Infinity },
  ]),
  ...["-.inf", "-.Inf", "-.INF"].map((s): [string, Scalar] => [
    s,
    { kind: "float", value: -Infinity },
  ]),
])

function hintOf(text: string): "M" | "S" | "D" | "." | "N" | undefined {
  if (text === "") return "N"
  const c = text[0] ?? ""
  if (c === "+" || c === "-") return "S"
  if (c >= "0" && c <= "9") return "D"
  if ("yYnNtTfFoO~".includes(c)) return "M"
  if (c === ".") return "."
  return undefined
}

/**
 * Parses a timestamp as go-yaml does (`2001-12-14`, `2001-12-14T21:59:43.10-05:00`,
 * `2001-12-14 21:59:43.10`) and returns it as Go's `time.Time` prints it in RFC 3339 with
 * nanoseconds (`2001-12-14T00:00:00Z`, trailing fraction zeros dropped, zero offset as `Z`).
 * @param text the plain scalar
 * @returns the normalized text, or undefined when it is not a timestamp
 */
export function parseYamlTimestamp(text: string): string | undefined {
  if (!/^[0-9]{4}-/.test(text)) return undefined
  const m =
    /^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:(?:([Tt])|( ))([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:\.([0-9]+))?(Z|[+-][0-9]{2}:[0-9]{2})?)?$/.exec(
      text,
    )
  if (m === null) return undefined
  const [, y, mo, d, t, space, h, mi, s, frac, zone] = m
  if (h !== undefined) {
    if (t !== undefined && zone === undefined) return undefined // the T layouts need a zone
    if (space !== undefined && zone !== undefined) return undefined // the space layout has none
  }
  const year = Number(y)
  const month = Number(mo)
  const day = Number(d)
  const hour = Number(h ?? 0)
  const minute = Number(mi ?? 0)
  const second = Number(s ?? 0)
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate()
  if (
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > daysInMonth ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    return undefined
  }
  let offset = "Z"
  if (zone !== undefined && zone !== "Z") {
    const oh = Number(zone.slice(1, 3))
    const om = Number(zone.slice(4, 6))
    if (oh > 23 || om > 59) return undefined // Go: "time zone offset hour out of range"
    if (oh !== 0 || om !== 0) offset = zone
  }
  const fraction = (frac ?? "").slice(0, 9).replace(/0+$/, "")
  const two = (n: number): string => String(n).padStart(2, "0")
  return `${String(year).padStart(4, "0")}-${two(month)}-${two(day)}T${two(hour)}:${two(minute)}:${two(second)}${fraction === "" ? "" : "." + fraction}${offset}`
}

/**
 * What a plain scalar resolves to, or `uint` for integers only uint64 holds (sops refuses
 * those).
 */
export type Resolved = Scalar | { readonly kind: "uint" }

/**
 * go-yaml v3's `resolve("", text)` for a plain scalar, as decoded into `interface{}`.
 * @param text the scalar's text
 * @returns the typed value (a string when nothing else matches)
 */
export function resolvePlainScalar(text: string): Resolved {
  const hint = hintOf(text)
  if (hint === undefined) return { kind: "string", value: text }
  const mapped = RESOLVE_MAP.get(text)
  if (mapped !== undefined) return mapped
  if (hint === ".") {
    if (/^\.[0-9]+([eE][-+]?[0-9]+)?$/.test(text)) return { kind: "float", value: Number(text) }
    return { kind: "string", value: text }
  }
  if (hint === "D" || hint === "S") {
    if (hint === "D") {
      const time = parseYamlTimestamp(text)
      if (time !== undefined) return { kind: "time", value: time }
    }
    const plain = text.replaceAll("_", "")
    const int = parseGoInt(plain)
    if (int !== undefined) return { kind: "int", value: int }
    if (isUint64(plain)) return { kind: "uint" }
    if (YAML_STYLE_FLOAT.test(plain)) return { kind: "float", value: Number(plain) }
    if (plain.startsWith("0b")) {
      const v = parseGoInt(plain.slice(2), 2)
      if (v !== undefined) return { kind: "int", value: v }
    } else if (plain.startsWith("-0b")) {
      const v = parseGoInt("-" + plain.slice(3), 2)
      if (v !== undefined) return { kind: "int", value: v }
    }
    if (plain.startsWith("0o")) {
      const v = parseGoInt(plain.slice(2), 8)
      if (v !== undefined) return { kind: "int", value: v }
    } else if (plain.startsWith("-0o")) {
      const v = parseGoInt("-" + plain.slice(3), 8)
      if (v !== undefined) return { kind: "int", value: v }
    }
  }
  return { kind: "string", value: text }
}

function isUint64(plain: string): boolean {
  if (plain.startsWith("-") || plain.startsWith("+")) return false
  const v = parseGoInt(plain.startsWith("0") ? plain : plain, 0)
  if (v !== undefined) return false
  let digits = plain
  let radix = 10
  const lower = plain.toLowerCase()
  if (lower.startsWith("0x")) [digits, radix] = [plain.slice(2), 16]
  else if (lower.startsWith("0o")) [digits, radix] = [plain.slice(2), 8]
  else if (lower.startsWith("0b")) [digits, radix] = [plain.slice(2), 2]
  else if (plain.length > 1 && plain.startsWith("0")) [digits, radix] = [plain.slice(1), 8]
  const valid = { 2: /^[01]+$/, 8: /^[0-7]+$/, 10: /^[0-9]+$/, 16: /^[0-9a-fA-F]+$/ }[
    radix as 2 | 8 | 10 | 16
  ]
  if (!valid.test(digits)) return false
  const prefix = radix === 16 ? "0x" : radix === 8 ? "0o" : radix === 2 ? "0b" : ""
  return BigInt(prefix + digits) <= 2n ** 64n - 1n
}

/**
 * How go-yaml prints a non-string scalar (always plain): ints in decimal, floats with
 * `FormatFloat(f,'g',-1,64)` (`1` for 1.0, `1.234568e+09`), `.inf`/`-.inf`/`.nan`,
 * `true`/`false`, `null`, times as RFC 3339 with nanoseconds.
 * @returns the text
 */
export function plainScalarText(
  scalar: Exclude<Scalar, { kind: "string" } | { kind: "bytes" }>,
): string {
  switch (scalar.kind) {
    case "int":
      return scalar.value.toString()
    case "float": {
      const g = formatGoFloatG(scalar.value)
      return g === "+Inf" ? ".inf" : g === "-Inf" ? "-.inf" : g === "NaN" ? ".nan" : g
    }
    case "bool":
      return scalar.value ? "true" : "false"
    case "null":
      return "null"
    case "time":
      return scalar.value
    default: {
      const never: never = scalar
      return never
    }
  }
}

/** The emitter's verdict on a string (`yaml_emitter_analyze_scalar`). */
export interface ScalarAnalysis {
  readonly multiline: boolean
  readonly blockPlainAllowed: boolean
  readonly singleQuotedAllowed: boolean
  readonly blockAllowed: boolean
}

/** `#,[]{}&*!|>'"%@` and backquote: a scalar starting with one of them is not plain. */
const FLOW_INDICATORS: ReadonlySet<number> = new Set(
  Array.from("#,[]{}&*!|>'\"%@`", (ch) => ch.charCodeAt(0)),
)

const isBreak = (c: number | undefined): boolean =>
  c === 0x0a || c === 0x0d || c === 0x85 || c === 0x2028 || c === 0x2029
const isBlank = (c: number | undefined): boolean => c === 0x20 || c === 0x09

/**
 * go-yaml's printable set: LF, 0x20-0x7E, 0xA0-0xD7FF, 0xE000-0xFFFD except the BOM.
 * Characters beyond the BMP are not printable for go-yaml (they get `\U` escapes).
 */
export function isYamlPrintable(c: number): boolean {
  return (
    c === 0x0a ||
    (c >= 0x20 && c <= 0x7e) ||
    (c >= 0xa0 && c <= 0xd7ff) ||
    (c >= 0xe000 && c <= 0xfffd && c !== 0xfeff)
  )
}

/**
 * `yaml_emitter_analyze_scalar` for a string in block context.
 * @param value the string
 * @returns which styles the emitter allows
 */
export function analyzeScalar(value: string): ScalarAnalysis {
  if (value === "") {
    return {
      multiline: false,
      blockPlainAllowed: true,
      singleQuotedAllowed: true,
      blockAllowed: false,
    }
  }
  let blockIndicators = false
  let lineBreaks = false
  let special = false
  let tabs = false
  let leadingSpace = false
  let leadingBreak = false
  let trailingSpace = false
  let trailingBreak = false
  let breakSpace = false
  let spaceBreak = false
  let previousSpace = false
  let previousBreak = false
  if (value.startsWith("---") || value.startsWith("...")) blockIndicators = true
  let precededByWhitespace = true
  // code points, read with charCodeAt (no array of characters: this runs for every value)
  const length = value.length
  let i = 0
  let c = value.codePointAt(0) ?? 0
  let first = true
  while (i < length) {
    const width = c > 0xffff ? 2 : 1
    const nextAt = i + width
    const last = nextAt >= length
    const next = last ? undefined : (value.codePointAt(nextAt) ?? 0)
    const followedByWhitespace = next === undefined || isBlank(next)
    if (first) {
      if (FLOW_INDICATORS.has(c)) blockIndicators = true
      else if ((c === 0x3f || c === 0x3a || c === 0x2d) && followedByWhitespace)
        blockIndicators = true
    } else if (c === 0x3a && followedByWhitespace) blockIndicators = true
    else if (c === 0x23 && precededByWhitespace) blockIndicators = true
    if (c === 0x09) tabs = true
    else if (!isYamlPrintable(c)) special = true
    if (c === 0x20) {
      if (first) leadingSpace = true
      if (last) trailingSpace = true
      if (previousBreak) breakSpace = true
      previousSpace = true
      previousBreak = false
    } else if (isBreak(c)) {
      lineBreaks = true
      if (first) leadingBreak = true
      if (last) trailingBreak = true
      if (previousSpace) spaceBreak = true
      previousSpace = false
      previousBreak = true
    } else {
      previousSpace = false
      previousBreak = false
    }
    precededByWhitespace = isBlank(c) || isBreak(c)
    first = false
    i = nextAt
    c = next ?? 0
  }
  let blockPlainAllowed = true
  let singleQuotedAllowed = true
  let blockAllowed = true
  if (leadingSpace || leadingBreak || trailingSpace || trailingBreak) blockPlainAllowed = false
  if (trailingSpace) blockAllowed = false
  if (breakSpace) blockPlainAllowed = singleQuotedAllowed = false
  if (spaceBreak || tabs || special) blockPlainAllowed = singleQuotedAllowed = false
  if (spaceBreak || special) blockAllowed = false
  if (lineBreaks) blockPlainAllowed = false
  if (blockIndicators) blockPlainAllowed = false
  return { multiline: lineBreaks, blockPlainAllowed, singleQuotedAllowed, blockAllowed }
}

/** The style go-yaml writes a string in. */
export type StringStyle = "plain" | "single" | "double" | "literal"

/**
 * The style of a string (`stringv` then `select_scalar_style`): strings that would read back
 * as another type (or as a YAML 1.1 bool or base-60 float) are double-quoted; multi-line
 * strings use a literal block; otherwise plain, falling back to single then double quotes.
 * @param value the string
 * @param isKey keys are simple keys: multi-line or empty ones are quoted
 * @returns the style
 */
export function selectStringStyle(value: string, isKey: boolean): StringStyle {
  const resolved = resolvePlainScalar(value)
  const canUsePlain =
    resolved.kind === "string" && !BASE60_FLOAT.test(value) && !OLD_BOOLS.has(value)
  let style: StringStyle = value.includes("\n") ? "literal" : canUsePlain ? "plain" : "double"
  const analysis = analyzeScalar(value)
  if (isKey && analysis.multiline) style = "double"
  if (style === "plain") {
    if (!analysis.blockPlainAllowed) style = "single"
    if (value === "" && isKey) style = "single"
  }
  if (style === "single" && !analysis.singleQuotedAllowed) style = "double"
  if (style === "literal" && (!analysis.blockAllowed || isKey)) style = "double"
  return style
}

/**
 * A double-quoted scalar as go-yaml writes it (no folding: v3 has no width limit).
 * @returns the quoted text
 */
export function doubleQuote(value: string): string {
  let out = '"'
  for (const ch of value) {
    const c = ch.codePointAt(0) ?? 0
    if (!isYamlPrintable(c) || c === 0xfeff || isBreak(c) || ch === '"' || ch === "\\") {
      const short: Record<number, string> = {
        0x00: "0",
        0x07: "a",
        0x08: "b",
        0x09: "t",
        0x0a: "n",
        0x0b: "v",
        0x0c: "f",
        0x0d: "r",
        0x1b: "e",
        0x22: '"',
        0x5c: "\\",
        0x85: "N",
        0xa0: "_",
        0x2028: "L",
        0x2029: "P",
      }
      const s = short[c]
      if (s !== undefined) out += "\\" + s
      else if (c <= 0xff) out += "\\x" + c.toString(16).toUpperCase().padStart(2, "0")
      else if (c <= 0xffff) out += "\\u" + c.toString(16).toUpperCase().padStart(4, "0")
      else out += "\\U" + c.toString(16).toUpperCase().padStart(8, "0")
    } else out += ch
  }
  return out + '"'
}

/**
 * A single-quoted scalar (quotes doubled; only chosen for single-line strings).
 * @returns the quoted text
 */
export function singleQuote(value: string): string {
  return `'${value.replaceAll("'", "''")}'`
}
