/**
 * The `sops` section (docs/formats/sops.md "Metadata fields", "Order of metadata keys",
 * "Flattening"): every layout reads to the same Metadata, the 3.13 layout is written
 * sorted, bad sections are MetadataErrors; flattening and Go number formatting.
 */
import assert from "node:assert/strict"
import { test } from "node:test"
import { MetadataError } from "../errors.js"
import type { Metadata } from "../metadata.js"
import { flattenMapping, unflattenEntries } from "./flatten.js"
import { isRfc3339, metadataFromNode, metadataToNode } from "./metadata-wire.js"
import { formatGoFloatF, formatGoFloatG, parseGoInt, scalarToText } from "./scalar-text.js"
import { YamlStore } from "./yaml.js"
import { JsonStore } from "./json.js"

const yaml = new YamlStore()
const AGE = "-----BEGIN AGE ENCRYPTED FILE-----\nQQ\n-----END AGE ENCRYPTED FILE-----\n"

function sopsYaml(body: string): Metadata {
  return yaml.parseEncrypted(`a: 1\nsops:\n${body}`).metadata
}

const expected: Metadata = {
  keyGroups: [{ age: [{ recipient: "age1x", enc: AGE }], pgp: [], opaque: {} }],
  shamirThreshold: 0,
  lastModified: "2024-01-01T00:00:00Z",
  mac: "ENC[m]",
  selector: { kind: "unencrypted_suffix", value: "_unencrypted" },
  macOnlyEncrypted: false,
  version: "3.10",
}

test("old, struct-order, sorted and oddly cased layouts read to the same metadata", () => {
  const armor =
    "            -----BEGIN AGE ENCRYPTED FILE-----\n            QQ\n            -----END AGE ENCRYPTED FILE-----\n"
  const layouts = [
    // <= 3.9: empty lists and nulls, struct order, version as a float
    `    kms: []\n    gcp_kms: null\n    azure_kv: []\n    hc_vault: []\n    age:\n        - recipient: age1x\n          enc: |\n${armor}    lastmodified: '2024-01-01T00:00:00Z'\n    mac: ENC[m]\n    pgp: []\n    unencrypted_suffix: _unencrypted\n    version: 3.10\n`,
    // 3.13 sorted
    `    age:\n        - enc: |\n${armor}          recipient: age1x\n    lastmodified: "2024-01-01T00:00:00Z"\n    mac: ENC[m]\n    unencrypted_suffix: _unencrypted\n    version: "3.10"\n`,
    // case-insensitive keys, unknown keys ignored, key_groups ignored when flat lists have keys
    `    AGE:\n        - Recipient: age1x\n          ENC: |\n${armor}    LastModified: "2024-01-01T00:00:00Z"\n    attention: ignored\n    key_groups:\n        - pgp: []\n    mac: ENC[m]\n    unencrypted_suffix: _unencrypted\n    Version: "3.10"\n`,
  ]
  for (const body of layouts) assert.deepEqual(sopsYaml(body), expected, body)
  const json = new JsonStore().parseEncrypted(
    `{"a": 1, "sops": {"kms": null, "age": [{"recipient": "age1x", "enc": ${JSON.stringify(AGE)}}], "lastmodified": "2024-01-01T00:00:00Z", "mac": "ENC[m]", "unencrypted_suffix": "_unencrypted", "version": 3.1}}`,
  )
  assert.deepEqual(json.metadata, { ...expected, version: "3.1" })
})

test("key groups with a threshold and opaque cloud keys survive a rewrite in sorted order", () => {
  const metadata: Metadata = {
    keyGroups: [
      { age: [{ recipient: "age1a", enc: AGE }], pgp: [], opaque: {} },
      {
        age: [],
        pgp: [{ fp: "F", createdAt: "2024-01-01T00:00:00Z", enc: "p" }],
        opaque: {
          kms: [
            {
              fields: {
                arn: "arn:x",
                role: "r",
                context: { b: "2", a: "1" },
                created_at: "2024-01-01T00:00:00Z",
                enc: "k",
                aws_profile: "",
              },
            },
          ],
        },
      },
    ],
    shamirThreshold: 2,
    lastModified: "2024-01-01T00:00:00Z",
    mac: "ENC[m]",
    selector: undefined,
    macOnlyEncrypted: true,
    version: "3.13.2",
  }
  const node = metadataToNode(metadata)
  assert.deepEqual(
    node.items.map((i) => (i.kind === "entry" ? i.key : "#")),
    ["key_groups", "lastmodified", "mac", "mac_only_encrypted", "shamir_threshold", "version"],
  )
  const out = yaml.emitEncrypted({ branches: [{ kind: "mapping", items: [] }] }, metadata)
  assert.ok(
    out.includes(
      '    key_groups:\n        - age:\n            - enc: |\n                -----BEGIN AGE ENCRYPTED FILE-----\n                QQ\n                -----END AGE ENCRYPTED FILE-----\n              recipient: age1a\n          hc_vault: []\n        - age: []\n          hc_vault: []\n          kms:\n            - arn: arn:x\n              aws_profile: ""\n              context:\n                a: "1"\n                b: "2"\n              created_at: "2024-01-01T00:00:00Z"\n              enc: k\n              role: r\n          pgp:\n',
    ),
    out,
  )
  const back = yaml.parseEncrypted(out).metadata
  assert.equal(back.shamirThreshold, 2)
  assert.equal(back.macOnlyEncrypted, true)
  assert.deepEqual(back.keyGroups[0]?.age, metadata.keyGroups[0]?.age)
  assert.deepEqual(back.keyGroups[1]?.pgp, metadata.keyGroups[1]?.pgp)
  assert.deepEqual(back.keyGroups[1]?.opaque.kms?.[0]?.fields, {
    arn: "arn:x",
    aws_profile: "",
    context: { a: "1", b: "2" },
    created_at: "2024-01-01T00:00:00Z",
    enc: "k",
    role: "r",
  })
})

