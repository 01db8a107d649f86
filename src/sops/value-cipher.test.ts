// ENC[...] values, value types and the IV stash (docs/formats/sops.md "Encrypted values",
// "Value types").
import { test } from "node:test"
import assert from "node:assert/strict"
import { randomBytes } from "node:crypto"
import fc from "fast-check"
import {
  createIvSource,
  createIvStash,
  decryptValue,
  encodeEncryptedValue,
  encryptValue,
  encryptedValueType,
  formatGoFloat,
  isEncryptedValue,
  parseEncryptedValue,
  plaintextBytes,
} from "./value-cipher.js"
import type { Plaintext } from "./value-cipher.js"
import { EncryptedValueError, ValueAuthenticationError } from "./errors.js"
import { decodeUtf8 } from "../internal/bytes.js"
import { systemEntropy } from "../internal/entropy.js"

const dataKey = new Uint8Array(randomBytes(32))

test("formatGoFloat matches Go strconv.FormatFloat(f, 'f', -1, 64)", () => {
  const cases: [number, string][] = [
    [0, "0"],
    [-0, "-0"],
    [2, "2"],
    [1.5, "1.5"],
    [-12.25, "-12.25"],
    [0.1, "0.1"],
    [1234568000, "1234568000"],
    [1e21, "1000000000000000000000"],
    [1.5e22, "15000000000000000000000"],
    [1e-7, "0.0000001"],
    [1.25e-7, "0.000000125"],
    [123456789.125, "123456789.125"],
    [5e-324, "0." + "0".repeat(323) + "5"],
    [1.7976931348623157e308, "17976931348623157" + "0".repeat(292)],
    [Infinity, "+Inf"],
    [-Infinity, "-Inf"],
    [NaN, "NaN"],
  ]
  for (const [value, expected] of cases) assert.equal(formatGoFloat(value), expected, String(value))
})

test("property: formatGoFloat has no exponent and parses back to the same float", () => {
  fc.assert(
    fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (f) => {
      const text = formatGoFloat(f)
      assert.doesNotMatch(text, /e/i)
      assert.ok(Object.is(Number(text), f) || (f === 0 && Number(text) === 0), text)
    }),
  )
})

test("plaintext bytes: ints in decimal, booleans True/False, comments as text", () => {
  const text = (v: Plaintext): string => decodeUtf8(plaintextBytes(v))
  assert.equal(text({ kind: "int", value: -12n }), "-12")
  assert.equal(text({ kind: "int", value: 9007199254740993n }), "9007199254740993")
  assert.equal(text({ kind: "bool", value: true }), "True")
  assert.equal(text({ kind: "bool", value: false }), "False")
  assert.equal(text({ kind: "float", value: 1e21 }), "1000000000000000000000")
  assert.equal(text({ kind: "time", value: "2024-01-01T00:00:00Z" }), "2024-01-01T00:00:00Z")
  assert.equal(text({ kind: "comment", text: " hello" }), " hello")
})

test("round trip of every type, with 32-byte IVs and padded base64", () => {
  const values: Plaintext[] = [
    { kind: "string", value: "hunter2 ünïcode ✓" },
    { kind: "string", value: "multi\nline\n" },
    { kind: "int", value: 81n },
    { kind: "int", value: -(2n ** 63n) },
    { kind: "float", value: 0.2 },
    { kind: "float", value: 1e21 },
    { kind: "float", value: -Infinity },
    { kind: "bool", value: true },
    { kind: "bool", value: false },
    { kind: "time", value: "2024-01-01T10:20:30.123456789+02:00" },
    { kind: "comment", text: " a comment" },
  ]
  for (const v of values) {
    const text = encryptValue(v, dataKey, "a:b:")
    assert.match(
      text,
      /^ENC\[AES256_GCM,data:[A-Za-z0-9+/=]+,iv:[A-Za-z0-9+/=]{44},tag:[A-Za-z0-9+/=]{24},type:[a-z]+\]$/,
    )
    const parts = parseEncryptedValue(text, "a.b")
    assert.equal(parts.iv.length, 32)
    assert.equal(parts.tag.length, 16)
    assert.deepEqual(decryptValue(text, dataKey, "a:b:", "a.b"), v)
  }
  assert.equal(encryptedValueType(encryptValue({ kind: "int", value: 1n }, dataKey, ":")), "int")
})

