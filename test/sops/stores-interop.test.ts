/**
 * Every real sops file in test/vectors/sops through its store (docs/formats/sops.md "The sops metadata", "Writing each format"):
 * metadata matches the sidecar and the file, sops 3.13.x files re-emit byte for byte,
 * older layouts re-emit as the 3.13 layout that parses back to the same document and metadata.
 */
import assert from "node:assert/strict"
import { readdirSync, readFileSync, statSync } from "node:fs"
import { join, relative } from "node:path"
import { test } from "node:test"
import type { Metadata } from "../../src/sops/metadata.js"
import { storeForFormat, storeForPath } from "../../src/sops/stores/index.js"
import type { Document, Mapping, Node } from "../../src/sops/tree.js"

const root = join(import.meta.dirname, "..", "..", "..", "test", "vectors", "sops")

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? walk(path) : [path]
  })
}

interface Expected {
  format: string
  sops_version: string
  lastmodified: string
  data_key_recovered_via: string[]
  mac: string
  encrypted_values: number
  decrypted_comments: string[]
  plaintext: unknown
}

function countEncrypted(doc: Document): { values: number; comments: number } {
  let values = 0
  let comments = 0
  const visit = (node: Node | { kind: "comment"; text: string }): void => {
    if (node.kind === "comment") {
      if (node.text.startsWith("ENC[")) comments++
    } else if (node.kind === "mapping")
      for (const item of node.items) visit(item.kind === "entry" ? item.value : item)
    else if (node.kind === "sequence") for (const item of node.items) visit(item)
    else if (node.kind === "string" && node.value.startsWith("ENC[")) {
      if (node.value.endsWith("type:comment]")) comments++
      else values++
    }
  }
  for (const branch of doc.branches) visit(branch)
  return { values, comments }
}

/** The document as plain JSON data (comments dropped), like the sidecars' `plaintext`. */
function toJson(node: Node): unknown {
  switch (node.kind) {
    case "mapping":
      return Object.fromEntries(
        node.items.flatMap((i) => (i.kind === "entry" ? [[i.key, toJson(i.value)]] : [])),
      )
    case "sequence":
      return node.items.flatMap((i) => (i.kind === "comment" ? [] : [toJson(i)]))
    case "int":
      return Number(node.value)
    case "null":
      return null
    case "bytes":
      return new TextDecoder().decode(node.value)
    default:
      return node.value
  }
}

const vectors = walk(root).filter((p) => p.endsWith(".expected.json"))

test("the vector set is complete", () => {
  assert.ok(vectors.length >= 33, `found ${vectors.length} vectors`)
})

for (const sidecar of vectors) {
  const file = sidecar.slice(0, -".expected.json".length)
  const name = relative(root, file)
  test(`vector ${name}`, () => {
    const expected = JSON.parse(readFileSync(sidecar, "utf8")) as Expected
    const text = readFileSync(file, "utf8")
    const store = storeForFormat(expected.format)
    const { doc, metadata } = store.parseEncrypted(text)

    assert.equal(metadata.version, expected.sops_version)
    assert.equal(metadata.lastModified, expected.lastmodified)
    assert.equal(metadata.mac === undefined, expected.mac !== "verified")
    const keys = metadata.keyGroups.flatMap((g) => [
      ...g.age.map((k) => `age ${k.recipient}`),
      ...g.pgp.map((k) => `pgp ${k.fp}`),
    ])
    for (const via of expected.data_key_recovered_via)
      assert.ok(keys.includes(via), `${via} in ${keys.join(", ")}`)
    for (const group of metadata.keyGroups) {
      for (const k of group.age) {
        assert.ok(text.includes(k.recipient))
        assert.match(
          k.enc,
          /^-----BEGIN AGE ENCRYPTED FILE-----\n[\s\S]*-----END AGE ENCRYPTED FILE-----\n$/,
        )
      }
      for (const k of group.pgp) {
        assert.ok(text.includes(k.fp))
        assert.match(k.enc, /^-----BEGIN PGP MESSAGE-----\n[\s\S]*-----END PGP MESSAGE-----\n?$/)
      }
    }
    const counted = countEncrypted(doc)
    // the sidecar checker counted the MAC too for one file (getsops-sops/example.json)
    assert.ok(
      [expected.encrypted_values, expected.encrypted_values - 1].includes(counted.values),
      `${counted.values} encrypted values, sidecar says ${expected.encrypted_values}`,
    )
    assert.equal(counted.comments, expected.decrypted_comments.length)
    if (text.includes("unencrypted_suffix")) {
      assert.deepEqual(metadata.selector, { kind: "unencrypted_suffix", value: "_unencrypted" })
    }
    if (text.includes("encrypted_regex")) assert.equal(metadata.selector?.kind, "encrypted_regex")
    // the document has the sidecar's shape (same keys, same order)
    const plain = expected.plaintext as Record<string, unknown>
    const shape = (value: unknown): unknown =>
      Array.isArray(value)
        ? value.map(shape)
        : value !== null && typeof value === "object"
          ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shape(v)]))
          : "leaf"
    const branch = doc.branches[0] as Mapping
    assert.deepEqual(Object.keys(toJson(branch) as object), Object.keys(plain))
    assert.deepEqual(shape(toJson(branch)), shape(plain))

    const out = store.emitEncrypted(doc, metadata)
    if (metadata.version.startsWith("3.13.")) assert.equal(out, text)
    const back = store.parseEncrypted(out)
    assert.deepEqual(back.doc, doc)
    assert.deepEqual(back.metadata, metadata)
    assert.equal(store.emitEncrypted(back.doc, back.metadata), out, "the 3.13 layout is stable")
  })
}

