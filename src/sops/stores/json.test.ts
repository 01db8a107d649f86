/**
 * JSON and binary stores (docs/formats/sops.md "Where the metadata goes", "Writing JSON",
 * "Reading JSON"): Go's encoding/json output byte for byte, int64/float typing, parse∘emit
 * = id, bad input.
 */
import assert from "node:assert/strict"
import { test } from "node:test"
import fc from "fast-check"
import { StoreEmitError, StoreParseError } from "../errors.js"
import type { Metadata } from "../metadata.js"
import type { Document, Entry, Mapping, Node, Scalar } from "../tree.js"
import { BinaryStore } from "./binary.js"
import { JsonStore, quoteGoJson } from "./json.js"
import { emitPlaintext, isBytesStore, parsePlaintext } from "./store.js"

const store = new JsonStore()
const s = (value: string): Scalar => ({ kind: "string", value })
const e = (key: string, value: Node): Entry => ({ kind: "entry", key, value })
const map = (...items: Entry[]): Mapping => ({ kind: "mapping", items })
const doc = (branch: Mapping): Document => ({ branches: [branch] })

const metadata: Metadata = {
  keyGroups: [
    {
      age: [],
      pgp: [
        {
          fp: "ABCD",
          createdAt: "2024-01-01T00:00:00Z",
          enc: "-----BEGIN PGP MESSAGE-----\n\nx\n-----END PGP MESSAGE-----",
        },
      ],
      opaque: {},
    },
  ],
  shamirThreshold: 0,
  lastModified: "2024-01-02T03:04:05Z",
  mac: "ENC[AES256_GCM,data:m,iv:i,tag:t,type:str]",
  selector: { kind: "unencrypted_suffix", value: "_unencrypted" },
  macOnlyEncrypted: false,
  version: "3.13.2",
}

test("emits tab-indented JSON with Go's escaping and number formats, comments dropped", () => {
  const d = doc(
    map(
      e("html", s('<a href="x">&amp;</a>')),
      e("ctl", s("\u0001\b\f\n\r\t\u2028 é")),
      e("int", { kind: "int", value: 9223372036854775807n }),
      e("f", { kind: "float", value: 1e21 }),
      e("small", { kind: "float", value: 1e-7 }),
      e("half", { kind: "float", value: 0.5 }),
      e("list", {
        kind: "sequence",
        items: [
          { kind: "comment", text: "dropped" },
          { kind: "bool", value: true },
          { kind: "null" },
        ],
      }),
      e("empty", map()),
      e("none", { kind: "sequence", items: [] }),
    ),
  )
  assert.equal(
    store.emit(d),
    '{\n\t"html": "\\u003ca href=\\"x\\"\\u003e\\u0026amp;\\u003c/a\\u003e",\n\t"ctl": "\\u0001\\b\\f\\n\\r\\t\\u2028 é",\n\t"int": 9223372036854775807,\n\t"f": 1e+21,\n\t"small": 1e-7,\n\t"half": 0.5,\n\t"list": [\n\t\ttrue,\n\t\tnull\n\t],\n\t"empty": {},\n\t"none": []\n}\n',
  )
  assert.equal(
    new JsonStore({ indent: 2 }).emit(doc(map(e("a", map(e("b", s("c"))))))),
    '{\n  "a": {\n    "b": "c"\n  }\n}\n',
  )
  assert.throws(() => store.emit(doc(map(e("nan", { kind: "float", value: NaN })))), StoreEmitError)
  assert.equal(quoteGoJson("\ud800x"), '"\\ufffdx"')
})

test("parses ints that fit int64 as ints, everything else as floats, keeping order and duplicates", () => {
  const parsed = store.parse(
    '{"b": 1, "a": -9223372036854775808, "big": 9223372036854775808, "f": 1.0, "e": 1e2, "b": "dup"}',
  )
  assert.deepEqual(parsed, {
    branches: [
      map(
        e("b", { kind: "int", value: 1n }),
        e("a", { kind: "int", value: -9223372036854775808n }),
        e("big", { kind: "float", value: 9223372036854775808 }),
        e("f", { kind: "float", value: 1 }),
        e("e", { kind: "float", value: 100 }),
        e("b", s("dup")),
      ),
    ],
  })
})