test("bytes encrypt as type:str over the raw bytes; stringsAsBytes decrypts them back", () => {
  const bytes: Plaintext = { kind: "bytes", value: new Uint8Array([0, 1, 0x0d, 0x80, 255]) }
  const text = encryptValue(bytes, dataKey, "data:")
  assert.equal(encryptedValueType(text), "str")
  assert.deepEqual(decryptValue(text, dataKey, "data:", "data", { stringsAsBytes: true }), bytes)
  // as text, invalid UTF-8 is an error, never silently replaced
  assert.throws(() => decryptValue(text, dataKey, "data:", "data"), /invalid UTF-8/)
  // UTF-8 bytes are the same ciphertext as the string (same IV, same type)
  const iv = new Uint8Array(32).fill(7)
  const entropy = (): Uint8Array => iv
  assert.equal(
    encryptValue({ kind: "bytes", value: new TextEncoder().encode("hé") }, dataKey, "data:", {
      entropy,
    }),
    encryptValue({ kind: "string", value: "hé" }, dataKey, "data:", { entropy }),
  )
  assert.deepEqual(decryptValue("", dataKey, "data:", "data", { stringsAsBytes: true }), {
    kind: "bytes",
    value: new Uint8Array(0),
  })
  assert.equal(encryptValue({ kind: "bytes", value: new Uint8Array(0) }, dataKey, "data:"), "")
  // a type:bytes value (sops reads it, never writes it) still decrypts to bytes
  const raw = encryptValue(bytes, dataKey, "x:").replace("type:str]", "type:bytes]")
  assert.deepEqual(decryptValue(raw, dataKey, "x:", "x"), bytes)
})

test("empty strings and comments are never encrypted; an empty value decrypts to ''", () => {
  assert.equal(encryptValue({ kind: "string", value: "" }, dataKey, "a:"), "")
  assert.equal(encryptValue({ kind: "comment", text: "" }, dataKey, "a:"), "")
  assert.deepEqual(decryptValue("", dataKey, "a:", "a"), { kind: "string", value: "" })
})

test("a wrong path, key or tampered field fails authentication naming the path", () => {
  const text = encryptValue({ kind: "string", value: "secret" }, dataKey, "db:password:")
  const err = (fn: () => unknown): unknown => {
    try {
      fn()
    } catch (e) {
      return e
    }
    assert.fail("expected an error")
  }
  const e1 = err(() => decryptValue(text, dataKey, "db:user:", "db.user"))
  assert.ok(e1 instanceof ValueAuthenticationError)
  assert.equal(e1.path, "db.user")
  assert.match(e1.message, /value at db\.user failed authentication/)
  assert.doesNotMatch(e1.message, /secret/)
  const other = new Uint8Array(randomBytes(32))
  assert.throws(
    () => decryptValue(text, other, "db:password:", "db.password"),
    ValueAuthenticationError,
  )
  const parts = parseEncryptedValue(text, "x")
  const flipped = new Uint8Array(parts.data)
  flipped[0] = (flipped[0] ?? 0) ^ 1
  const tampered = encodeEncryptedValue({ ...parts, data: flipped })
  assert.throws(
    () => decryptValue(tampered, dataKey, "db:password:", "db.password"),
    ValueAuthenticationError,
  )
  // changing the type tag does not change the ciphertext check, but the parse of the plaintext
  const retyped = encodeEncryptedValue({ ...parts, type: "int" })
  assert.throws(
    () => decryptValue(retyped, dataKey, "db:password:", "db.password"),
    EncryptedValueError,
  )
})