test("older YAML files keep their data section byte for byte (go-yaml v3 writers, indent 4 or 2)", () => {
  for (const sidecar of vectors) {
    const file = sidecar.slice(0, -".expected.json".length)
    const text = readFileSync(file, "utf8")
    if (!file.endsWith(".yaml") || text.includes("\n-   ")) continue // yaml.v2 era files indent lists differently
    const indent = /\nsops:\n {2}[a-z]/.test(text) ? 2 : 4
    const store = storeForPath(file, { indent })
    const { doc, metadata } = store.parseEncrypted(text)
    const out = store.emitEncrypted(doc, metadata)
    const data = (s: string): string => s.slice(0, s.indexOf("\nsops:"))
    assert.equal(data(out), data(text), relative(root, file))
  }
})

test("plaintext sources parse to the documents the encrypted files hold", () => {
  const pairs: [string, string][] = [
    ["helm-secrets/secrets.dec.yaml", "helm-secrets/secrets.yaml.expected.json"],
    ["helm-secrets/some-secrets.dec.yaml", "helm-secrets/some-secrets.yaml.expected.json"],
    [
      "helm-secrets/secrets.trailing-newline.dec.raw",
      "helm-secrets/secrets.trailing-newline.raw.expected.json",
    ],
  ]
  for (const [source, sidecar] of pairs) {
    const expected = JSON.parse(readFileSync(join(root, sidecar), "utf8")) as Expected
    const store = storeForFormat(expected.format)
    const doc = store.parse(readFileSync(join(root, source), "utf8"))
    assert.deepEqual(toJson(doc.branches[0] as Mapping), expected.plaintext, source)
  }
  const comments = storeForPath("comments.yaml").parse(
    readFileSync(join(root, "getsops-sops/functional-tests/comments.yaml"), "utf8"),
  )
  const expected = JSON.parse(
    readFileSync(
      join(root, "getsops-sops/functional-tests/comments.enc.yaml.expected.json"),
      "utf8",
    ),
  ) as Expected
  const texts = (comments.branches[0] as Mapping).items.flatMap((i) =>
    i.kind === "comment" ? [i.text] : [],
  )
  assert.deepEqual(texts, expected.decrypted_comments)
})

test("metadata values are the Metadata contract's types", () => {
  const text = readFileSync(join(root, "sops-nix/secrets.yaml"), "utf8")
  const { metadata } = storeForFormat("yaml").parseEncrypted(text)
  const expected: Partial<Metadata> = {
    shamirThreshold: 0,
    macOnlyEncrypted: false,
    version: "3.7.1",
  }
  assert.deepEqual(
    {
      shamirThreshold: metadata.shamirThreshold,
      macOnlyEncrypted: metadata.macOnlyEncrypted,
      version: metadata.version,
    },
    expected,
  )
  assert.equal(metadata.keyGroups.length, 1)
  const [group] = metadata.keyGroups
  assert.ok(group !== undefined)
  assert.equal(group.age.length, 2)
  assert.equal(group.pgp.length, 2)
})