test("writes the sops section last in the 3.13 layout and reads it back", () => {
  const d = doc(map(e("k", s("ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]"))))
  const out = store.emitEncrypted(d, metadata)
  assert.equal(
    out,
    '{\n\t"k": "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]",\n\t"sops": {\n\t\t"lastmodified": "2024-01-02T03:04:05Z",\n\t\t"mac": "ENC[AES256_GCM,data:m,iv:i,tag:t,type:str]",\n\t\t"pgp": [\n\t\t\t{\n\t\t\t\t"created_at": "2024-01-01T00:00:00Z",\n\t\t\t\t"enc": "-----BEGIN PGP MESSAGE-----\\n\\nx\\n-----END PGP MESSAGE-----",\n\t\t\t\t"fp": "ABCD"\n\t\t\t}\n\t\t],\n\t\t"unencrypted_suffix": "_unencrypted",\n\t\t"version": "3.13.2"\n\t}\n}\n',
  )
  assert.deepEqual(store.parseEncrypted(out), { doc: d, metadata })
})

test("binary store: raw text in, {data, sops} JSON out", () => {
  const binary = new BinaryStore()
  const d = binary.parse("line one\nline two\n")
  assert.equal(binary.emit(d), "line one\nline two\n")
  const out = binary.emitEncrypted(d, metadata)
  assert.ok(out.startsWith('{\n\t"data": "line one\\nline two\\n",\n\t"sops": {'))
  assert.deepEqual(binary.parseEncrypted(out), { doc: d, metadata })
  assert.throws(() => binary.emit(doc(map(e("other", s("x"))))), StoreEmitError)
})

/**
 * Bytes that are not UTF-8: NUL, 0xff, a lone continuation byte, a truncated sequence, a
 * lone CR.
 */
const notUtf8 = new Uint8Array([
  0x00, 0xff, 0x80, 0x41, 0xe2, 0x82, 0x0d, 0xc0, 0xaf, 0xed, 0xa0, 0x80,
])

test("binary store: any bytes in, the same bytes out (parseBytes/emitBytes)", () => {
  const binary = new BinaryStore()
  assert.ok(isBytesStore(binary))
  assert.ok(!isBytesStore(store))
  const d = binary.parseBytes(notUtf8)
  assert.deepEqual(d, doc(map(e("data", { kind: "bytes", value: notUtf8 }))))
  assert.deepEqual(binary.emitBytes(d), notUtf8)
  assert.deepEqual(emitPlaintext(binary, parsePlaintext(binary, notUtf8)), notUtf8)
  assert.deepEqual(binary.emitBytes(binary.parseBytes(new Uint8Array(0))), new Uint8Array(0))
  // a string data (a file read as text) is written as its UTF-8
  assert.deepEqual(binary.emitBytes(binary.parse("é\r")), new Uint8Array([0xc3, 0xa9, 0x0d]))
  // text emit works for UTF-8 bytes and refuses the rest instead of replacing them
  assert.equal(binary.emit(binary.parseBytes(new Uint8Array([0x68, 0x69, 0x0d]))), "hi\r")
  assert.throws(() => binary.emit(d), StoreEmitError)
  assert.throws(() => binary.emitBytes(doc(map(e("other", s("x"))))), StoreEmitError)
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      assert.deepEqual(binary.emitBytes(binary.parseBytes(bytes)), bytes)
    }),
    { numRuns: 300 },
  )
})

