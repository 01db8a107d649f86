// Unit tests for Bech32 without the length limit (docs/formats/age.md "Encoding rules").
import { test } from "node:test"
import assert from "node:assert/strict"
import { decodeBech32, encodeBech32 } from "./bech32.js"

test("round trips long data and keeps the HRP case", () => {
  const data = new Uint8Array(1216).map((_, i) => i % 251)
  const text = encodeBech32("age1pq", data)
  assert.ok(text.length > 1900)
  assert.deepEqual(decodeBech32(text), { hrp: "age1pq", data })
  const upper = encodeBech32("AGE-SECRET-KEY-", new Uint8Array(32).fill(1))
  assert.equal(upper, upper.toUpperCase())
  assert.equal(decodeBech32(upper).hrp, "AGE-SECRET-KEY-")
  assert.equal(decodeBech32(upper.toLowerCase()).hrp, "age-secret-key-")
})

test("rejects mixed case and bad checksums without quoting the input", () => {
  const text = encodeBech32("age", new Uint8Array(32).fill(3))
  assert.throws(() => decodeBech32(text.slice(0, 10) + text.slice(10).toUpperCase()), /mixed-case/)
  const broken = text.slice(0, -1) + (text.endsWith("q") ? "p" : "q")
  assert.throws(
    () => decodeBech32(broken),
    (e: unknown) => e instanceof Error && !e.message.includes(broken),
  )
})