test("malformed values are EncryptedValueErrors", () => {
  assert.throws(() => decryptValue("plain", dataKey, "a:", "a"), EncryptedValueError)
  assert.throws(
    () => decryptValue("ENC[AES256_GCM,data:!!,iv:AA==,tag:AA==,type:str]", dataKey, "a:", "a"),
    /invalid base64/,
  )
  const good = encryptValue({ kind: "string", value: "x" }, dataKey, "a:")
  assert.throws(
    () => decryptValue(good.replace("type:str", "type:blob"), dataKey, "a:", "a"),
    /unknown type "blob"/,
  )
  assert.equal(isEncryptedValue(good), true)
  assert.equal(isEncryptedValue("ENC[AES256_GCM,data:]"), false)
})

test("decrypt parses like Go: bools accept t/TRUE/0, ints keep 64 bits, out-of-range is refused", () => {
  const raw = (type: string, text: string): string => {
    // encrypt a string and relabel it: the tag covers data, IV and path, not the type
    const enc = encryptValue({ kind: "string", value: text }, dataKey, "v:")
    return enc.replace(/type:str\]$/, `type:${type}]`)
  }
  assert.deepEqual(decryptValue(raw("bool", "t"), dataKey, "v:", "v"), {
    kind: "bool",
    value: true,
  })
  assert.deepEqual(decryptValue(raw("bool", "FALSE"), dataKey, "v:", "v"), {
    kind: "bool",
    value: false,
  })
  assert.throws(() => decryptValue(raw("bool", "yes"), dataKey, "v:", "v"), EncryptedValueError)
  assert.deepEqual(decryptValue(raw("int", "9223372036854775807"), dataKey, "v:", "v"), {
    kind: "int",
    value: 9223372036854775807n,
  })
  assert.throws(
    () => decryptValue(raw("int", "9223372036854775808"), dataKey, "v:", "v"),
    EncryptedValueError,
  )
  assert.throws(() => decryptValue(raw("int", "1.5"), dataKey, "v:", "v"), EncryptedValueError)
  assert.deepEqual(decryptValue(raw("float", "1e3"), dataKey, "v:", "v"), {
    kind: "float",
    value: 1000,
  })
  assert.deepEqual(decryptValue(raw("float", "+Inf"), dataKey, "v:", "v"), {
    kind: "float",
    value: Infinity,
  })
  assert.throws(() => decryptValue(raw("float", "1e999"), dataKey, "v:", "v"), EncryptedValueError)
  assert.throws(
    () => decryptValue(raw("time", "yesterday"), dataKey, "v:", "v"),
    EncryptedValueError,
  )
})

test("IV stash: unchanged values keep their ciphertext, changed ones get a fresh IV", () => {
  const first = encryptValue({ kind: "string", value: "same" }, dataKey, "a:")
  const stash = createIvStash()
  decryptValue(first, dataKey, "a:", "a", { ivStash: stash })
  assert.equal(
    encryptValue({ kind: "string", value: "same" }, dataKey, "a:", { ivStash: stash }),
    first,
  )
  // a different value, path or type does not reuse the IV
  const changed = encryptValue({ kind: "string", value: "other" }, dataKey, "a:", {
    ivStash: stash,
  })
  assert.notEqual(
    parseEncryptedValue(changed, "a").iv.toString(),
    parseEncryptedValue(first, "a").iv.toString(),
  )
  const moved = encryptValue({ kind: "string", value: "same" }, dataKey, "b:", { ivStash: stash })
  assert.notDeepEqual(parseEncryptedValue(moved, "b").iv, parseEncryptedValue(first, "a").iv)
  // without a stash every encryption is fresh
  assert.notEqual(encryptValue({ kind: "string", value: "same" }, dataKey, "a:"), first)
})

test("IV stash: a non-canonical plaintext (bool 'true') is not stashed, so no IV encrypts two plaintexts", () => {
  const enc = encryptValue({ kind: "string", value: "true" }, dataKey, "a:").replace(
    "type:str]",
    "type:bool]",
  )
  const stash = createIvStash()
  assert.deepEqual(decryptValue(enc, dataKey, "a:", "a", { ivStash: stash }), {
    kind: "bool",
    value: true,
  })
  assert.equal(stash.ivs.size, 0)
  const again = encryptValue({ kind: "bool", value: true }, dataKey, "a:", { ivStash: stash })
  assert.notDeepEqual(parseEncryptedValue(again, "a").iv, parseEncryptedValue(enc, "a").iv)
})

