/**
 * INI store (docs/formats/sops.md "Comments", "Where the metadata goes", "Writing INI",
 * "Reading INI"): go-ini reading rules, aligned pretty output, the `[sops]` section with
 * `\n` escapes (and 3.13.0/3.13.1 `"""` values), parse∘emit = id.
 */
import assert from "node:assert/strict"
import { test } from "node:test"
import fc from "fast-check"
import { StoreEmitError, StoreParseError } from "../errors.js"
import type { Metadata } from "../metadata.js"
import type { Comment, Document, Entry, Mapping, Node } from "../tree.js"
import { IniStore } from "./ini.js"

const store = new IniStore()
const s = (value: string): Node => ({ kind: "string", value })
const e = (key: string, value: Node): Entry => ({ kind: "entry", key, value })
const c = (text: string): Comment => ({ kind: "comment", text })
const section = (...items: (Entry | Comment)[]): Mapping => ({ kind: "mapping", items })
const doc = (...items: Entry[]): Document => ({ branches: [{ kind: "mapping", items }] })

test("reads sections, DEFAULT first, comments as section/key comments, go-ini value rules", () => {
  const text = [
    "top = 1",
    "; about the section",
    "[name]",
    "first =  John  ",
    "; about last",
    'last: "Smith"',
    "quoted = ' padded '",
    "inline = value ; trailing",
    'multi = """a',
    'b"""',
    "tick = `a#b`",
    "",
  ].join("\n")
  assert.deepEqual(
    store.parse(text),
    doc(
      e("DEFAULT", section(e("top", s("1")))),
      e(
        "name",
        section(
          c("about the section"),
          e("first", s("John")),
          e("last", s("Smith")),
          c("about last"),
          e("quoted", s(" padded ")),
          e("inline", s("value")),
          c("trailing"),
          e("multi", s("a\nb")),
          e("tick", s("a#b")),
        ),
      ),
    ),
  )
})

test("writes aligned keys, quoted values and comments as go-ini's pretty format does", () => {
  const d = doc(
    e("DEFAULT", section()),
    e(
      "name",
      section(
        c("ENC[x,type:comment]"),
        e("firstName", s("a")),
        e("age", { kind: "int", value: 3n }),
        c("about age"),
      ),
    ),
    e(
      "other",
      section(e("spaced", s(" x ")), e("hash", s("a;b")), e("lines", s("a\nb")), e("k=v", s("1"))),
    ),
  )
  assert.equal(
    store.emit(d),
    [
      "; ENC[x,type:comment]",
      "[name]",
      "firstName = a",
      "; about age",
      "age       = 3",
      "",
      "[other]",
      'spaced = " x "',
      "hash   = `a;b`",
      'lines  = """a',
      'b"""',
      "`k=v`  = 1",
      "",
    ].join("\n"),
  )
  assert.throws(() => store.emit(doc(e("flat", s("x")))), StoreEmitError)
  assert.throws(() => store.emit(doc(e("s", section(e("n", section()))))), StoreEmitError)
})

const metadata: Metadata = {
  keyGroups: [
    {
      age: [],
      pgp: [
        {
          fp: "F",
          createdAt: "2024-01-01T00:00:00Z",
          enc: "-----BEGIN PGP MESSAGE-----\n\nx\n-----END PGP MESSAGE-----",
        },
      ],
      opaque: {},
    },
  ],
  shamirThreshold: 0,
  lastModified: "2024-01-01T00:00:00Z",
  mac: "ENC[m]",
  selector: { kind: "unencrypted_suffix", value: "_unencrypted" },
  macOnlyEncrypted: false,
  version: "3.13.2",
}

