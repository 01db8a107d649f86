// The `sops` section coffer writes, checked field by field against the 3.13 layout the
// format notes describe (docs/formats/sops.md "What master keys store", "The sops metadata", "Writing each format"): the keys sops requires, their
// order (sorted at every level since 3.13), the RFC 3339 times, the MAC, the age `enc`
// armor, and each store's placement (YAML/JSON nested, dotenv `sops_` lines, INI `[sops]`).
import { test } from "node:test"
import assert from "node:assert/strict"
import { parse as parseYaml } from "yaml"
import { encryptFile } from "../../src/sops/index.js"
import { generateX25519Identity } from "../../src/age/x25519.js"
import type { Clock, Entropy } from "../../src/internal/entropy.js"

const clock: Clock = () => new Date("2026-11-23T10:20:30.123Z")
let counter = 0
const entropy: Entropy = (n) => Uint8Array.from({ length: n }, () => (counter++ * 37 + 11) & 0xff)

const recipients = [generateX25519Identity(), generateX25519Identity()].map((i) =>
  i.toRecipient().encode(),
)
const settings = { keyGroups: [{ age: recipients, pgp: [] }] }
const encValue =
  /^ENC\[AES256_GCM,data:[A-Za-z0-9+/]*={0,2},iv:[A-Za-z0-9+/]{43}=,tag:[A-Za-z0-9+/]{22}==,type:str\]$/
const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/

/** An age `enc`: one armored age file, 64-column base64 lines, ending with a newline. */
function assertAgeArmor(enc: unknown): void {
  assert.equal(typeof enc, "string")
  const text = enc as string
  assert.ok(text.startsWith("-----BEGIN AGE ENCRYPTED FILE-----\n"), text)
  assert.ok(text.endsWith("\n-----END AGE ENCRYPTED FILE-----\n"), text)
  const body = text.split("\n").slice(1, -2)
  for (const line of body.slice(0, -1)) assert.equal(line.length, 64)
  assert.ok((body.at(-1) ?? "").length <= 64)
  const header = Buffer.from(body.join(""), "base64").toString("latin1")
  assert.ok(header.startsWith("age-encryption.org/v1\n-> X25519 "), "one X25519 stanza")
  assert.equal(header.split("\n-> ").length - 1, 1, "a single recipient per enc")
}

function assertSopsSection(sops: Record<string, unknown>): void {
  assert.deepEqual(Object.keys(sops), [
    "age",
    "lastmodified",
    "mac",
    "unencrypted_suffix",
    "version",
  ])
  const age = sops["age"] as Record<string, unknown>[]
  assert.equal(age.length, 2)
  age.forEach((entry, i) => {
    assert.deepEqual(Object.keys(entry), ["enc", "recipient"], "age entries: enc, recipient")
    assert.equal(entry["recipient"], recipients[i])
    assertAgeArmor(entry["enc"])
  })
  assert.equal(sops["lastmodified"], "2026-11-23T10:20:30Z")
  assert.match(sops["lastmodified"], rfc3339)
  assert.match(String(sops["mac"]), encValue)
  assert.equal(sops["unencrypted_suffix"], "_unencrypted")
  assert.equal(sops["version"], "3.13.2")
}

test("YAML: the sops block is the last key, sorted, lastmodified quoted, enc as a literal block", async () => {
  const text = await encryptFile("a: 1\nb_unencrypted: x\n", "yaml", settings, { clock, entropy })
  const doc = parseYaml(text) as Record<string, unknown>
  assert.deepEqual(Object.keys(doc), ["a", "b_unencrypted", "sops"])
  assert.equal(doc["b_unencrypted"], "x")
  assert.match(String(doc["a"]), /^ENC\[AES256_GCM,.*,type:int\]$/)
  assertSopsSection(doc["sops"] as Record<string, unknown>)
  assert.match(text, /\nsops:\n {4}age:\n {8}- enc: \|\n {12}-----BEGIN AGE ENCRYPTED FILE-----\n/)
  assert.match(text, /\n {4}lastmodified: "2026-11-23T10:20:30Z"\n/)
  assert.match(text, /\n {4}version: 3\.13\.2\n$/)
})

