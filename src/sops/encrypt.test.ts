// Document encryption and decryption: round trips, the IV stash, and tampering refused with
// the right error class and path (docs/formats/sops.md "Documents and the tree walk", "The MAC").
import { test } from "node:test"
import assert from "node:assert/strict"
import { randomBytes } from "node:crypto"
import fc from "fast-check"
import type { Comment, Document, Mapping, Node } from "./tree.js"
import type { Metadata } from "./metadata.js"
import { decryptDocument, encryptDocument } from "./encrypt.js"
import { createIvStash, encryptValue, isEncryptedValue } from "./value-cipher.js"
import {
  EncryptedValueError,
  MacMismatchError,
  MissingMacError,
  SelectorError,
  ValueAuthenticationError,
} from "./errors.js"

const dataKey = new Uint8Array(randomBytes(32))
const clock = (): Date => new Date("2025-02-03T04:05:06.789Z")

const baseMetadata: Metadata = {
  keyGroups: [{ age: [], pgp: [], opaque: {} }],
  shamirThreshold: 0,
  lastModified: "",
  mac: undefined,
  selector: { kind: "unencrypted_suffix", value: "_unencrypted" },
  macOnlyEncrypted: false,
  version: "3.13.2",
}

const s = (value: string): Node => ({ kind: "string", value })
const e = (key: string, value: Node): Mapping["items"][number] => ({ kind: "entry", key, value })
const c = (text: string): Comment => ({ kind: "comment", text })

const plain: Document = {
  branches: [
    {
      kind: "mapping",
      items: [
        c(" database settings"),
        e("db_password", s("hunter2")),
        e("port", { kind: "int", value: 5432n }),
        e("ratio", { kind: "float", value: 1e21 }),
        e("enabled", { kind: "bool", value: true }),
        e("when", { kind: "time", value: "2024-01-01T00:00:00Z" }),
        e("empty", s("")),
        e("nothing", { kind: "null" }),
        e("a", {
          kind: "mapping",
          items: [e("b", { kind: "sequence", items: [s("x"), c(" listed"), s("y"), s("z")] })],
        }),
        e("note_unencrypted", s("visible")),
      ],
    },
  ],
}

function encrypt(
  doc: Document,
  metadata: Metadata = baseMetadata,
): { doc: Document; metadata: Metadata } {
  return encryptDocument(doc, { dataKey, metadata }, { clock })
}

function entryValue(doc: Document, key: string): Node {
  const item = doc.branches[0]?.items.find((i) => i.kind === "entry" && i.key === key)
  assert.ok(item?.kind === "entry", `no entry ${key}`)
  return item.value
}

function replaceEntry(doc: Document, key: string, value: Node): Document {
  const [branch, ...rest] = doc.branches
  assert.ok(branch !== undefined)
  return {
    branches: [
      {
        kind: "mapping",
        items: branch.items.map((i) => (i.kind === "entry" && i.key === key ? { ...i, value } : i)),
      },
      ...rest,
    ],
  }
}

function caught(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  return assert.fail("expected an error")
}

test("round trip of every value type, comments included; clear, empty and null values stay as they are", () => {
  const enc = encrypt(plain)
  assert.equal(enc.metadata.lastModified, "2025-02-03T04:05:06Z")
  assert.ok(enc.metadata.mac !== undefined && isEncryptedValue(enc.metadata.mac))
  const items = enc.doc.branches[0]?.items ?? []
  const first = items[0]
  assert.ok(first?.kind === "comment")
  assert.match(first.text, /^ENC\[AES256_GCM,.*type:comment\]$/)
  for (const key of ["db_password", "port", "ratio", "enabled", "when"]) {
    const v = entryValue(enc.doc, key)
    assert.ok(v.kind === "string" && isEncryptedValue(v.value), key)
  }
  assert.match(JSON.stringify(entryValue(enc.doc, "port")), /type:int/)
  assert.match(JSON.stringify(entryValue(enc.doc, "when")), /type:time/)
  assert.deepEqual(entryValue(enc.doc, "empty"), s(""))
  assert.deepEqual(entryValue(enc.doc, "nothing"), { kind: "null" })
  assert.deepEqual(entryValue(enc.doc, "note_unencrypted"), s("visible"))
  // a comment inside a list becomes a string item ENC[...,type:comment]
  const list = entryValue(enc.doc, "a")
  assert.ok(
    list.kind === "mapping" &&
      list.items[0]?.kind === "entry" &&
      list.items[0].value.kind === "sequence",
  )
  const listed = list.items[0].value.items[1]
  assert.ok(listed?.kind === "string" && listed.value.endsWith("type:comment]"))

  assert.deepEqual(decryptDocument(enc.doc, enc.metadata, dataKey), plain)
})

