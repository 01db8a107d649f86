/**
 * Limits on hostile documents (limits.ts, docs/documents.md "Limits"): YAML alias bombs by
 * count and by size, in any document of a stream; nesting depth in YAML and JSON; duplicate
 * keys refused at any depth. Each case must fail fast: the test timeouts turn a hang
 * (minutes at gigabytes of RSS before these limits) into a failure.
 */
import assert from "node:assert/strict"
import { test } from "node:test"
import { DocumentLimitError, StoreParseError } from "../errors.js"
import { JsonStore } from "./json.js"
import { YamlStore } from "./yaml.js"

const yaml = new YamlStore({ fileName: "bomb.yaml" })

/** Billion laughs: `levels` levels of lists of `width` aliases of the level below. */
export function aliasBomb(levels: number, width: number): string {
  const lines = ['a0: &a0 "lol"']
  for (let i = 1; i <= levels; i++) {
    lines.push(
      `a${String(i)}: &a${String(i)} [${Array(width)
        .fill(`*a${String(i - 1)}`)
        .join(", ")}]`,
    )
  }
  return lines.join("\n") + "\n"
}

function isLimit(pattern: RegExp): (err: unknown) => boolean {
  return (err: unknown) =>
    err instanceof DocumentLimitError &&
    err instanceof StoreParseError &&
    pattern.test(err.message) &&
    !err.message.includes("\n")
}

test(
  "a YAML alias bomb (9 levels of 9) is refused by count, in every document",
  { timeout: 20_000 },
  () => {
    const bomb = aliasBomb(9, 9)
    for (const text of [bomb, `x: 1\n---\n${bomb}`, `x: 1\nsops: 2\n---\n${bomb}`]) {
      assert.throws(
        () => yaml.parse(text),
        isLimit(/^file "bomb\.yaml" line \d+: .*excessive aliasing/),
      )
    }
    assert.throws(() => yaml.parseEncrypted(bomb), isLimit(/excessive aliasing/))
  },
)

test("one long string aliased many times is refused by size", { timeout: 20_000 }, () => {
  // few nodes (go-yaml's count allows it), but 2,000 copies of 64 KiB = 125 MiB of values
  const long = "x".repeat(64 * 1024)
  const text = `big: &big ${long}\ncopies: [${Array(2000).fill("*big").join(", ")}]\n`
  assert.throws(() => yaml.parse(text), isLimit(/aliases expand to more than \d+ MiB/))
})

test("ordinary anchors and aliases still expand", () => {
  const text =
    "defaults: &defaults\n    user: app\n    port: 5432\nprimary:\n    <<: *defaults\n    host: a\nreplicas: [*defaults, *defaults]\n"
  const doc = yaml.parse(text)
  const branch = doc.branches[0]
  assert.ok(branch)
  const replicas = branch.items.find((i) => i.kind === "entry" && i.key === "replicas")
  assert.ok(replicas?.kind === "entry" && replicas.value.kind === "sequence")
  assert.equal(replicas.value.items.length, 2)
  // a wide but legitimate use: 500 aliases of one small mapping
  const many = `d: &d {a: 1}\nl: [${Array(500).fill("*d").join(", ")}]\n`
  assert.equal(yaml.parse(many).branches.length, 1)
})

test(
  "deep nesting is refused with a DocumentLimitError, at the top level and under a key",
  { timeout: 20_000 },
  () => {
    const cases = [
      "[".repeat(1000),
      "[".repeat(100_000),
      `a: ${"[".repeat(1000)}${"]".repeat(1000)}\n`,
      `a:\n${"- ".repeat(1000)}x\n`,
      Array.from({ length: 1000 }, (_, i) => `${" ".repeat(i)}k${String(i)}:`).join("\n") + " v\n",
      `a: ${"{b: ".repeat(600)}c${"}".repeat(600)}\n`,
    ]
    for (const text of cases) {
      // twice: a stack overflow inside the yaml package used to make the next parse crash Node
      for (let i = 0; i < 2; i++) {
        assert.throws(() => yaml.parse(text), isLimit(/nested more than 256 levels deep/))
      }
    }
    // just under the limit is fine
    assert.equal(yaml.parse(`a: ${"[".repeat(200)}${"]".repeat(200)}\n`).branches.length, 1)
  },
)

test("deep JSON is refused with a DocumentLimitError", () => {
  const json = new JsonStore({ fileName: "deep.json" })
  const deep = `{"a": ${"[".repeat(5000)}${"]".repeat(5000)}}`
  assert.throws(
    () => json.parse(deep),
    isLimit(/^file "deep\.json" line 1: .*nested more than 256/),
  )
  assert.equal(json.parse(`{"a": ${"[".repeat(200)}${"]".repeat(200)}}`).branches.length, 1)
})

test("duplicate keys are refused at any depth, plain and quoted alike, naming both lines", () => {
  const cases: [string, RegExp][] = [
    ["a: 1\na: 2\n", /^file "bomb\.yaml" line 2: duplicate key "a" \(first at line 1\)$/],
    ['a: 1\nb:\n    c: 1\n    "c": 2\n', /line 4: duplicate key "c" \(first at line 3\)/],
    ["l:\n    - {x: 1, x: 2}\n", /line 2: duplicate key "x"/],
    ["a: 1\n---\nb: 1\nb: 2\n", /line 4: duplicate key "b"/],
  ]
  for (const [text, message] of cases) {
    assert.throws(
      () => yaml.parse(text),
      (err: unknown) => err instanceof StoreParseError && message.test(err.message),
      text,
    )
  }
  // the same key in different mappings is fine; so are keys that differ only in type text
  assert.equal(yaml.parse('a:\n    x: 1\nb:\n    x: 1\n"1": x\n"01": y\n').branches.length, 1)
})