test("property: decrypt(encrypt(v)) = v for strings, ints, floats and bools", () => {
  const value = fc.oneof(
    fc
      .string({ unit: "grapheme", minLength: 1 })
      .map((s): Plaintext => ({ kind: "string", value: s })),
    fc
      .bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })
      .map((n): Plaintext => ({ kind: "int", value: n })),
    fc.double({ noNaN: true }).map((f): Plaintext => ({ kind: "float", value: f })),
    fc.boolean().map((b): Plaintext => ({ kind: "bool", value: b })),
  )
  fc.assert(
    fc.property(value, fc.string(), (v, path) => {
      const text = encryptValue(v, dataKey, path)
      const back = decryptValue(text, dataKey, path, "p")
      if (v.kind === "float" && back.kind === "float")
        assert.ok(Object.is(v.value, back.value) || v.value === back.value)
      else assert.deepEqual(back, v)
    }),
  )
})

test("IV stash: 5,000 equal values at one path each keep their own IV, in order", () => {
  const dataKey = new Uint8Array(32).fill(9)
  const stash = createIvStash()
  const texts = Array.from({ length: 5_000 }, () =>
    encryptValue({ kind: "string", value: "same" }, dataKey, "list:"),
  )
  for (const text of texts) decryptValue(text, dataKey, "list:", "list", { ivStash: stash })
  const again = texts.map(() =>
    encryptValue({ kind: "string", value: "same" }, dataKey, "list:", { ivStash: stash }),
  )
  assert.deepEqual(again, texts)
  assert.equal(stash.ivs.size, 0)
  // a 5,001st copy gets a fresh IV
  const extra = encryptValue({ kind: "string", value: "same" }, dataKey, "list:", {
    ivStash: stash,
  })
  assert.ok(!texts.includes(extra))
})

test("IV source: the system's IVs come in draws but are all distinct; other entropy passes through", () => {
  const ivs = createIvSource(undefined)
  const seen = new Set<string>()
  for (let i = 0; i < 3000; i++) {
    const iv = ivs(32)
    assert.equal(iv.length, 32)
    seen.add(Buffer.from(iv).toString("hex"))
  }
  assert.equal(seen.size, 3000)
  assert.equal(createIvSource(systemEntropy)(16).length, 16)
  let calls = 0
  const counting = (length: number): Uint8Array => {
    calls++
    return new Uint8Array(length).fill(calls)
  }
  const given = createIvSource(counting)
  assert.equal(given, counting)
  assert.deepEqual(given(32), new Uint8Array(32).fill(1))
})

/** The padded-base64 check as first written: groups of four, then an optional padded group. */
const REFERENCE_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

test("property: a field is refused as invalid base64 exactly when it is not padded standard base64", () => {
  const iv = Buffer.alloc(32, 1).toString("base64")
  const tag = Buffer.alloc(16, 2).toString("base64")
  const field = fc
    .array(fc.constantFrom("A", "z", "0", "+", "/", "=", "-", "_", " ", "\n"), { maxLength: 14 })
    .map((parts) => parts.join(""))
  fc.assert(
    fc.property(field, (data) => {
      const text = `ENC[AES256_GCM,data:${data === "" ? "=" : data},iv:${iv},tag:${tag},type:str]`
      let invalid = false
      try {
        parseEncryptedValue(text, "k")
      } catch (cause) {
        assert.ok(cause instanceof EncryptedValueError)
        assert.match(cause.message, /invalid base64 in its data/)
        invalid = true
      }
      assert.equal(invalid, !REFERENCE_BASE64.test(data === "" ? "=" : data))
    }),
    { numRuns: 3000 },
  )
})
