/**
 * YAML store (docs/formats/sops.md "Writing YAML", "Reading YAML"): go-yaml v3 output byte
 * for byte for representative documents, go-yaml typing of plain scalars, parse∘emit = id,
 * bad input.
 */
import assert from "node:assert/strict"
import { test } from "node:test"
import fc from "fast-check"
import { StoreEmitError, StoreParseError } from "../errors.js"
import type { Comment, Document, Entry, Mapping, Node, Scalar } from "../tree.js"
import { YamlStore } from "./yaml.js"

const store = new YamlStore()
const s = (value: string): Scalar => ({ kind: "string", value })
const e = (key: string, value: Node): Entry => ({ kind: "entry", key, value })
const c = (text: string): Comment => ({ kind: "comment", text })
const map = (...items: (Entry | Comment)[]): Mapping => ({ kind: "mapping", items })
const doc = (...branches: Mapping[]): Document => ({ branches })

test("emits nested mappings, indented lists and comments like go-yaml with indent 4", () => {
  const d = doc(
    map(
      c(" top comment"),
      e("a", s("x")),
      e("b", map(e("c", map(e("d", { kind: "int", value: 1n }))), c(" foot of b"))),
      e("list", {
        kind: "sequence",
        items: [
          c(" first"),
          s("one"),
          map(e("k", s("v")), e("k2", s("v2"))),
          { kind: "sequence", items: [s("x")] },
          c(" last"),
        ],
      }),
      e("empty_map", map()),
      e("empty_list", { kind: "sequence", items: [] }),
      e("nothing", { kind: "null" }),
    ),
  )
  assert.equal(
    store.emit(d),
    [
      "# top comment",
      "a: x",
      "b:",
      "    c:",
      "        d: 1",
      "    # foot of b",
      "list:",
      "    # first",
      "    - one",
      "    - k: v",
      "      k2: v2",
      "    - - x",
      "    # last",
      "empty_map: {}",
      "empty_list: []",
      "nothing: null",
      "",
    ].join("\n"),
  )
})

test("quotes strings that would read back as another type, as go-yaml does", () => {
  const cases: [string, string][] = [
    ["true", '"true"'],
    ["yes", '"yes"'],
    ["on", '"on"'],
    ["1.0", '"1.0"'],
    ["", '""'],
    ["null", '"null"'],
    ["~", '"~"'],
    ["0x1F", '"0x1F"'],
    ["1_000", '"1_000"'],
    ["2024-01-01", '"2024-01-01"'],
    ["1:20", '"1:20"'],
    ["plain text", "plain text"],
    ["a: b", "'a: b'"],
    ["x #y", "'x #y'"],
    [" lead", "' lead'"],
    ["- item", "'- item'"],
    ["it's", "it's"],
    ["@at", "'@at'"],
    ["tab\there", '"tab\\there"'],
    ["héllo wörld", "héllo wörld"],
    ["emoji 😀", '"emoji \\U0001F600"'],
    [
      "ENC[AES256_GCM,data:abc=,iv:x,tag:y,type:str]",
      "ENC[AES256_GCM,data:abc=,iv:x,tag:y,type:str]",
    ],
  ]
  for (const [value, written] of cases) {
    assert.equal(store.emit(doc(map(e("k", s(value))))), `k: ${written}\n`, value)
  }
  assert.equal(store.emit(doc(map(e("key: colon", s("v"))))), "'key: colon': v\n")
  assert.equal(store.emit(doc(map(e("true", s("v"))))), '"true": v\n')
})

test("writes multi-line strings as literal blocks with go-yaml's chomping and indent hints", () => {
  assert.equal(store.emit(doc(map(e("k", s("a\nb"))))), "k: |-\n    a\n    b\n")
  assert.equal(store.emit(doc(map(e("k", s("a\nb\n"))))), "k: |\n    a\n    b\n")
  assert.equal(store.emit(doc(map(e("k", s("a\n\n")), e("x", s("z"))))), "k: |+\n    a\n\nx: z\n")
  assert.equal(store.emit(doc(map(e("k", s(" a\nb"))))), "k: |4-\n     a\n    b\n")
  assert.equal(store.emit(doc(map(e("k", s("trailing \nspace"))))), 'k: "trailing \\nspace"\n')
  assert.equal(
    store.emit(doc(map(e("l", { kind: "sequence", items: [map(e("enc", s("x\ny\n")))] })))),
    "l:\n    - enc: |\n        x\n        y\n",
  )
})