test("encrypted: a final [sops] section with \\n escapes; 3.13.0-style triple quotes are read too", () => {
  const d = doc(e("DEFAULT", section()), e("foo", section(e("bar", s("ENC[b]")))))
  const out = store.emitEncrypted(d, metadata)
  assert.equal(
    out,
    "[foo]\nbar = ENC[b]\n\n[sops]\nlastmodified                = 2024-01-01T00:00:00Z\nmac                         = ENC[m]\npgp__list_0__map_created_at = 2024-01-01T00:00:00Z\npgp__list_0__map_enc        = -----BEGIN PGP MESSAGE-----\\n\\nx\\n-----END PGP MESSAGE-----\npgp__list_0__map_fp         = F\nunencrypted_suffix          = _unencrypted\nversion                     = 3.13.2\n",
  )
  assert.deepEqual(store.parseEncrypted(out), { doc: d, metadata })
  const old = out.replace(
    "-----BEGIN PGP MESSAGE-----\\n\\nx\\n-----END PGP MESSAGE-----",
    '"""-----BEGIN PGP MESSAGE-----\n\nx\n-----END PGP MESSAGE-----"""',
  )
  assert.deepEqual(store.parseEncrypted(old).metadata, metadata)
})

test("malformed INI gives one-line StoreParseErrors with the line", () => {
  const named = new IniStore({ fileName: "a.ini" })
  for (const [text, line] of [
    ["[open\n", 1],
    ["a = 1\njust words\n", 2],
    ['x = """never closed\n', 1],
  ] as const) {
    assert.throws(
      () => named.parse(text),
      (err: unknown) =>
        err instanceof StoreParseError &&
        err.message.startsWith(`file "a.ini" line ${line}: invalid INI`),
      text,
    )
  }
  assert.throws(() => store.parseEncrypted("[a]\nb = 1\n"), StoreParseError)
})

test("property: parse(emit(doc)) = doc for sections of strings", () => {
  const word = fc.stringMatching(/^[A-Za-z0-9_.-]{1,6}$/)
  const valueArb = fc.oneof(
    fc.stringMatching(/^[^\n`"'\\]{0,8}$/).filter((v) => !/^\s*"""/.test(v)),
    fc.constantFrom("a\nb", "x;y", " lead", "q#"),
  )
  const sectionArb = fc
    .uniqueArray(word, { maxLength: 4 })
    .chain((keys) => fc.tuple(...keys.map((k) => valueArb.map((v) => e(k, s(v))))))
  fc.assert(
    fc.property(
      fc.uniqueArray(
        word.filter((w) => w !== "DEFAULT" && w !== "sops"),
        { maxLength: 3 },
      ),
      sectionArb,
      (names, defaults) => {
        fc.assert(
          fc.property(fc.tuple(...names.map(() => sectionArb)), (sections) => {
            const d = doc(
              e("DEFAULT", section(...defaults)),
              ...names.map((name, i) => e(name, section(...(sections[i] ?? [])))),
            )
            assert.deepEqual(store.parse(store.emit(d)), d)
          }),
          { numRuns: 5 },
        )
      },
    ),
    { numRuns: 60 },
  )
})

test("repeated sections merge and a repeated key keeps its place with the last value, as go-ini does", () => {
  const text = [
    "[a]",
    "x = 1",
    "y = 2",
    "[b]",
    "z = 3",
    "[a]",
    "; about x",
    "x = 4",
    'long = """one',
    ...Array.from({ length: 2000 }, (_, i) => `line ${String(i)}`),
    'end"""',
    "",
  ].join("\n")
  const lines = ["one", ...Array.from({ length: 2000 }, (_, i) => `line ${String(i)}`), "end"]
  assert.deepEqual(
    store.parse(text),
    doc(
      e("DEFAULT", section()),
      e("a", section(e("x", s("4")), c("about x"), e("y", s("2")), e("long", s(lines.join("\n"))))),
      e("b", section(e("z", s("3")))),
    ),
  )
  // writing: a key given twice in the tree is written once, at its first place, last value
  assert.equal(
    store.emit(
      doc(e("DEFAULT", section()), e("a", section(e("x", s("1")), e("y", s("2")), e("x", s("3"))))),
    ),
    "[a]\nx = 3\ny = 2\n",
  )
})
