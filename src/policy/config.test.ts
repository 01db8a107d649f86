// Unit tests for `.sops.yaml` parsing and discovery (docs/formats/sops.md ".sops.yaml").
import { test } from "node:test"
import assert from "node:assert/strict"
import { locateSopsConfig, parseSopsConfig } from "./config.js"
import { ConfigError } from "./errors.js"

const ADMIN = "age1dmpgxjdt7g6r4rc9606ktrzmzzdktf9p8exhed0xzcdcr5su3y5st5vff5"
const DAO = "age12m53ejfqfc244fp2ryhehxzadhuxflt4jkvqxp0f4j9vzk554gtsgtkupc"

const EXAMPLE = `keys:
  - &admin ${ADMIN}
  - &dao ${DAO}
creation_rules:
  - path_regex: secrets/dao/[^/]+\\.yaml$
    key_groups:
      - age: [*admin, *dao]
  - path_regex: secrets/[^/]+\\.yaml$
    key_groups:
      - age: [*admin]
`

test('the example of docs/formats/sops.md ".sops.yaml": anchors resolve into key groups, lines are kept', () => {
  const config = parseSopsConfig(EXAMPLE, "/repo/.sops.yaml")
  const rules = config.creationRules ?? []
  assert.equal(rules.length, 2)
  assert.equal(rules[0]?.pathRegex, "secrets/dao/[^/]+\\.yaml$")
  assert.deepEqual(rules[0].keyGroups, [{ age: [ADMIN, DAO], pgp: [] }])
  assert.deepEqual(rules[1]?.keyGroups, [{ age: [ADMIN], pgp: [] }])
  assert.equal(rules[0].line, 5)
  assert.equal(rules[1].line, 8)
  // `keys:` only holds anchors: not a warning
  assert.deepEqual(config.warnings, [])
})

test("flat keys: comma strings and lists are split and trimmed, duplicates dropped", () => {
  const config = parseSopsConfig(
    `creation_rules:
  - path_regex: \\.dev\\.yaml$
    age: '${ADMIN} , ${DAO},,${ADMIN}'
    pgp: 'FBC7 B9E2 A4F9 289A C0C1 D484 3D16 CEE4 A273 81B4,FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4'
    kms: 'arn:aws:kms:us-west-2:1:key/a,arn:aws:kms:us-west-2:2:key/b+arn:aws:iam::2:role/r'
    shamir_threshold: 1
    encrypted_regex: ^(data|stringData)$
    mac_only_encrypted: true
  - age: [${DAO}]
`,
    ".sops.yaml",
  )
  const [dev, all] = config.creationRules ?? []
  assert.deepEqual(dev?.keyGroups[0]?.age, [ADMIN, DAO])
  assert.equal(dev.keyGroups[0].pgp.length, 1)
  assert.deepEqual(dev.keyGroups[0].opaque?.kms, [
    { fields: { arn: "arn:aws:kms:us-west-2:1:key/a" } },
    { fields: { arn: "arn:aws:kms:us-west-2:2:key/b", role: "arn:aws:iam::2:role/r" } },
  ])
  assert.equal(dev.shamirThreshold, 1)
  assert.deepEqual(dev.selector, { kind: "encrypted_regex", value: "^(data|stringData)$" })
  assert.equal(dev.macOnlyEncrypted, true)
  assert.equal(all?.pathRegex, "")
  assert.deepEqual(all.keyGroups, [{ age: [DAO], pgp: [] }])
})

test("key_groups as in the sops README: pgp, kms with role/context/profile, merge, threshold", () => {
  const config = parseSopsConfig(
    `creation_rules:
  - path_regex: .*keygroups.*
    shamir_threshold: 2
    age: ${ADMIN}
    key_groups:
      - pgp: [fingerprint1, fingerprint2]
        kms:
          - arn: arn1
            role: role1
            context: {foo: bar}
          - arn: arn2
            aws_profile: myprofile
      - pgp: [fingerprint3]
        merge:
          - age: [${DAO}]
          - hc_vault: [https://vault:8200/v1/sops/keys/firstkey]
      - &third
        gcp_kms: [{resource_id: projects/p/locations/global/keyRings/r/cryptoKeys/k}]
        azure_keyvault: [{vaultUrl: "https://v.vault.azure.net", key: k, version: "1"}]
`,
    ".sops.yaml",
  )
  const rule = config.creationRules?.[0]
  assert.equal(rule?.shamirThreshold, 2)
  // the flat age key is not used when key_groups is present
  assert.equal(rule.keyGroups.length, 3)
  assert.deepEqual(rule.keyGroups[0]?.age, [])
  assert.deepEqual(rule.keyGroups[0].pgp, ["fingerprint1", "fingerprint2"])
  assert.deepEqual(rule.keyGroups[0].opaque?.kms, [
    { fields: { arn: "arn1", role: "role1", context: { foo: "bar" } } },
    { fields: { arn: "arn2", aws_profile: "myprofile" } },
  ])
  assert.deepEqual(rule.keyGroups[1]?.age, [DAO])
  assert.deepEqual(rule.keyGroups[1].opaque?.hc_vault, [
    { fields: { vault_address: "https://vault:8200", engine_path: "sops", key_name: "firstkey" } },
  ])
  assert.deepEqual(rule.keyGroups[2]?.opaque?.azure_kv, [
    { fields: { vault_url: "https://v.vault.azure.net", name: "k", version: "1" } },
  ])
})

