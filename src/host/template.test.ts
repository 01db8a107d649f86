// Tests of template rendering from placeholders (docs/host/sops-nix-manifest.md
// "Templates", "The install, step by step" step 7).
import { test } from "node:test"
import assert from "node:assert/strict"
import fc from "fast-check"
import { findPlaceholders, placeholderFor, renderTemplate, secretsUsedBy } from "./template.js"
import { TemplateRenderError } from "./errors.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

test("placeholderFor is sops-nix's <SOPS:sha256(name):PLACEHOLDER>", () => {
  assert.match(placeholderFor("x"), /^<SOPS:[0-9a-f]{64}:PLACEHOLDER>$/)
  // sha256("abc") is the FIPS 180-2 example digest.
  assert.equal(
    placeholderFor("abc"),
    "<SOPS:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad:PLACEHOLDER>",
  )
})

test("renders every placeholder, several times, with text around", () => {
  const placeholders = new Map([
    ["db/password", placeholderFor("db/password")],
    ["token", placeholderFor("token")],
  ])
  const values = new Map([
    ["db/password", encoder.encode("hunter2")],
    ["token", encoder.encode("t0k€n")],
  ])
  const content = `user=app\npass=${placeholderFor("db/password")}\ntoken=${placeholderFor("token")}\nagain=${placeholderFor("db/password")}\n`
  const out = renderTemplate("app.conf", content, placeholders, values)
  assert.equal(decoder.decode(out), "user=app\npass=hunter2\ntoken=t0k€n\nagain=hunter2\n")
  assert.deepEqual(secretsUsedBy(content, placeholders), ["db/password", "token"])
})

test("secret bytes are copied as they are (not UTF-8 text)", () => {
  const p = new Map([["bin", placeholderFor("bin")]])
  const value = new Uint8Array([0xff, 0x00, 0xfe])
  const out = renderTemplate("t", `[${placeholderFor("bin")}]`, p, new Map([["bin", value]]))
  assert.deepEqual(out, new Uint8Array([0x5b, 0xff, 0x00, 0xfe, 0x5d]))
})

test("inserted values are not expanded again", () => {
  const p = new Map([
    ["a", placeholderFor("a")],
    ["b", placeholderFor("b")],
  ])
  const values = new Map([
    ["a", encoder.encode(placeholderFor("b"))],
    ["b", encoder.encode("B")],
  ])
  const out = renderTemplate("t", `${placeholderFor("a")}|${placeholderFor("b")}`, p, values)
  assert.equal(decoder.decode(out), `${placeholderFor("b")}|B`)
})

test("custom placeholder strings from the manifest work too, longest first", () => {
  const p = new Map([
    ["short", "@X@"],
    ["long", "@X@Y@"],
  ])
  const values = new Map([
    ["short", encoder.encode("1")],
    ["long", encoder.encode("2")],
  ])
  assert.equal(decoder.decode(renderTemplate("t", "@X@Y@ @X@", p, values)), "2 1")
  assert.deepEqual(findPlaceholders("@X@Y@ @X@", new Set(p.values())), ["@X@Y@", "@X@"])
})

test("a template without placeholders renders as its text", () => {
  assert.equal(decoder.decode(renderTemplate("t", "plain\n", new Map(), new Map())), "plain\n")
})

test("a missing value names the secret, never a value", () => {
  const p = new Map([
    ["ok", placeholderFor("ok")],
    ["failed", placeholderFor("failed")],
  ])
  const values = new Map([["ok", encoder.encode("s3cret")]])
  assert.throws(
    () =>
      renderTemplate("app.conf", `${placeholderFor("ok")} ${placeholderFor("failed")}`, p, values),
    (err: unknown) => {
      assert.ok(err instanceof TemplateRenderError)
      assert.equal(err.message, 'template "app.conf": no value for "failed"')
      assert.ok(!err.message.includes("s3cret"))
      return true
    },
  )
  assert.throws(
    () => renderTemplate("t", placeholderFor("stray"), p, values),
    /unknown placeholder "<SOPS:/,
  )
})

test("property: rendering equals splitting on placeholders and joining with values", () => {
  const names = ["a", "b", "c"]
  const p = new Map(names.map((n) => [n, placeholderFor(n)]))
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.constantFrom(...names), fc.string({ maxLength: 8 })), { maxLength: 8 }),
      fc.array(fc.string({ maxLength: 12 }), { minLength: 3, maxLength: 3 }),
      (pieces, secretValues) => {
        const values = new Map(names.map((n, i) => [n, encoder.encode(secretValues[i] ?? "")]))
        const content = pieces.map((x) => (names.includes(x) ? placeholderFor(x) : x)).join("")
        const expected = pieces
          .map((x) => (names.includes(x) ? (secretValues[names.indexOf(x)] ?? "") : x))
          .join("")
        assert.equal(decoder.decode(renderTemplate("t", content, p, values)), expected)
      },
    ),
  )
})
