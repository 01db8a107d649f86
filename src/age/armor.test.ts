// Unit tests for the ASCII armor (docs/formats/age.md "Armor").
import { test } from "node:test"
import assert from "node:assert/strict"
import fc from "fast-check"
import { encodeUtf8 } from "../internal/bytes.js"
import { ArmorDecoder, ArmorEncoder, decodeArmor, detectArmor, encodeArmor } from "./armor.js"
import { ArmorError } from "./errors.js"

const BEGIN = "-----BEGIN AGE ENCRYPTED FILE-----"
const END = "-----END AGE ENCRYPTED FILE-----"
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)

test("writes 64 columns, LF, final LF, no empty line", () => {
  assert.equal(text(encodeArmor(new Uint8Array(0))), `${BEGIN}\n${END}\n`)
  assert.equal(text(encodeArmor(new Uint8Array(48))), `${BEGIN}\n${"A".repeat(64)}\n${END}\n`)
  assert.equal(text(encodeArmor(new Uint8Array(49))), `${BEGIN}\n${"A".repeat(64)}\nAA==\n${END}\n`)
})

test("the incremental encoder matches the buffer encoder for any split", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 500 }),
      fc.array(fc.nat(100), { maxLength: 8 }),
      (data, cuts) => {
        const out: Uint8Array[] = []
        const enc = new ArmorEncoder()
        let at = 0
        for (const c of cuts) {
          enc.push(data.subarray(at, at + c), (p) => out.push(p))
          at += c
        }
        enc.push(data.subarray(at), (p) => out.push(p))
        enc.finish((p) => out.push(p))
        assert.equal(text(Buffer.concat(out)), text(encodeArmor(data)))
        assert.deepEqual(decodeArmor(Buffer.concat(out)), data)
      },
    ),
  )
})

test("accepts CRLF, no final newline, and surrounding whitespace", () => {
  const data = new Uint8Array(100).map((_, i) => i)
  const armored = text(encodeArmor(data))
  for (const variant of [
    armored.replaceAll("\n", "\r\n"),
    armored.slice(0, -1),
    ` \t\r\n\n${armored}\n \t`,
  ]) {
    assert.deepEqual(decodeArmor(encodeUtf8(variant)), data, JSON.stringify(variant.slice(0, 10)))
  }
})

test("rejects every malformation", () => {
  const data = new Uint8Array(100).map((_, i) => i)
  const armored = text(encodeArmor(data))
  const lines = armored.split("\n")
  const cases = [
    `garbage\n${armored}`,
    `${armored}garbage`,
    armored.replace(BEGIN, BEGIN.toLowerCase()),
    armored.replace(BEGIN, `${BEGIN} `),
    armored.replace(END, `${END} `),
    armored.replace(`${BEGIN}\n`, `${BEGIN}\nKey: value\n`),
    armored.replace(`${BEGIN}\n`, `${BEGIN}\n\n`),
    armored.replace(`\n${END}`, `\n\n${END}`),
    armored.replace(`\n${END}`, `\n=AbCd\n${END}`),
    [lines[0], (lines[1] ?? "") + "AAAA", ...lines.slice(2)].join("\n"),
    [lines[0], (lines[1] ?? "").slice(4), ...lines.slice(2)].join("\n"),
    [lines[0], ` ${lines[1] ?? ""}`, ...lines.slice(2)].join("\n"),
    armored.replace("==\n", "\n"),
    armored.replace("==\n", "==\nAAAA\n"),
    armored.replace(END, "").trimEnd(),
    `${" ".repeat(1100)}${armored}`,
    `${armored}${" ".repeat(1100)}`,
    armored.replace(lines[1] ?? "", (lines[1] ?? "").replace(/^./, "*")),
  ]
  for (const variant of cases) {
    assert.throws(
      () => decodeArmor(encodeUtf8(variant)),
      ArmorError,
      JSON.stringify(variant.slice(0, 80)),
    )
  }
})

test("the incremental decoder stops at the first bad line", () => {
  const dec = new ArmorDecoder()
  const out: Uint8Array[] = []
  dec.push(encodeUtf8(`${BEGIN}\n${"A".repeat(64)}\n`), (p) => out.push(p))
  assert.equal(out.length, 1)
  assert.throws(() => {
    dec.push(encodeUtf8("AAA\n"), (p) => out.push(p))
  }, ArmorError)
  assert.throws(() => {
    dec.finish((p) => out.push(p))
  }, ArmorError)
})

test("detects armor after whitespace, and binary files at once", () => {
  assert.equal(detectArmor(encodeUtf8("age-encryption.org/v1\n"), false), false)
  assert.equal(detectArmor(encodeUtf8("age"), false), null)
  assert.equal(detectArmor(encodeUtf8(`\n  ${BEGIN}\n`), false), true)
  assert.equal(detectArmor(encodeUtf8("  "), false), null)
  assert.equal(detectArmor(encodeUtf8("  "), true), false)
  assert.equal(detectArmor(encodeUtf8(`garbage\n${BEGIN}\n`), true), true)
  assert.equal(detectArmor(encodeUtf8("garbage"), true), false)
})

test("a bad byte anywhere in a long run of full lines is refused, however the input is split", () => {
  const data = new Uint8Array(48 * 300 + 7).map((_, i) => (i * 31) & 0xff)
  const armored = encodeArmor(data)
  const firstData = BEGIN.length + 1
  const lastData = armored.length - END.length - 1 - 12
  fc.assert(
    fc.property(
      fc.integer({ min: firstData, max: lastData }),
      fc.constantFrom("-", "_", "=", "*", ".", " ", "\t", "\r", "\u00e9", "\u0000"),
      fc.integer({ min: 1, max: 5000 }),
      (at, replacement, piece) => {
        fc.pre(armored[at] !== 0x0a)
        const damaged = armored.slice()
        damaged[at] = replacement.charCodeAt(0)
        const out: Uint8Array[] = []
        const decoder = new ArmorDecoder()
        assert.throws(() => {
          for (let i = 0; i < damaged.length; i += piece) {
            decoder.push(damaged.subarray(i, i + piece), (p) => out.push(p))
          }
          decoder.finish((p) => out.push(p))
        }, ArmorError)
        // only whole lines before the damaged one were released (a line ending in `=` may be
        // a valid last line, refused only for what follows it)
        const line = Math.floor((at - firstData) / 65)
        const released = Buffer.concat(out)
        if (replacement === "=") assert.ok(released.length <= (line + 1) * 48)
        else assert.deepEqual(released, Buffer.from(data.subarray(0, line * 48)))
      },
    ),
  )
})
