// The tree walk: additional-data paths, location display, selectors and the comment stack
// (docs/formats/sops.md "Documents and the tree walk", "Which values are encrypted").
import { test } from "node:test"
import assert from "node:assert/strict"
import type { Document, Mapping, Node } from "./tree.js"
import type { ValueSelector } from "./metadata.js"
import {
  additionalDataOf,
  compileSelector,
  describeLeaf,
  formatLocation,
  mapLeaves,
} from "./walk.js"
import { SelectorError } from "./errors.js"

const str = (value: string): Node => ({ kind: "string", value })
const map = (...items: Mapping["items"]): Mapping => ({ kind: "mapping", items })
const entry = (key: string, value: Node): Mapping["items"][number] => ({
  kind: "entry",
  key,
  value,
})
const comment = (text: string): Mapping["items"][number] => ({ kind: "comment", text })

interface Seen {
  what: string
  aad: string
  where: string
  encrypted: boolean
}

function collect(doc: Document, selector: ValueSelector | undefined): Seen[] {
  const seen: Seen[] = []
  mapLeaves(doc, compileSelector(selector), (leaf, ctx) => {
    seen.push({
      what:
        leaf.kind === "comment" ? `#${leaf.text}` : leaf.kind === "string" ? leaf.value : leaf.kind,
      aad: additionalDataOf(ctx.keys),
      where: describeLeaf(ctx),
      encrypted: ctx.encrypted,
    })
    return leaf
  })
  return seen
}

const sample: Document = {
  branches: [
    map(
      comment(" top"),
      entry("myapp1", str("v1")),
      entry(
        "app2",
        map(
          entry(
            "db",
            map(
              comment(" c"),
              entry("password", str("pw")),
              entry("port", { kind: "int", value: 5432n }),
            ),
          ),
        ),
      ),
      entry("an_array", {
        kind: "sequence",
        items: [
          str("e0"),
          { kind: "comment", text: " in list" },
          map(entry("name", str("n"))),
          { kind: "null" },
        ],
      }),
      entry("key_unencrypted", map(entry("inner", str("clear")))),
      entry("0word", str("z")),
    ),
  ],
}

test("paths: keys joined by ':' plus ':', list indices never included, comments use their container", () => {
  const seen = collect(sample, undefined)
  assert.deepEqual(
    seen.map((s) => [s.what, s.aad, s.where, s.encrypted]),
    [
      ["# top", ":", "top-level comment", true],
      ["v1", "myapp1:", "myapp1", true],
      ["# c", "app2:db:", "app2.db (comment)", true],
      ["pw", "app2:db:password:", "app2.db.password", true],
      ["int", "app2:db:port:", "app2.db.port", true],
      ["e0", "an_array:", "an_array[0]", true],
      ["# in list", "an_array:", "an_array[1]", true],
      ["n", "an_array:name:", "an_array[2].name", true],
      ["clear", "key_unencrypted:inner:", "key_unencrypted.inner", false],
      ["z", "0word:", '["0word"]', true],
    ],
  )
})

test("locations: odd keys are quoted, several documents are numbered", () => {
  assert.equal(
    formatLocation([{ key: "foo " }, { index: 2 }, { key: "a.b" }]),
    '["foo "][2]["a.b"]',
  )
  assert.equal(formatLocation([]), "(top level)")
  const two: Document = { branches: [map(entry("a", str("1"))), map(entry("a", str("2")))] }
  assert.deepEqual(
    collect(two, undefined).map((s) => s.where),
    ["a in document 1", "a in document 2"],
  )
})

test("suffix and regex selectors apply to any key on the path", () => {
  const enc = (selector: ValueSelector): string[] =>
    collect(sample, selector)
      .filter((s) => s.encrypted && !s.what.startsWith("#"))
      .map((s) => s.what)
  assert.deepEqual(enc({ kind: "encrypted_suffix", value: "_array" }), ["e0", "n"])
  assert.deepEqual(enc({ kind: "encrypted_regex", value: "^(db|0word)$" }), ["pw", "int", "z"])
  assert.deepEqual(enc({ kind: "unencrypted_regex", value: "^app" }), [
    "v1",
    "e0",
    "n",
    "clear",
    "z",
  ])
  assert.deepEqual(enc({ kind: "unencrypted_suffix", value: "_array" }), [
    "v1",
    "pw",
    "int",
    "clear",
    "z",
  ])
  // Go-only syntax that configs use
  assert.deepEqual(enc({ kind: "encrypted_regex", value: "(?i)^MYAPP1\\z" }), ["v1"])
  assert.throws(() => compileSelector({ kind: "encrypted_regex", value: "(" }), SelectorError)
})

test("comment stack: a comment selects the next value and what is nested in it, then resets", () => {
  const doc: Document = {
    branches: [
      map(
        comment(" sops:enc"),
        entry("a", map(entry("x", str("ax")), comment(" plain"), entry("y", str("ay")))),
        entry("b", str("b")),
        comment(" first"),
        comment(" sops:enc"),
        comment(" after"),
        entry("c", str("c")),
        entry("d", {
          kind: "sequence",
          items: [{ kind: "comment", text: " sops:enc" }, str("d0"), str("d1")],
        }),
      ),
    ],
  }
  const encrypted = collect(doc, { kind: "encrypted_comment_regex", value: "sops:enc" })
  assert.deepEqual(
    encrypted.map((s) => [s.what, s.encrypted]),
    [
      ["# sops:enc", false], // a comment does not select itself
      ["ax", true],
      ["# plain", true], // nested inside the selected value
      ["ay", true],
      ["b", false], // the level was reset by `a`
      ["# first", false],
      ["# sops:enc", false],
      ["# after", true], // selected by the comment before it
      ["c", true],
      ["# sops:enc", false],
      ["d0", true],
      ["d1", false],
    ],
  )
  const unencrypted = collect(doc, { kind: "unencrypted_comment_regex", value: "sops:enc" })
  assert.deepEqual(
    unencrypted.map((s) => [s.what, s.encrypted]),
    [
      ["# sops:enc", false], // a matching comment leaves itself clear
      ["ax", false],
      ["# plain", false],
      ["ay", false],
      ["b", true],
      ["# first", true],
      ["# sops:enc", false],
      ["# after", false],
      ["c", false],
      ["# sops:enc", false],
      ["d0", false],
      ["d1", true],
    ],
  )
})

test("mapLeaves rebuilds the document from the visitor's results and skips nulls", () => {
  const out = mapLeaves(sample, compileSelector(undefined), (leaf) =>
    leaf.kind === "comment"
      ? { kind: "string", value: "C" }
      : leaf.kind === "string"
        ? { kind: "string", value: leaf.value.toUpperCase() }
        : leaf,
  )
  const branch = out.branches[0]
  assert.ok(branch !== undefined)
  assert.deepEqual(branch.items[0], { kind: "comment", text: "C" })
  assert.deepEqual(branch.items[1], {
    kind: "entry",
    key: "myapp1",
    value: { kind: "string", value: "V1" },
  })
  const list = branch.items[3]
  assert.ok(list?.kind === "entry" && list.value.kind === "sequence")
  assert.deepEqual(list.value.items[1], { kind: "string", value: "C" })
  assert.deepEqual(list.value.items[3], { kind: "null" })
})