test("JSON: tab indented, sops last and sorted, trailing newline", async () => {
  const text = await encryptFile('{"a": "x", "n": 7}', "json", settings, { clock, entropy })
  assert.ok(text.startsWith('{\n\t"a": "ENC[AES256_GCM,'), text)
  assert.ok(text.endsWith("\n}\n"))
  const doc = JSON.parse(text) as Record<string, unknown>
  assert.deepEqual(Object.keys(doc), ["a", "n", "sops"])
  assertSopsSection(doc["sops"] as Record<string, unknown>)
})

test("dotenv: flattened sops_ lines after the data, sorted, newlines escaped", async () => {
  const text = await encryptFile("A=1\nB_unencrypted=two\n", "dotenv", settings, {
    clock,
    entropy,
  })
  const lines = text.trimEnd().split("\n")
  assert.match(lines[0] ?? "", /^A=ENC\[AES256_GCM,.*type:str\]$/)
  assert.equal(lines[1], "B_unencrypted=two")
  const meta = lines.slice(2).map((l) => l.slice(0, l.indexOf("=")))
  assert.deepEqual(meta, [
    "sops_age__list_0__map_enc",
    "sops_age__list_0__map_recipient",
    "sops_age__list_1__map_enc",
    "sops_age__list_1__map_recipient",
    "sops_lastmodified",
    "sops_mac",
    "sops_unencrypted_suffix",
    "sops_version",
  ])
  const enc = (lines[2] ?? "").slice("sops_age__list_0__map_enc=".length)
  assert.ok(!enc.includes("\n"))
  assertAgeArmor(enc.replaceAll("\\n", "\n"))
  assert.ok(lines.includes("sops_version=3.13.2"))
})

test("INI: a final [sops] section, flattened and sorted, values escaped with \\n", async () => {
  const text = await encryptFile("[app]\nkey = value\n", "ini", settings, { clock, entropy })
  const at = text.indexOf("\n[sops]\n")
  assert.ok(at > 0, text)
  const section = text
    .slice(at + "\n[sops]\n".length)
    .trimEnd()
    .split("\n")
  const keys = section.map((l) => l.slice(0, l.indexOf("=")).trim())
  assert.deepEqual(keys, [
    "age__list_0__map_enc",
    "age__list_0__map_recipient",
    "age__list_1__map_enc",
    "age__list_1__map_recipient",
    "lastmodified",
    "mac",
    "unencrypted_suffix",
    "version",
  ])
  for (const line of section) assert.match(line, /^\S+ += /, "aligned key = value")
  assert.match(text, /\nlastmodified +?= 2026-11-23T10:20:30Z\n/)
})

test("several key groups: key_groups with shamir_threshold; age and hc_vault in every group", async () => {
  const text = await encryptFile(
    "a: secret\n",
    "yaml",
    {
      keyGroups: recipients.map((r) => ({ age: [r], pgp: [] })),
      shamirThreshold: 2,
    },
    { clock, entropy },
  )
  const sops = (parseYaml(text) as Record<string, Record<string, unknown>>)["sops"] ?? {}
  assert.deepEqual(Object.keys(sops), [
    "key_groups",
    "lastmodified",
    "mac",
    "shamir_threshold",
    "unencrypted_suffix",
    "version",
  ])
  assert.equal(sops["shamir_threshold"], 2)
  const groups = sops["key_groups"] as Record<string, unknown>[]
  assert.equal(groups.length, 2)
  groups.forEach((group, i) => {
    assert.deepEqual(Object.keys(group), ["age", "hc_vault"])
    assert.deepEqual(group["hc_vault"], [])
    const age = group["age"] as Record<string, unknown>[]
    assert.equal(age[0]?.["recipient"], recipients[i])
    assertAgeArmor(age[0]?.["enc"])
  })
})