test("text stores read bytes as UTF-8 (invalid sequences become U+FFFD) and write UTF-8", () => {
  const text = '{\n\t"a": "\u00e9"\n}\n'
  const bytes = new TextEncoder().encode(text)
  assert.deepEqual(parsePlaintext(store, bytes), store.parse(text))
  assert.deepEqual(emitPlaintext(store, store.parse(text)), bytes)
  const bad = parsePlaintext(
    store,
    new Uint8Array([...new TextEncoder().encode('{"a": "'), 0xff, 0x22, 0x7d]),
  )
  assert.deepEqual(bad, doc(map(e("a", s("\ufffd")))))
})

test("malformed JSON gives one-line StoreParseErrors with the line", () => {
  const named = new JsonStore({ fileName: "x.json" })
  const bad: [string, RegExp][] = [
    ['{\n"a": 1,\n}', /^file "x\.json" line 3: invalid JSON/],
    ["[1, 2]", /top level of a JSON file must be an object/],
    ['{"a": "\\x"}', /bad escape/],
    ['{"a": tru}', /unexpected/],
    ['{"a": 1} x', /after the object/],
    ['{"a": "x', /unterminated string/],
    ["", /must be an object/],
    ["[".repeat(5000), /must be an object/],
    ['{"a":' + "[".repeat(5000), /nested more than 256 levels deep/],
  ]
  for (const [text, message] of bad) {
    assert.throws(
      () => named.parse(text),
      (err: unknown) =>
        err instanceof StoreParseError && message.test(err.message) && !err.message.includes("\n"),
      text,
    )
  }
  assert.throws(() => store.parseEncrypted('{"a": 1}'), StoreParseError)
})

const keyArb = fc.string({ maxLength: 6 }).filter((k) => k !== "sops")
const scalarArb: fc.Arbitrary<Scalar> = fc.oneof(
  fc
    .oneof(
      fc.string({ unit: "grapheme", maxLength: 6 }),
      fc.string({ unit: "binary-ascii", maxLength: 10 }),
    )
    .map((value) => s(value)),
  fc
    .bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })
    .map((value): Scalar => ({ kind: "int", value })),
  fc
    .double({ noNaN: true, noDefaultInfinity: true })
    .filter((f) => !Number.isInteger(f))
    .map((value): Scalar => ({ kind: "float", value })),
  fc.boolean().map((value): Scalar => ({ kind: "bool", value })),
  fc.constant<Scalar>({ kind: "null" }),
)
const { node: nodeArb } = fc.letrec<{ node: Node }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small" },
    scalarArb,
    fc
      .array(fc.tuple(keyArb, tie("node")), { maxLength: 3 })
      .map((pairs): Node => map(...pairs.map(([k, v]) => e(k, v))) as Node),
    fc.array(tie("node"), { maxLength: 3 }).map((items): Node => ({ kind: "sequence", items })),
  ),
}))

test("property: parse(emit(doc)) = doc (duplicate keys included)", () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(keyArb, nodeArb), { maxLength: 5 }), (pairs) => {
      const d = doc(map(...pairs.map(([k, v]) => e(k, v))))
      assert.deepEqual(store.parse(store.emit(d)), d)
    }),
    { numRuns: 300 },
  )
})

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

test("property: strings read and written through the fast path and the escaping path agree", () => {
  const text = fc.oneof(
    fc.string({ maxLength: 30, unit: "binary" }),
    fc
      .array(fc.constantFrom("a", "é", '"', "\\", "\n", "\u0001", "<", "&", "\u2028", "/", " "), {
        maxLength: 12,
      })
      .map((parts) => parts.join("")),
  )
  fc.assert(
    fc.property(text, text, (key, value) => {
      // JSON.stringify escapes differently from Go; both must read back to the same strings
      const parsedStd = store.parse(`{${JSON.stringify(key)}: ${JSON.stringify(value)}}`)
      assert.deepEqual(parsedStd, doc(map(e(key, s(value)))))
      // Go writes a lone surrogate as U+FFFD
      const wellFormed = value.replace(LONE_SURROGATE, "\ufffd")
      assert.deepEqual(store.parse(`{"k": ${quoteGoJson(value)}}`), doc(map(e("k", s(wellFormed)))))
    }),
    { numRuns: 2000 },
  )
})