test("prints numbers, bools, times and nulls as go-yaml does", () => {
  const d = doc(
    map(
      e("f1", { kind: "float", value: 1234568000 }),
      e("f2", { kind: "float", value: 1.5 }),
      e("f3", { kind: "float", value: 1 }),
      e("f4", { kind: "float", value: 1e21 }),
      e("f5", { kind: "float", value: 0.00001 }),
      e("inf", { kind: "float", value: -Infinity }),
      e("nan", { kind: "float", value: NaN }),
      e("big", { kind: "int", value: 9223372036854775807n }),
      e("b", { kind: "bool", value: false }),
      e("t", { kind: "time", value: "2024-01-01T00:00:00Z" }),
    ),
  )
  assert.equal(
    store.emit(d),
    "f1: 1.234568e+09\nf2: 1.5\nf3: 1\nf4: 1e+21\nf5: 1e-05\ninf: -.inf\nnan: .nan\nbig: 9223372036854775807\nb: false\nt: 2024-01-01T00:00:00Z\n",
  )
})

test("types plain scalars as go-yaml v3 decodes them into interface{}", () => {
  const text = [
    "s: yes",
    "b: True",
    "i: 0x1F",
    "o: 0o17",
    "legacy: 0777",
    "u: 1_000",
    "neg: -12",
    "big: 9007199254740993",
    "f: 1e3",
    "g: .5",
    "inf: -.Inf",
    "n: ~",
    "e:",
    "d: 2001-12-14",
    "ts: 2001-12-14T21:59:43.10-05:00",
    "sp: 2001-12-14 21:59:43.10",
    "q: '123'",
    "bin: !!binary aGVsbG8=",
    "str: !!str 12",
    "",
  ].join("\n")
  const parsed = store.parse(text).branches[0]
  const values = Object.fromEntries(
    (parsed?.items ?? []).flatMap((i) => (i.kind === "entry" ? [[i.key, i.value]] : [])),
  )
  assert.deepEqual(values, {
    s: s("yes"),
    b: { kind: "bool", value: true },
    i: { kind: "int", value: 31n },
    o: { kind: "int", value: 15n },
    legacy: { kind: "int", value: 511n },
    u: { kind: "int", value: 1000n },
    neg: { kind: "int", value: -12n },
    big: { kind: "int", value: 9007199254740993n },
    f: { kind: "float", value: 1000 },
    g: { kind: "float", value: 0.5 },
    inf: { kind: "float", value: -Infinity },
    n: { kind: "null" },
    e: { kind: "null" },
    d: { kind: "time", value: "2001-12-14T00:00:00Z" },
    ts: { kind: "time", value: "2001-12-14T21:59:43.1-05:00" },
    sp: { kind: "time", value: "2001-12-14T21:59:43.1Z" },
    q: s("123"),
    bin: s("hello"),
    str: s("12"),
  })
})

test("multi-document files: sops block appended to every document, read from the first", () => {
  const metadata = {
    keyGroups: [
      {
        age: [
          {
            recipient: "age1x",
            enc: "-----BEGIN AGE ENCRYPTED FILE-----\nAA\n-----END AGE ENCRYPTED FILE-----\n",
          },
        ],
        pgp: [],
        opaque: {},
      },
    ],
    shamirThreshold: 0,
    lastModified: "2024-01-01T00:00:00Z",
    mac: "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]",
    selector: { kind: "unencrypted_suffix", value: "_unencrypted" },
    macOnlyEncrypted: false,
    version: "3.13.2",
  } as const
  const d = doc(map(e("a", s("1x"))), map(e("b", s("2x"))))
  const out = store.emitEncrypted(d, metadata)
  const block =
    'sops:\n    age:\n        - enc: |\n            -----BEGIN AGE ENCRYPTED FILE-----\n            AA\n            -----END AGE ENCRYPTED FILE-----\n          recipient: age1x\n    lastmodified: "2024-01-01T00:00:00Z"\n    mac: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\n    unencrypted_suffix: _unencrypted\n    version: 3.13.2\n'
  assert.equal(out, `a: 1x\n${block}---\nb: 2x\n${block}`)
  const back = store.parseEncrypted(out)
  assert.deepEqual(back.doc, d)
  assert.deepEqual(back.metadata, metadata)
  assert.equal(
    store.parse("---\na: 1\n").branches.length,
    1,
    "a leading --- is not an extra document",
  )
})

test("indent 2 as stores.yaml.indent sets it", () => {
  const two = new YamlStore({ indent: 2 })
  assert.equal(
    two.emit(doc(map(e("a", map(e("b", { kind: "sequence", items: [map(e("c", s("x\n")))] })))))),
    "a:\n  b:\n    - c: |\n        x\n",
  )
})

test("malformed and unsupported YAML gives one-line StoreParseErrors naming the file and line", () => {
  const named = new YamlStore({ fileName: "bad.yaml" })
  const bad: [string, RegExp][] = [
    ["a: 1\nb: [1, 2\n", /^file "bad\.yaml" line \d+: invalid YAML/],
    ["a: 1\na: 2\n", /^file "bad\.yaml" line 2: duplicate key "a"/],
    ["- a\n- b\n", /top level of a YAML document must be a mapping/],
    ["just text\n", /top level/],
    ["1: one\n", /^file "bad\.yaml" line 1: key "1" is not a string/],
    ["a: 18446744073709551615\n", /does not fit in 64 bits/],
    ["a: *nope\n", /invalid YAML|unknown alias/],
    ["\t- x: [\n", /invalid YAML/],
  ]
  for (const [text, message] of bad) {
    assert.throws(
      () => named.parse(text),
      (err: unknown) =>
        err instanceof StoreParseError && message.test(err.message) && !err.message.includes("\n"),
      text,
    )
  }
  assert.throws(() => store.parseEncrypted("a: 1\n"), StoreParseError)
  assert.throws(() => new YamlStore({ indent: 12 }).emit(doc(map())), StoreEmitError)
})