test("fresh encryption uses fresh IVs; re-encryption with the IV stash keeps unchanged values", () => {
  const first = encrypt(plain)
  const second = encrypt(plain)
  assert.notDeepEqual(entryValue(first.doc, "db_password"), entryValue(second.doc, "db_password"))

  const stash = createIvStash()
  const decrypted = decryptDocument(first.doc, first.metadata, dataKey, { ivStash: stash })
  const edited = replaceEntry(decrypted, "port", { kind: "int", value: 6543n })
  const again = encryptDocument(
    edited,
    { dataKey, metadata: first.metadata, ivStash: stash },
    { clock },
  )
  for (const key of ["db_password", "ratio", "enabled", "when", "a"]) {
    assert.deepEqual(entryValue(again.doc, key), entryValue(first.doc, key), key)
  }
  assert.deepEqual(again.doc.branches[0]?.items[0], first.doc.branches[0]?.items[0])
  assert.notDeepEqual(entryValue(again.doc, "port"), entryValue(first.doc, "port"))
  assert.deepEqual(decryptDocument(again.doc, again.metadata, dataKey), edited)
})

test("a tampered value is refused naming its path", () => {
  const enc = encrypt(plain)
  // the ciphertext of db_password moved to another key: its path (the AAD) no longer matches
  const moved = replaceEntry(enc.doc, "port", entryValue(enc.doc, "db_password"))
  const err = caught(() => decryptDocument(moved, enc.metadata, dataKey))
  assert.ok(err instanceof ValueAuthenticationError)
  assert.equal(err.path, "port")
  assert.match(err.message, /^value at port failed authentication$/)

  // a list item re-encrypted with another key: the path shows the index
  const list = entryValue(enc.doc, "a")
  assert.ok(
    list.kind === "mapping" &&
      list.items[0]?.kind === "entry" &&
      list.items[0].value.kind === "sequence",
  )
  const items = [...list.items[0].value.items]
  items[2] = s(encryptValue({ kind: "string", value: "y" }, new Uint8Array(32), "a:b:"))
  const forged = replaceEntry(enc.doc, "a", {
    kind: "mapping",
    items: [e("b", { kind: "sequence", items })],
  })
  const err2 = caught(() => decryptDocument(forged, enc.metadata, dataKey))
  assert.ok(err2 instanceof ValueAuthenticationError)
  assert.equal(err2.path, "a.b[2]")
})

test("values authentic but structure or clear values changed: MAC mismatch", () => {
  const enc = encrypt(plain)
  // swap two list items: same path, so each value is authentic on its own
  const list = entryValue(enc.doc, "a")
  assert.ok(
    list.kind === "mapping" &&
      list.items[0]?.kind === "entry" &&
      list.items[0].value.kind === "sequence",
  )
  const [x, comment, y, z] = list.items[0].value.items
  assert.ok(x !== undefined && comment !== undefined && y !== undefined && z !== undefined)
  const swapped = replaceEntry(enc.doc, "a", {
    kind: "mapping",
    items: [e("b", { kind: "sequence", items: [y, comment, x, z] })],
  })
  const err = caught(() => decryptDocument(swapped, enc.metadata, dataKey))
  assert.ok(err instanceof MacMismatchError)
  assert.match(err.message, /every encrypted value is authentic/)
  // a deleted value
  const [branch] = enc.doc.branches
  assert.ok(branch !== undefined)
  const deleted: Document = {
    branches: [
      {
        kind: "mapping",
        items: branch.items.filter((i) => !(i.kind === "entry" && i.key === "port")),
      },
    ],
  }
  assert.throws(() => decryptDocument(deleted, enc.metadata, dataKey), MacMismatchError)
  // a hand-edited clear value
  const edited = replaceEntry(enc.doc, "note_unencrypted", s("changed"))
  assert.throws(() => decryptDocument(edited, enc.metadata, dataKey), MacMismatchError)
  // --ignore-mac still returns the values
  const out = decryptDocument(edited, enc.metadata, dataKey, { ignoreMac: true })
  assert.deepEqual(entryValue(out, "note_unencrypted"), s("changed"))
})

test("a tampered MAC or lastmodified is a MAC mismatch; a missing MAC is refused unless ignored", () => {
  const enc = encrypt(plain)
  const later = { ...enc.metadata, lastModified: "2025-02-03T04:05:07Z" }
  assert.throws(() => decryptDocument(enc.doc, later, dataKey), MacMismatchError)
  const otherMac = encrypt({ branches: [{ kind: "mapping", items: [] }] }).metadata.mac
  assert.throws(
    () => decryptDocument(enc.doc, { ...enc.metadata, mac: otherMac }, dataKey),
    /does not match|mismatch/,
  )
  const noMac = { ...enc.metadata, mac: undefined }
  assert.throws(() => decryptDocument(enc.doc, noMac, dataKey), MissingMacError)
  assert.deepEqual(decryptDocument(enc.doc, noMac, dataKey, { ignoreMac: true }), plain)
  assert.deepEqual(decryptDocument(enc.doc, later, dataKey, { ignoreMac: true }), plain)
})

