/**
 * The emitter's scalar analysis (yaml-scalar.ts) against the first, direct transcription of
 * go-yaml's `yaml_emitter_analyze_scalar` (an array of code points, one character at a
 * time), kept here as the reference for the faster loop now in use.
 */
import assert from "node:assert/strict"
import { test } from "node:test"
import fc from "fast-check"
import { analyzeScalar, isYamlPrintable, type ScalarAnalysis } from "./yaml-scalar.js"

const isBreak = (c: number | undefined): boolean =>
  c === 0x0a || c === 0x0d || c === 0x85 || c === 0x2028 || c === 0x2029
const isBlank = (c: number | undefined): boolean => c === 0x20 || c === 0x09

function referenceAnalyzeScalar(value: string): ScalarAnalysis {
  if (value === "") {
    return {
      multiline: false,
      blockPlainAllowed: true,
      singleQuotedAllowed: true,
      blockAllowed: false,
    }
  }
  const chars = Array.from(value, (ch) => ch.codePointAt(0) ?? 0)
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
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] ?? 0
    const next = chars[i + 1]
    const followedByWhitespace = next === undefined || isBlank(next)
    const ch = String.fromCodePoint(c)
    if (i === 0) {
      if ("#,[]{}&*!|>'\"%@`".includes(ch)) blockIndicators = true
      else if ((ch === "?" || ch === ":" || ch === "-") && followedByWhitespace)
        blockIndicators = true
    } else if (ch === ":" && followedByWhitespace) blockIndicators = true
    else if (ch === "#" && precededByWhitespace) blockIndicators = true
    if (c === 0x09) tabs = true
    else if (!isYamlPrintable(c)) special = true
    const last = i === chars.length - 1
    if (c === 0x20) {
      if (i === 0) leadingSpace = true
      if (last) trailingSpace = true
      if (previousBreak) breakSpace = true
      previousSpace = true
      previousBreak = false
    } else if (isBreak(c)) {
      lineBreaks = true
      if (i === 0) leadingBreak = true
      if (last) trailingBreak = true
      if (previousSpace) spaceBreak = true
      previousSpace = false
      previousBreak = true
    } else {
      previousSpace = false
      previousBreak = false
    }
    precededByWhitespace = isBlank(c) || isBreak(c)
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

const interesting = fc.constantFrom(
  " ",
  "\t",
  "\n",
  "\r",
  ":",
  "#",
  "-",
  "?",
  "[",
  "'",
  '"',
  "`",
  "\u0085",
  "\u2028",
  "\ufeff",
  "\u00a0",
  "\ud83d\ude00",
  "\ud800",
  "\udc00",
  "a",
  "é",
  "---",
  "...",
  "\u0000",
  "\u007f",
)

test("property: analyzeScalar agrees with the reference transcription", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ maxLength: 20, unit: "binary" }),
        fc.array(interesting, { maxLength: 12 }).map((parts) => parts.join("")),
      ),
      (value) => {
        assert.deepEqual(analyzeScalar(value), referenceAnalyzeScalar(value))
      },
    ),
    { numRuns: 3000 },
  )
})