test("bad metadata sections are MetadataErrors naming the field", () => {
  const age = `    age:\n        - recipient: age1x\n          enc: x\n`
  const cases: [string, RegExp][] = [
    [
      `${age}    lastmodified: yesterday\n`,
      /lastmodified "yesterday" is not an RFC 3339 timestamp/,
    ],
    [`${age}    lastmodified: "2024-02-30T00:00:00Z"\n`, /not an RFC 3339/],
    [`    lastmodified: "2024-01-01T00:00:00Z"\n    kms: []\n`, /lists no master keys/],
    [
      `    pgp:\n        - fp: F\n          enc: x\n    lastmodified: "2024-01-01T00:00:00Z"\n`,
      /pgp\[0\]\.created_at "" is not an RFC 3339/,
    ],
    [
      `${age}    lastmodified: "2024-01-01T00:00:00Z"\n    encrypted_regex: a\n    unencrypted_suffix: b\n`,
      /sets both/,
    ],
    [
      `${age}    lastmodified: "2024-01-01T00:00:00Z"\n    shamir_threshold: many\n`,
      /shamir_threshold should be a number/,
    ],
    [`    age: 3\n`, /age should be a list/],
  ]
  for (const [body, message] of cases) {
    assert.throws(
      () => sopsYaml(body),
      (err: unknown) => err instanceof MetadataError && message.test(err.message),
      body,
    )
  }
  assert.throws(() => yaml.parseEncrypted("sops: 3\n"), MetadataError)
  assert.throws(() => metadataFromNode({ kind: "sequence", items: [] }), /should be a mapping/)
  assert.ok(isRfc3339("2024-01-01T00:00:00.5+05:30"))
  assert.ok(!isRfc3339("2024-01-01 00:00:00Z"))
})

test("flattening follows tree order; unflattening sorts, checks indices and clashes", () => {
  const tree = unflattenEntries([
    ["b__list_1__map_x", "2"],
    ["a", "1"],
    ["b__list_0__map_x", "1"],
  ])
  assert.deepEqual(
    flattenMapping(tree).map((f) => [f.key, f.value]),
    [
      ["a", { kind: "string", value: "1" }],
      ["b__list_0__map_x", { kind: "string", value: "1" }],
      ["b__list_1__map_x", { kind: "string", value: "2" }],
    ],
  )
  assert.throws(() => unflattenEntries([["b__list_1", "x"]]), /skips index 0/)
  assert.throws(
    () =>
      unflattenEntries([
        ["a", "1"],
        ["a__map_b", "2"],
      ]),
    MetadataError,
  )
  assert.throws(
    () =>
      unflattenEntries([
        ["a", "1"],
        ["a", "2"],
      ]),
    /appears twice/,
  )
  assert.throws(() => unflattenEntries([["a__list_x", "1"]]), /not a number/)
})

test("Go number formatting and parsing", () => {
  const g: [number, string][] = [
    [1234568000, "1.234568e+09"],
    [1, "1"],
    [0.1, "0.1"],
    [1e21, "1e+21"],
    [123456, "123456"],
    [1e6, "1e+06"],
    [0.0001, "0.0001"],
    [0.00001, "1e-05"],
    [-2.5e-300, "-2.5e-300"],
    [-0, "-0"],
    [Infinity, "+Inf"],
  ]
  for (const [f, text] of g) assert.equal(formatGoFloatG(f), text, String(f))
  assert.equal(formatGoFloatF(1e21, -1), "1000000000000000000000")
  assert.equal(formatGoFloatF(1e-7, -1), "0.0000001")
  assert.equal(formatGoFloatF(2, 1), "2.0")
  assert.equal(scalarToText({ kind: "float", value: 2 }), "2.0")
  assert.equal(scalarToText({ kind: "float", value: 1e21 }), "1E+21")
  assert.equal(scalarToText({ kind: "float", value: 1.5 }), "1.5")
  assert.equal(parseGoInt("0x1F"), 31n)
  assert.equal(parseGoInt("0777"), 511n)
  assert.equal(parseGoInt("-9223372036854775808"), -9223372036854775808n)
  assert.equal(parseGoInt("9223372036854775808"), undefined)
  assert.equal(parseGoInt("08"), undefined)
})
