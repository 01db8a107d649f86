// Unit tests for the header: parsing, incremental parsing, MAC (docs/formats/age.md "Header").
import { test } from "node:test"
import assert from "node:assert/strict"
import fc from "fast-check"
import { encodeUtf8 } from "../internal/bytes.js"
import { HeaderError } from "./errors.js"
import { encodeHeader, parseHeader, verifyHeaderMac } from "./header.js"

const fileKey = new Uint8Array(16).fill(5)
const stanzas = [
  { type: "X25519", args: ["abc"], body: new Uint8Array(32).fill(1) },
  { type: "grease-x", args: ["1", "2"], body: new Uint8Array(48) },
]

test("encode then parse round trips, with the payload after the header", () => {
  const header = encodeHeader(stanzas, fileKey)
  const withPayload = new Uint8Array([...header, 1, 2, 3])
  const parsed = parseHeader(withPayload)
  assert.ok(parsed !== null)
  assert.equal(parsed.headerLength, header.length)
  assert.deepEqual(parsed.stanzas, stanzas)
  assert.ok(verifyHeaderMac(parsed, fileKey))
  assert.ok(!verifyHeaderMac(parsed, new Uint8Array(16)))
  assert.equal(parsed.macInput.length, header.length - 45)
})

test("every proper prefix of a header is incomplete, never an error", () => {
  const header = encodeHeader(stanzas, fileKey)
  for (let cut = 0; cut < header.length; cut++) {
    assert.equal(parseHeader(header.subarray(0, cut)), null, `cut ${cut}`)
  }
})

test("rejects bad version lines, CRLF, bad MAC lines and empty stanza lists early", () => {
  const good = new TextDecoder().decode(encodeHeader(stanzas, fileKey))
  const mac = good.slice(good.lastIndexOf("--- ") + 4, -1)
  const cases = [
    "age-encryption.org/v1234\n",
    "age-encryption.org/v1\r\n",
    "garbage",
    "age\n",
    good.replace("\n-> X25519", "\r\n-> X25519"),
    good.replace(`--- ${mac}`, `---  ${mac}`),
    good.replace(`--- ${mac}`, `---${mac}`),
    good.replace(`--- ${mac}`, `--- ${mac} `),
    good.replace(`--- ${mac}`, `--- ${mac.slice(0, 42)}`),
    good.replace(`--- ${mac}`, `--- ${mac}A`),
    `age-encryption.org/v1\n--- ${mac}\n`,
    "age-encryption.org/v1\n-x",
  ]
  for (const text of cases) {
    assert.throws(() => parseHeader(encodeUtf8(text)), HeaderError, JSON.stringify(text))
  }
})

test("hints name CRLF and UTF-16 corruption", () => {
  assert.throws(
    () => parseHeader(encodeUtf8("age-encryption.org/v1\r\n-> X\n")),
    (e: unknown) => e instanceof HeaderError && e.hints.some((h) => h.includes("CRLF")),
  )
})

test("random bytes never throw anything but HeaderError", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (tail, prefix) => {
      const bytes = prefix
        ? new Uint8Array([...encodeUtf8("age-encryption.org/v1\n"), ...tail])
        : tail
      try {
        parseHeader(bytes)
      } catch (error) {
        assert.ok(error instanceof HeaderError)
      }
    }),
  )
})
