/**
 * dotenv store (docs/formats/sops.md "Where the metadata goes", "Writing dotenv", "Reading
 * dotenv"): no trimming, `\n` escapes, `sops_` metadata lines sorted as 3.13 writes them,
 * parse∘emit = id, bad input.
 */
import assert from "node:assert/strict"
import { test } from "node:test"
import fc from "fast-check"
import { StoreEmitError, StoreParseError } from "../errors.js"
import type { Metadata } from "../metadata.js"
import type { Comment, Document, Entry, Node } from "../tree.js"
import { DotenvStore } from "./dotenv.js"

const store = new DotenvStore()
const e = (key: string, value: Node): Entry => ({ kind: "entry", key, value })
const doc = (...items: (Entry | Comment)[]): Document => ({
  branches: [{ kind: "mapping", items }],
})

test("parses without trimming or quote handling, splitting at the first =", () => {
  assert.deepEqual(
    store.parse('foo = bar\n#comment\nA="x"\nB=a=b\nC=line1\\nline2\r\n\nD=\n'),
    doc(
      e("foo ", { kind: "string", value: " bar" }),
      { kind: "comment", text: "comment" },
      e("A", { kind: "string", value: '"x"' }),
      e("B", { kind: "string", value: "a=b" }),
      e("C", { kind: "string", value: "line1\nline2\r" }),
      e("D", { kind: "string", value: "" }),
    ),
  )
})

test("emits values with ValToString and escaped newlines", () => {
  assert.equal(
    store.emit(
      doc(
        e("S", { kind: "string", value: "a\nb" }),
        { kind: "comment", text: " note" },
        e("I", { kind: "int", value: -7n }),
        e("F", { kind: "float", value: 2 }),
        e("G", { kind: "float", value: 1e21 }),
        e("B", { kind: "bool", value: true }),
      ),
    ),
    "S=a\\nb\n# note\nI=-7\nF=2.0\nG=1E+21\nB=true\n",
  )
  assert.throws(() => store.emit(doc(e("N", { kind: "mapping", items: [] }))), StoreEmitError)
  assert.throws(() => store.emit(doc(e("A=B", { kind: "string", value: "" }))), StoreEmitError)
})

test("encrypted: metadata as sorted sops_ lines after the data, read back in any order", () => {
  const metadata: Metadata = {
    keyGroups: [
      {
        age: [
          {
            recipient: "age1a",
            enc: "-----BEGIN AGE ENCRYPTED FILE-----\nQQ\n-----END AGE ENCRYPTED FILE-----\n",
          },
        ],
        pgp: [],
        opaque: {},
      },
      {
        age: [],
        pgp: [{ fp: "F1", createdAt: "2024-01-01T00:00:00Z", enc: "pgp" }],
        opaque: {
          hc_vault: [
            {
              fields: {
                vault_address: "http://v",
                engine_path: "sops",
                key_name: "k",
                created_at: "2024-01-01T00:00:00Z",
                enc: "vault:v1:x",
              },
            },
          ],
        },
      },
    ],
    shamirThreshold: 2,
    lastModified: "2024-01-02T00:00:00Z",
    mac: "ENC[mac]",
    selector: { kind: "encrypted_regex", value: "^pass" },
    macOnlyEncrypted: true,
    version: "3.13.2",
  }
  const d = doc(e("X", { kind: "string", value: "ENC[x]" }))
  const out = store.emitEncrypted(d, metadata)
  assert.equal(
    out,
    [
      "X=ENC[x]",
      "sops_encrypted_regex=^pass",
      "sops_key_groups__list_0__map_age__list_0__map_enc=-----BEGIN AGE ENCRYPTED FILE-----\\nQQ\\n-----END AGE ENCRYPTED FILE-----\\n",
      "sops_key_groups__list_0__map_age__list_0__map_recipient=age1a",
      "sops_key_groups__list_1__map_hc_vault__list_0__map_created_at=2024-01-01T00:00:00Z",
      "sops_key_groups__list_1__map_hc_vault__list_0__map_enc=vault:v1:x",
      "sops_key_groups__list_1__map_hc_vault__list_0__map_engine_path=sops",
      "sops_key_groups__list_1__map_hc_vault__list_0__map_key_name=k",
      "sops_key_groups__list_1__map_hc_vault__list_0__map_vault_address=http://v",
      "sops_key_groups__list_1__map_pgp__list_0__map_created_at=2024-01-01T00:00:00Z",
      "sops_key_groups__list_1__map_pgp__list_0__map_enc=pgp",
      "sops_key_groups__list_1__map_pgp__list_0__map_fp=F1",
      "sops_lastmodified=2024-01-02T00:00:00Z",
      "sops_mac=ENC[mac]",
      "sops_mac_only_encrypted=true",
      "sops_shamir_threshold=2",
      "sops_version=3.13.2",
      "",
    ].join("\n"),
  )
  assert.deepEqual(store.parseEncrypted(out), { doc: d, metadata })
  const shuffled = out.split("\n").filter(Boolean).reverse().join("\n") + "\n"
  assert.deepEqual(store.parseEncrypted(shuffled).metadata, metadata)
  assert.throws(
    () => store.emitEncrypted(doc(e("sops_x", { kind: "string", value: "" })), metadata),
    StoreEmitError,
  )
})

test("bad lines and missing metadata are one-line StoreParseErrors with the line", () => {
  const named = new DotenvStore({ fileName: ".env" })
  assert.throws(() => named.parse("A=1\nnot a pair\n"), {
    name: "StoreParseError",
    message: /^file "\.env" line 2: invalid dotenv line/,
  })
  assert.throws(() => store.parseEncrypted("A=1\n"), StoreParseError)
  assert.throws(
    () =>
      store.parseEncrypted(
        "sops_version=3\nsops_lastmodified=yesterday\nsops_age__list_0__map_recipient=a\n",
      ),
    /not an RFC 3339/,
  )
})

test("property: parse(emit(doc)) = doc for flat string documents", () => {
  const keyArb = fc
    .string({ maxLength: 6 })
    .filter((k) => !/[=\n]/.test(k) && !k.startsWith("#") && k !== "")
  const valueArb = fc.string({ maxLength: 10 }).filter((v) => !v.includes("\\n"))
  const itemArb = fc.oneof(
    fc.tuple(keyArb, valueArb).map(([k, v]): Entry | Comment => e(k, { kind: "string", value: v })),
    fc
      .string({ maxLength: 8 })
      .filter((t) => !t.includes("\n"))
      .map((text): Entry | Comment => ({ kind: "comment", text })),
  )
  fc.assert(
    fc.property(fc.array(itemArb, { maxLength: 6 }), (items) => {
      const d = doc(...items)
      assert.deepEqual(store.parse(store.emit(d)), d)
    }),
    { numRuns: 300 },
  )
})
