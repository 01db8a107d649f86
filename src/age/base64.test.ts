// Unit tests for strict base64 (docs/formats/age.md "Encoding rules").
import { test } from "node:test"
import assert from "node:assert/strict"
import fc from "fast-check"
import { decodeBase64Strict, encodeBase64 } from "./base64.js"
import { HeaderError } from "./errors.js"

test("decodes canonical unpadded base64", () => {
  assert.deepEqual(decodeBase64Strict("QUE", "x"), new Uint8Array([0x41, 0x41]))
  assert.deepEqual(decodeBase64Strict("", "x"), new Uint8Array(0))
  assert.equal(encodeBase64(new Uint8Array([0x41, 0x41])), "QUE")
})

test("rejects padding, whitespace, bad characters, bad length and non-canonical tails", () => {
  for (const bad of [
    "QUE=",
    "QQ==",
    "QU E",
    "QUE\n",
    "QUE\r",
    "QUF",
    "Q",
    "QUFBQ",
    "QU-_",
    "QUÉ",
  ]) {
    assert.throws(() => decodeBase64Strict(bad, "test field"), HeaderError, bad)
  }
  assert.throws(() => decodeBase64Strict("QUF", "stanza body"), /stanza body/)
})

test("encode then decode is the identity", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      assert.deepEqual(decodeBase64Strict(encodeBase64(bytes), "x"), bytes)
    }),
  )
})