test("a clear value where the selector says encrypted is refused; a clear comment only warns", () => {
  const enc = encrypt(plain)
  const clear = replaceEntry(enc.doc, "db_password", { kind: "int", value: 1n })
  const err = caught(() => decryptDocument(clear, enc.metadata, dataKey))
  assert.ok(err instanceof EncryptedValueError)
  assert.equal(err.path, "db_password")
  const plainString = replaceEntry(enc.doc, "db_password", s("hunter2"))
  assert.throws(() => decryptDocument(plainString, enc.metadata, dataKey), /not an encrypted value/)

  const [branch] = enc.doc.branches
  assert.ok(branch !== undefined)
  const withClearComment: Document = {
    branches: [{ kind: "mapping", items: [c(" old clear comment"), ...branch.items.slice(1)] }],
  }
  const warnings: string[] = []
  const out = decryptDocument(withClearComment, enc.metadata, dataKey, {
    onWarning: (m) => warnings.push(m),
  })
  assert.deepEqual(out.branches[0]?.items[0], c(" old clear comment"))
  assert.deepEqual(warnings, ["comment top-level comment is not encrypted; kept as it is"])
})

test("mac_only_encrypted lets clear values change; selectors decide what is encrypted", () => {
  const meta: Metadata = { ...baseMetadata, macOnlyEncrypted: true }
  const enc = encrypt(plain, meta)
  const edited = replaceEntry(enc.doc, "note_unencrypted", s("changed by hand"))
  assert.deepEqual(
    entryValue(decryptDocument(edited, enc.metadata, dataKey), "note_unencrypted"),
    s("changed by hand"),
  )

  const regex = encrypt(plain, {
    ...baseMetadata,
    selector: { kind: "encrypted_regex", value: "^db_" },
  })
  const password = entryValue(regex.doc, "db_password")
  assert.ok(password.kind === "string" && isEncryptedValue(password.value))
  assert.deepEqual(entryValue(regex.doc, "port"), { kind: "int", value: 5432n })
  assert.deepEqual(decryptDocument(regex.doc, regex.metadata, dataKey), plain)
})

test("an encrypted comment whose ciphertext would match unencrypted_comment_regex is refused", () => {
  const doc: Document = { branches: [{ kind: "mapping", items: [c(" hello"), e("k", s("v"))] }] }
  const meta: Metadata = {
    ...baseMetadata,
    selector: { kind: "unencrypted_comment_regex", value: "AES256" },
  }
  assert.throws(() => encrypt(doc, meta), SelectorError)
})

test("several documents are encrypted and decrypted independently of each other's paths", () => {
  const doc: Document = {
    branches: [
      { kind: "mapping", items: [e("a", s("one"))] },
      { kind: "mapping", items: [e("a", s("two")), c(" second")] },
    ],
  }
  const enc = encrypt(doc)
  assert.deepEqual(decryptDocument(enc.doc, enc.metadata, dataKey), doc)
  // swapping the documents keeps every value authentic (same paths) but breaks the MAC
  const swapped: Document = { branches: [...enc.doc.branches].reverse() }
  assert.throws(() => decryptDocument(swapped, enc.metadata, dataKey), MacMismatchError)
})

const scalar: fc.Arbitrary<Node> = fc.oneof(
  fc.string().map((v): Node => ({ kind: "string", value: v })),
  fc
    .bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })
    .map((v): Node => ({ kind: "int", value: v })),
  fc.double().map((v): Node => ({ kind: "float", value: v })),
  fc.boolean().map((v): Node => ({ kind: "bool", value: v })),
  fc.constantFrom<Node>({ kind: "null" }, { kind: "time", value: "2001-12-14T21:59:43.1-05:00" }),
)
const commentArb: fc.Arbitrary<Comment> = fc.string().map((text) => ({ kind: "comment", text }))
const key = fc.oneof(fc.string(), fc.constantFrom("x_unencrypted", "a", "b"))
const { node } = fc.letrec<{ node: Node; mapping: Mapping }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    scalar,
    tie("mapping"),
    tie("mapping").map((m): Node => ({
      kind: "sequence",
      items: m.items.map((i) => (i.kind === "entry" ? i.value : i)),
    })),
  ),
  mapping: fc
    .array(
      fc.oneof(
        commentArb,
        fc.tuple(key, tie("node")).map(([k, v]) => ({ kind: "entry" as const, key: k, value: v })),
      ),
      { maxLength: 5 },
    )
    .map((items): Mapping => ({ kind: "mapping", items })),
}))

test("property: decrypt(encrypt(doc)) = doc, and re-encrypting with the stash is byte-identical", () => {
  const docArb = fc.array(node, { minLength: 1, maxLength: 2 }).map((nodes): Document => ({
    branches: nodes.map((n) => ({ kind: "mapping", items: [e("root", n)] })),
  }))
  fc.assert(
    fc.property(docArb, (doc) => {
      const enc = encrypt(doc)
      const stash = createIvStash()
      assert.deepEqual(decryptDocument(enc.doc, enc.metadata, dataKey, { ivStash: stash }), doc)
      const again = encryptDocument(
        doc,
        { dataKey, metadata: enc.metadata, ivStash: stash },
        { clock },
      )
      assert.deepEqual(again.doc, enc.doc)
    }),
    { numRuns: 150 },
  )
})
