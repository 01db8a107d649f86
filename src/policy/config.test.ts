// Unit tests for `.sops.yaml` parsing and discovery (docs/formats/sops.md ".sops.yaml").
import { test } from "node:test"
import assert from "node:assert/strict"
import { locateSopsConfig, parseSopsConfig } from "./config.js"
import { ConfigError, UnknownConfigKeyError } from "./errors.js"

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
    (e: unknown) =>
      e instanceof UnknownConfigKeyError &&
      e.message ===
        '".sops.yaml" line 3: creation rule 1: key_groups[0]: unknown key "agee" (did you mean "age"?)',
  )
  assert.throws(
    () => parseSopsConfig("creation_rules: 3\n", ".sops.yaml"),
    (e: unknown) => e instanceof ConfigError && /must be a list of rules/.test(e.message),
  )
})

test("a misspelt rule key stops the parse, naming the key, its line and the nearest known one", () => {
  // sops 3.13 ignores it, which makes this rule a catch-all
  const text = `creation_rules:\n  - age: ${ADMIN}\n    path_regx: ^prod/\n`
  assert.throws(
    () => parseSopsConfig(text, "s.yaml"),
    (e: unknown) =>
      e instanceof UnknownConfigKeyError &&
      e.key === "path_regx" &&
      e.nearest === "path_regex" &&
      e.message ===
        '"s.yaml" line 3: creation rule 1: unknown key "path_regx" (did you mean "path_regex"?)' &&
      e.hints.some((h) => /would match every file/.test(h)) &&
      e.hints.some((h) => h.includes("--allow-unknown-config-keys")),
  )
  // allowed (a config for a newer sops): a warning, and the key is ignored as sops does
  const allowed = parseSopsConfig(text, "s.yaml", { allowUnknownKeys: true })
  assert.deepEqual(allowed.warnings, [
    '"s.yaml" line 3: creation rule 1: unknown key "path_regx" (did you mean "path_regex"?) is ignored',
  ])
  assert.equal(allowed.creationRules?.[0]?.pathRegex, "")
})

test("every key sops 3.13 reads in a rule, a key group and a key entry is known", () => {
  const config = parseSopsConfig(
    `creation_rules:
  - path_regex: a
    kms: arn:aws:kms:us-east-1:1:key/a
    aws_profile: p
    age: ${ADMIN}
    pgp: FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4
    gcp_kms: projects/p/locations/l/keyRings/r/cryptoKeys/k
    hckms: tr-west-1:0d2e8f0a-1b2c-4d5e-8f9a-0b1c2d3e4f5a
    azure_keyvault: https://v.vault.azure.net/keys/k/1
    hc_vault_transit_uri: https://vault:8200/v1/sops/keys/k
    shamir_threshold: 0
    unencrypted_suffix: _u
    mac_only_encrypted: false
  - path_regex: b
    encrypted_suffix: _e
  - path_regex: c
    unencrypted_regex: u
  - path_regex: d
    encrypted_regex: e
  - path_regex: e
    unencrypted_comment_regex: u
  - path_regex: f
    encrypted_comment_regex: e
  - path_regex: g
    key_groups:
      - age: [${ADMIN}]
        pgp: [FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4]
        kms: [{arn: a, role: r, context: {k: v}, aws_profile: p}]
        gcp_kms: [{resource_id: projects/p/locations/l/keyRings/r/cryptoKeys/k}]
        hckms: [{key_id: "tr-west-1:0d2e8f0a-1b2c-4d5e-8f9a-0b1c2d3e4f5a"}]
        azure_keyvault: [{vaultUrl: "https://v.vault.azure.net", key: k, version: "1"}]
        hc_vault: [https://vault:8200/v1/sops/keys/k]
        merge: [{age: [${DAO}]}]
destination_rules:
  - path_regex: x
    s3_bucket: b
    s3_prefix: p
    gcs_bucket: g
    gcs_prefix: p
    vault_path: v
    vault_address: https://vault:8200
    vault_kv_mount_name: secret/
    vault_kv_version: 2
    omit_extensions: true
    recreation_rule: {age: ${ADMIN}, path_regex: y}
stores:
  dotenv: {}
  ini: {}
  json: {indent: 2}
  json_binary: {indent: 2}
  yaml: {indent: 4}
`,
    ".sops.yaml",
  )
  assert.deepEqual(config.warnings, [])
  assert.equal(config.creationRules?.length, 7)
})

test("unknown keys anywhere sops reads are refused: key groups, key entries, stores, destination rules", () => {
  const refused = (text: string, message: string): void => {
    assert.throws(
      () => parseSopsConfig(text, ".sops.yaml"),
      (e: unknown) => e instanceof UnknownConfigKeyError && e.message === message,
    )
  }
  refused(
    "creation_rules:\n  - key_groups:\n      - kms:\n          - arn: a\n            rol: r\n",
    '".sops.yaml" line 5: creation rule 1: key_groups[0].kms[0]: unknown key "rol" (did you mean "role"?)',
  )
  refused(
    "creation_rules:\n  - key_groups:\n      - azure_keyvault:\n          - vault_url: u\n",
    '".sops.yaml" line 4: creation rule 1: key_groups[0].azure_keyvault[0]: unknown key "vault_url" (did you mean "vaultUrl"?)',
  )
  refused(
    "creation_rules:\n  - key_groups:\n      - merge:\n          - agee: [x]\n",
    '".sops.yaml" line 4: creation rule 1: key_groups[0].merge[0]: unknown key "agee" (did you mean "age"?)',
  )
  refused(
    "stores:\n  yaml:\n    indnet: 2\n",
    '".sops.yaml" line 3: stores.yaml: unknown key "indnet" (did you mean "indent"?)',
  )
  refused(
    "stores:\n  yml: {indent: 2}\n",
    '".sops.yaml" line 2: stores: unknown key "yml" (did you mean "yaml"?)',
  )
  refused(
    "destination_rules:\n  - path_regex: a\n    s3_buckett: b\n",
    '".sops.yaml" line 3: destination rule 1: unknown key "s3_buckett" (did you mean "s3_bucket"?)',
  )
  // no near key: the hint lists what a rule may hold
  assert.throws(
    () => parseSopsConfig("creation_rules:\n  - recipients: x\n", ".sops.yaml"),
    (e: unknown) =>
      e instanceof UnknownConfigKeyError &&
      e.message === '".sops.yaml" line 2: creation rule 1: unknown key "recipients"' &&
      e.hints.some((h) => h.startsWith("a creation rule may hold path_regex, kms,")),
  )
})

test("top-level keys: anchors are fine, a typo of creation_rules is not", () => {
  const anchors = parseSopsConfig(`keys:\n  - &a ${ADMIN}\nadmins: [*a]\n`, ".sops.yaml")
  assert.deepEqual(anchors.otherTopLevelKeys, ["keys", "admins"])
  assert.deepEqual(anchors.warnings, [])
  assert.throws(
    () => parseSopsConfig(`creation_rule:\n  - age: ${ADMIN}\n`, ".sops.yaml"),
    (e: unknown) =>
      e instanceof UnknownConfigKeyError &&
      e.message ===
        '".sops.yaml" line 1: unknown key "creation_rule" (did you mean "creation_rules"?)',
  )
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