test("YAML merge keys (<<) work in rules, as go-yaml v3 resolves them", () => {
  const config = parseSopsConfig(
    `x-defaults: &defaults
  age: ${ADMIN}
  encrypted_suffix: _secret
creation_rules:
  - <<: *defaults
    path_regex: ^prod/
`,
    ".sops.yaml",
  )
  const rule = config.creationRules?.[0]
  assert.deepEqual(rule?.keyGroups[0]?.age, [ADMIN])
  assert.deepEqual(rule.selector, { kind: "encrypted_suffix", value: "_secret" })
})

test("no creation_rules: the config counts as missing; empty file too", () => {
  assert.equal(parseSopsConfig("stores:\n  yaml:\n    indent: 2\n", "a").creationRules, undefined)
  assert.deepEqual(parseSopsConfig("stores:\n  yaml:\n    indent: 2\n", "a").stores, {
    yaml: { indent: 2 },
  })
  assert.equal(parseSopsConfig("", "a").creationRules, undefined)
})

test("errors name the file, the line and the field", () => {
  assert.throws(
    () => parseSopsConfig("creation_rules:\n  - path_regex: a\n    age: {x: 1}\n", ".sops.yaml"),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.message ===
        '".sops.yaml" line 2: creation rule 1: age: must be a string or a list of strings, not a mapping',
  )
  assert.throws(
    () => parseSopsConfig("creation_rules:\n  - age: a\n    age: b\n", ".sops.yaml"),
    (e: unknown) => e instanceof ConfigError && /line 3: invalid YAML/.test(e.message),
  )
  assert.throws(
    () => parseSopsConfig("creation_rules:\n  - path_regex: [\n", "c.yaml"),
    (e: unknown) => e instanceof ConfigError && /"c.yaml" line \d: invalid YAML/.test(e.message),
  )
  assert.throws(
    () =>
      parseSopsConfig(
        "creation_rules:\n  - encrypted_regex: a\n    unencrypted_suffix: b\n",
        ".sops.yaml",
      ),
    (e: unknown) => e instanceof ConfigError && /may set only one of/.test(e.message),
  )
  assert.throws(
    () => parseSopsConfig("creation_rules:\n  - key_groups:\n      - agee: [x]\n", ".sops.yaml"),
    (e: unknown) => e instanceof ConfigError && /unknown key type "agee"/.test(e.message),
  )
  assert.throws(
    () => parseSopsConfig("creation_rules: 3\n", ".sops.yaml"),
    (e: unknown) => e instanceof ConfigError && /must be a list of rules/.test(e.message),
  )
})

test("a misspelt rule field is a warning with its line", () => {
  const config = parseSopsConfig("creation_rules:\n  - path-regex: x\n    age: a\n", "s.yaml")
  assert.deepEqual(config.warnings, [
    '"s.yaml" line 2: creation rule 1: unknown field "path-regex" is ignored',
  ])
})

test("locate: --config, then SOPS_CONFIG, then .sops.yaml from cwd upward; .sops.yml ignored", () => {
  const files = new Set(["/repo/.sops.yaml", "/repo/a/.sops.yml"])
  const io = { exists: (p: string): boolean => files.has(p) }
  const found = locateSopsConfig({ cwd: "/repo/a/b" }, io)
  assert.equal(found.path, "/repo/.sops.yaml")
  assert.equal(found.source, "search")
  assert.deepEqual(found.searched, [
    "/repo/a/b/.sops.yaml",
    "/repo/a/.sops.yaml",
    "/repo/.sops.yaml",
  ])
  assert.deepEqual(found.ignored, ["/repo/a/.sops.yml"])
  assert.equal(
    locateSopsConfig({ cwd: "/repo/a", explicit: "../x.yaml", env: "/e" }, io).path,
    "/repo/x.yaml",
  )
  assert.equal(locateSopsConfig({ cwd: "/repo/a", env: "e.yaml" }, io).path, "/repo/a/e.yaml")
  const none = locateSopsConfig({ cwd: "/other/dir" }, io)
  assert.equal(none.path, undefined)
  assert.deepEqual(none.searched, ["/other/dir/.sops.yaml", "/other/.sops.yaml", "/.sops.yaml"])
})