// ------------------------------------------------------------ properties

const keyArb = fc.string({ maxLength: 8 }).filter((k) => k !== "sops")
const stringArb = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom(
    "true",
    "1.0",
    "",
    "null",
    "~",
    "yes",
    "0x10",
    "2024-01-01",
    "a: b",
    "#x",
    "- y",
    "x\ny",
    "x\ny\n",
    "é ü",
    "ENC[x]",
  ),
  fc.string({ unit: "grapheme", maxLength: 6 }),
)
// floats that go-yaml prints with a fraction or exponent digit that reads back as a float
const floatArb = fc
  .double({ noNaN: false })
  .filter((f) => !Number.isInteger(f) || !Number.isFinite(f))
const scalarArb: fc.Arbitrary<Scalar> = fc.oneof(
  stringArb.map((value): Scalar => ({ kind: "string", value })),
  fc
    .bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })
    .map((value): Scalar => ({ kind: "int", value })),
  floatArb.map((value): Scalar => ({ kind: "float", value })),
  fc.boolean().map((value): Scalar => ({ kind: "bool", value })),
  fc.constant<Scalar>({ kind: "null" }),
)
const commentArb = fc
  .stringMatching(/^ ?[a-zA-Z0-9#:,.é-][ a-zA-Z0-9#:,.é-]{0,8}$/)
  .map((text) => c(text))
const { node: nodeArb } = fc.letrec<{ node: Node; mapping: Mapping }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small" },
    scalarArb,
    tie("mapping"),
    fc.array(tie("node"), { maxLength: 3 }).map((items): Node => ({ kind: "sequence", items })),
  ),
  mapping: fc
    .uniqueArray(keyArb, { maxLength: 4 })
    .chain((keys) => fc.tuple(...keys.map((k) => tie("node").map((v) => e(k, v)))))
    .map((items) => map(...items)),
}))

function valid(value: string): boolean {
  // go-yaml writes strings with a leading space or break using its indent as the hint,
  // which other parsers read differently inside lists; plain \r and NEL are quoted too
  return !/^[ \n]/.test(value) || !value.includes("\n")
}

function allStringsValid(node: Node): boolean {
  if (node.kind === "string") return valid(node.value)
  if (node.kind === "mapping")
    return node.items.every((i) => i.kind !== "entry" || allStringsValid(i.value))
  if (node.kind === "sequence")
    return node.items.every((i) => i.kind === "comment" || allStringsValid(i))
  return true
}

test("property: parse(emit(doc)) = doc for documents without comments", () => {
  const branchArb = fc
    .uniqueArray(keyArb, { maxLength: 5 })
    .chain((keys) => fc.tuple(...keys.map((k) => nodeArb.map((v) => e(k, v)))))
    .map((items) => map(...items))
  fc.assert(
    fc.property(fc.array(branchArb, { minLength: 1, maxLength: 2 }), (branches) => {
      fc.pre(branches.every(allStringsValid))
      const d = doc(...branches)
      assert.deepEqual(store.parse(store.emit(d)), d)
    }),
    { numRuns: 300 },
  )
})

test("property: comments between entries survive parse(emit(doc))", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          commentArb,
          keyArb.map((k) => e(k, s("v"))),
        ),
        { maxLength: 6 },
      ),
      (items) => {
        const keys = new Set<string>()
        const unique = items.filter(
          (i) => i.kind === "comment" || (!keys.has(i.key) && keys.add(i.key)),
        )
        fc.pre(unique.some((i) => i.kind === "entry"))
        const d = doc(map(...unique))
        assert.deepEqual(store.parse(store.emit(d)), d)
      },
    ),
    { numRuns: 200 },
  )
})

test("a block of 150,000 comment lines is read and written (no argument list of that size)", () => {
  const lines = Array.from({ length: 150_000 }, (_, i) => `# c${String(i)}`)
  const text = [...lines, "a: 1", "list:", "    - x", ...lines.map((l) => `    ${l}`), ""].join(
    "\n",
  )
  const parsed = store.parse(text)
  const top = parsed.branches[0]?.items ?? []
  assert.equal(top.length, 150_002)
  assert.deepEqual(top[149_999], c(" c149999"))
  const list = top[150_001]
  assert.ok(list?.kind === "entry" && list.value.kind === "sequence")
  assert.equal(list.value.items.length, 150_001)
  assert.equal(store.emit(parsed), text)
})
