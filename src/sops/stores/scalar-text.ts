/**
 * Scalars as Go prints and reads them (docs/formats/sops.md "Value types",
 * "Writing YAML", "Writing JSON", "Writing dotenv", "Reading YAML"): `strconv`
 * float formats (`'g'`, `'G'`, `'f'` with a precision), `ParseInt` with base prefixes and the
 * int64 range, and the stores' `ValToString`. JavaScript's `String(number)` differs from Go
 * in exactly the places sops files show (`1.234568e+09`, `1e+06`, `2.0`), so every store
 * formats numbers through here.
 */
import type { Scalar } from "../tree.js"

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

/** Shortest round-trip decimal digits of a finite non-zero `|f|` and its decimal point position. */
function shortestDigits(f: number): { digits: string; pointAt: number } {
  const text = Math.abs(f).toExponential() // shortest round-trip digits, as Go's shortest mode
  const [mantissa = "0", exponent = "0"] = text.split("e")
  const digits = mantissa.replace(".", "")
  return { digits, pointAt: Number(exponent) + 1 }
}

function formatE(negative: boolean, digits: string, pointAt: number, e: "e" | "E"): string {
  const exp = pointAt - 1
  const mantissa = digits.length > 1 ? `${digits[0] ?? ""}.${digits.slice(1)}` : digits
  const expText = String(Math.abs(exp)).padStart(2, "0")
  return `${negative ? "-" : ""}${mantissa}${e}${exp < 0 ? "-" : "+"}${expText}`
}

function formatFixed(negative: boolean, digits: string, pointAt: number, decimals: number): string {
  let intPart: string
  let fraction: string
  if (pointAt <= 0) {
    intPart = "0"
    fraction = "0".repeat(-pointAt) + digits
  } else if (pointAt >= digits.length) {
    intPart = digits + "0".repeat(pointAt - digits.length)
    fraction = ""
  } else {
    intPart = digits.slice(0, pointAt)
    fraction = digits.slice(pointAt)
  }
  fraction = fraction.padEnd(decimals, "0").slice(0, decimals)
  return `${negative ? "-" : ""}${intPart}${decimals > 0 ? "." + fraction : ""}`
}

function special(f: number): string | undefined {
  if (Number.isNaN(f)) return "NaN"
  if (f === Infinity) return "+Inf"
  if (f === -Infinity) return "-Inf"
  return undefined
}

/**
 * Go's `strconv.FormatFloat(f, 'g', -1, 64)` (or `'G'`): shortest digits, exponent form when
 * the exponent is below -4 or at least 6 (`1.234568e+09`, `1e+06`, `0.0001`, `1e-05`).
 * @param f the number
 * @param upper `'G'` instead of `'g'`
 * @returns the Go text (`+Inf`, `-Inf`, `NaN` for the specials)
 */
export function formatGoFloatG(f: number, upper = false): string {
  const s = special(f)
  if (s !== undefined) return s
  const negative = f < 0 || Object.is(f, -0)
  if (f === 0) return negative ? "-0" : "0"
  const { digits, pointAt } = shortestDigits(f)
  const exp = pointAt - 1
  // spec: strconv uses precision 6 for the %e/%f decision in shortest mode
  if (exp < -4 || exp >= 6) return formatE(negative, digits, pointAt, upper ? "E" : "e")
  return formatFixed(negative, digits, pointAt, Math.max(digits.length - pointAt, 0))
}

/**
 * Go's `strconv.FormatFloat(f, 'f', decimals, 64)`, or the shortest digits when `decimals`
 * is -1 (never an exponent: `1e21` is `1000000000000000000000`).
 * @param f the number
 * @param decimals digits after the point, or -1 for the shortest round-trip form
 * @returns the Go text
 */
export function formatGoFloatF(f: number, decimals: number): string {
  const s = special(f)
  if (s !== undefined) return s
  const negative = f < 0 || Object.is(f, -0)
  if (f === 0) return `${negative ? "-" : ""}0${decimals > 0 ? "." + "0".repeat(decimals) : ""}`
  if (decimals < 0) {
    const { digits, pointAt } = shortestDigits(f)
    return formatFixed(negative, digits, pointAt, Math.max(digits.length - pointAt, 0))
  }
  // toFixed rounds correctly (to nearest, ties away from zero on the exact binary value) up
  // to 100 digits
  if (Math.abs(f) < 1e21) {
    const fixed = Math.abs(f).toFixed(decimals)
    return `${negative ? "-" : ""}${fixed}`
  }
  const { digits, pointAt } = shortestDigits(f)
  return formatFixed(negative, digits, pointAt, decimals)
}

/**
 * sops's `ValToString` (`stores/stores.go`), used by the dotenv and INI stores and
 * `exec-env`: floats `'G'` then `'f',1` when that has neither `.` nor `E` (`2.0`, `1E+21`),
 * ints in decimal, bools `true`/`false`, times as stored, strings as is.
 * @param scalar the value
 * @returns its text
 */
export function scalarToText(scalar: Scalar): string {
  switch (scalar.kind) {
    case "string":
    case "time":
      return scalar.value
    case "int":
      return scalar.value.toString()
    case "float": {
      const g = formatGoFloatG(scalar.value, true)
      return g.includes(".") || g.includes("E") ? g : formatGoFloatF(scalar.value, 1)
    }
    case "bool":
      return scalar.value ? "true" : "false"
    case "bytes":
      return new TextDecoder().decode(scalar.value)
    case "null":
      return ""
    default: {
      const never: never = scalar
      return never
    }
  }
}

const DIGITS = { 2: /^[01]+$/, 8: /^[0-7]+$/, 10: /^[0-9]+$/, 16: /^[0-9a-fA-F]+$/ } as const

/**
 * Go's `strconv.ParseInt(text, base, 64)` for base 0 (prefixes `0x`, `0o`, `0b`, legacy
 * `0` octal, optional sign) or an explicit base; underscores must be removed by the caller.
 * @param text the digits
 * @param base 0 to read the prefix, or 2, 8, 10, 16
 * @returns the value, or undefined when the text is not an int64 in that syntax
 */
export function parseGoInt(text: string, base: 0 | 2 | 8 | 10 | 16 = 0): bigint | undefined {
  let rest = text
  let negative = false
  if (rest.startsWith("+") || rest.startsWith("-")) {
    negative = rest.startsWith("-")
    rest = rest.slice(1)
  }
  let radix: 2 | 8 | 10 | 16 = base === 0 ? 10 : base
  if (base === 0) {
    const lower = rest.toLowerCase()
    if (lower.startsWith("0x")) [radix, rest] = [16, rest.slice(2)]
    else if (lower.startsWith("0o")) [radix, rest] = [8, rest.slice(2)]
    else if (lower.startsWith("0b")) [radix, rest] = [2, rest.slice(2)]
    else if (rest.length > 1 && rest.startsWith("0")) [radix, rest] = [8, rest.slice(1)]
  }
  if (!DIGITS[radix].test(rest)) return undefined
  const prefix = radix === 16 ? "0x" : radix === 8 ? "0o" : radix === 2 ? "0b" : ""
  const magnitude = BigInt(prefix + rest)
  const value = negative ? -magnitude : magnitude
  return value < INT64_MIN || value > INT64_MAX ? undefined : value
}

/**
 * Whether an integer fits Go's `int` (64-bit), as sops requires.
 * @param value the integer
 * @returns true inside [-2^63, 2^63-1]
 */
export function fitsInt64(value: bigint): boolean {
  return value >= INT64_MIN && value <= INT64_MAX
}
