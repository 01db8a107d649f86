/**
 * `.sops.yaml`: finding it and reading it (docs/formats/sops.md ".sops.yaml"; sops's
 * `config/config.go` and `cmd/sops/main.go` `findConfigFile`/`loadConfig`/`keyGroups`).
 *
 * Finding: `--config PATH`, else `SOPS_CONFIG`, else `.sops.yaml` in the current directory
 * and each parent (up to 100 levels). A `.sops.yml` is never used (sops ignores it); we
 * report it so the caller can warn. The file system is a port (`ConfigLookupIo`): this
 * module stays pure.
 *
 * Reading: YAML with anchors, aliases and `<<` merge keys resolved (as go-yaml v3 does).
 * Each creation rule becomes a `CreationRule`: its `path_regex`, its key groups (a rule's
 * `key_groups` when present, else one group built from the flat `age`, `pgp`, `kms`...
 * fields), `shamir_threshold`, the value selector and `mac_only_encrypted`. Keys given as
 * strings are split on `,` and trimmed, empty entries dropped; duplicate keys in a group are
 * removed. Cloud keys (KMS, GCP, Azure, Vault, HuaweiCloud) are kept as opaque entries with
 * the field names sops writes in a file's metadata, so rules and files compare directly.
 * Errors name the file and line. A key sops 3.13 does not know, in a creation rule, a key
 * group, a key entry, `stores` or `destination_rules`, stops the command
 * (`UnknownConfigKeyError`, naming the key and the nearest known one): sops ignores such
 * keys silently, which turns a misspelt `path-regx` into a catch-all rule and encrypts to
 * the wrong keys. `allowUnknownKeys` (`--allow-unknown-config-keys`, for a config written
 * for a newer sops) turns them into warnings. Other top-level keys are normal (they hold
 * anchors) unless they are a typo of a known one (`creation_rule`). The known keys are
 * those of sops's `config/config.go`
 * (https://github.com/getsops/sops/blob/v3.13.2/config/config.go; docs/formats/sops.md
 * ".sops.yaml").
 */
import { dirname, join, resolve } from "node:path"
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument } from "yaml"
import type { Node as YamlNode } from "yaml"
import type { KeyGroupRecipients } from "../sops/data-key.js"
import type { OpaqueKeyType, OpaqueMasterKey, ValueSelector } from "../sops/metadata.js"
import { nearestName } from "../internal/nearest.js"
import { ConfigError, UnknownConfigKeyError } from "./errors.js"

/** The file name sops looks for. */
export const CONFIG_FILE_NAME = ".sops.yaml"

/** How many directories upward sops looks (`maxDepth` in `config.go`). */
export const MAX_CONFIG_DEPTH = 100

/** Store settings from the `stores:` section. */
export interface StoreSettings {
  /** YAML or JSON indent. */
  readonly indent?: number
}

/** The `stores:` section. */
export interface StoresConfig {
  readonly yaml?: StoreSettings
  readonly json?: StoreSettings
  readonly jsonBinary?: StoreSettings
}

/** One entry of `creation_rules`. */
export interface CreationRule {
  /** 0-based position in `creation_rules` (people see it 1-based: "rule 1"). */
  readonly index: number
  /** 1-based line of the rule in the config file, when known. */
  readonly line: number | undefined
  /** The Go regular expression, or `""` when the rule has none (it then matches every file). */
  readonly pathRegex: string
  /** The master keys per group, ready for `wrapDataKey`; empty when the rule lists no keys. */
  readonly keyGroups: readonly KeyGroupRecipients[]
  /** `shamir_threshold`, 0 when absent. */
  readonly shamirThreshold: number
  /** The one value selector the rule sets, if any. */
  readonly selector: ValueSelector | undefined
  readonly macOnlyEncrypted: boolean
}

/** A parsed `.sops.yaml`. */
export interface SopsConfig {
  /** The config file's path, as it was read. */
  readonly path: string
  /**
   * The creation rules in order; undefined when the file has no `creation_rules` key (sops
   * then behaves as if there were no config file at all).
   */
  readonly creationRules: readonly CreationRule[] | undefined
  readonly stores: StoresConfig
  /** Things sops would silently ignore (unknown keys, when allowed), one line each. */
  readonly warnings: readonly string[]
  /**
   * Top-level keys other than `creation_rules`, `destination_rules` and `stores` (they
   * usually hold anchors), for "has no creation_rules" messages.
   */
  readonly otherTopLevelKeys: readonly string[]
}

/** How strictly a `.sops.yaml` is read. */
export interface ConfigParseOptions {
  /**
   * Report keys sops 3.13 does not know as warnings instead of failing
   * (`--allow-unknown-config-keys`: a config written for a newer sops).
   */
  readonly allowUnknownKeys?: boolean | undefined
}

/** The file-system questions `locateSopsConfig` asks. */
export interface ConfigLookupIo {
  /** Whether a file (or anything) exists at `path`. */
  exists(path: string): boolean
}

/** Where to look and what was given. */
export interface ConfigLookup {
  /** The current working directory (absolute). */
  readonly cwd: string
  /** `--config PATH`. */
  readonly explicit?: string | undefined
  /** `SOPS_CONFIG`. */
  readonly env?: string | undefined
}

/** The outcome of `locateSopsConfig`. */
export interface ConfigLocation {
  /** The absolute path of the config file, or undefined when none was found. */
  readonly path: string | undefined
  /** How it was chosen. */
  readonly source: "flag" | "env" | "search" | "none"
  /** Every `.sops.yaml` path looked at, in order (for "not found" messages). */
  readonly searched: readonly string[]
  /** `.sops.yml` files seen on the way, which sops does not read. */
  readonly ignored: readonly string[]
}

/**
 * Finds the config file as sops does: `--config`, then `SOPS_CONFIG`, then `.sops.yaml`
 * from `cwd` upward (at most 100 directories). An explicit path is returned even when it
 * does not exist: reading it then fails with a clear error.
 * @param lookup the working directory and the explicit choices
 * @param io the file-system port
 * @returns the path (absolute) and what was searched
 */
export function locateSopsConfig(lookup: ConfigLookup, io: ConfigLookupIo): ConfigLocation {
  if (lookup.explicit !== undefined && lookup.explicit !== "") {
    return {
      path: resolve(lookup.cwd, lookup.explicit),
      source: "flag",
      searched: [],
      ignored: [],
    }
  }
  if (lookup.env !== undefined && lookup.env !== "") {
    return { path: resolve(lookup.cwd, lookup.env), source: "env", searched: [], ignored: [] }
  }
  const searched: string[] = []
  const ignored: string[] = []
  let dir = resolve(lookup.cwd)
  for (let depth = 0; depth < MAX_CONFIG_DEPTH; depth++) {
    const candidate = join(dir, CONFIG_FILE_NAME)
    searched.push(candidate)
    if (io.exists(candidate)) return { path: candidate, source: "search", searched, ignored }
    const yml = join(dir, ".sops.yml")
    if (io.exists(yml)) ignored.push(yml)
    const parent = dirname(dir)
    if (parent === dir) break
    dir = parent
  }
  return { path: undefined, source: "none", searched, ignored }
}

// The keys sops 3.13 reads (`config/config.go`: configFile, creationRule, keyGroup, kmsKey,
// gcpKmsKey, azureKVKey, hckmsKey, destinationRule, StoresConfig).
const TOP_LEVEL_FIELDS = ["creation_rules", "destination_rules", "stores"] as const

/** Every key a creation rule may hold, as sops 3.13 reads them. */
export const CREATION_RULE_KEYS: readonly string[] = [
  "path_regex",
  "kms",
  "aws_profile",
  "age",
  "pgp",
  "gcp_kms",
  "hckms",
  "azure_keyvault",
  "hc_vault_transit_uri",
  "key_groups",
  "shamir_threshold",
  "unencrypted_suffix",
  "encrypted_suffix",
  "unencrypted_regex",
  "encrypted_regex",
  "unencrypted_comment_regex",
  "encrypted_comment_regex",
  "mac_only_encrypted",
]

const GROUP_FIELDS = [
  "merge",
  "kms",
  "gcp_kms",
  "hckms",
  "azure_keyvault",
  "hc_vault",
  "age",
  "pgp",
] as const

const KMS_ENTRY_FIELDS = ["arn", "role", "context", "aws_profile"] as const
const GCP_KMS_ENTRY_FIELDS = ["resource_id"] as const
const AZURE_ENTRY_FIELDS = ["vaultUrl", "key", "version"] as const
const HCKMS_ENTRY_FIELDS = ["key_id"] as const
const STORES_FIELDS = ["dotenv", "ini", "json_binary", "json", "yaml"] as const
const DESTINATION_RULE_FIELDS = [
  "path_regex",
  "s3_bucket",
  "s3_prefix",
  "gcs_bucket",
  "gcs_prefix",
  "vault_path",
  "vault_address",
  "vault_kv_mount_name",
  "vault_kv_version",
  "recreation_rule",
  "omit_extensions",
] as const

const SELECTOR_KINDS: readonly ValueSelector["kind"][] = [
  "unencrypted_suffix",
  "encrypted_suffix",
  "unencrypted_regex",
  "encrypted_regex",
  "unencrypted_comment_regex",
  "encrypted_comment_regex",
]

type Plain = unknown

/** Where a value sits, for messages: `.sops.yaml line 7: creation rule 2: age`. */
interface Place {
  readonly file: string
  readonly line: number | undefined
  readonly what: string
  /** The value's path in the YAML document, to find the line of one of its keys. */
  readonly at?: readonly (string | number)[] | undefined
}

/** What every part of one parse shares. */
interface Reading {
  readonly options: ConfigParseOptions
  readonly warnings: string[]
  /** The line of `key` in the mapping at `at`, when the document has it there. */
  readonly keyLine: (
    at: readonly (string | number)[] | undefined,
    key: string,
  ) => number | undefined
}

function where(place: Place): string {
  const line = place.line === undefined ? "" : ` line ${String(place.line)}`
  return `${JSON.stringify(place.file)}${line}: ${place.what === "" ? "" : `${place.what}: `}`
}

function fail(place: Place, message: string, hints: readonly string[] = []): ConfigError {
  return new ConfigError(`${where(place)}${message}`, { hints })
}

function describeType(value: Plain): string {
  if (value === null) return "null"
  if (Array.isArray(value)) return "a list"
  if (typeof value === "object") return "a mapping"
  return `a ${typeof value}`
}

function isRecord(value: Plain): value is Record<string, Plain> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
}

const ALLOW_FLAG = "--allow-unknown-config-keys"

/**
 * Refuses (or, when allowed, warns about) the keys of `value` that sops does not know.
 * @param kind what holds them, for messages ("creation rule", "key group")
 * @param consequence why an ignored key matters here, one sentence
 */
function checkKeys(
  value: Record<string, Plain>,
  known: readonly string[],
  place: Place,
  reading: Reading,
  kind: string,
  consequence: string,
): void {
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue
    const at: Place = { ...place, line: reading.keyLine(place.at, key) ?? place.line }
    const near = nearestName(key, known)
    const suggestion = near === undefined ? "" : ` (did you mean ${JSON.stringify(near)}?)`
    if (reading.options.allowUnknownKeys === true) {
      reading.warnings.push(
        `${where(at)}unknown key ${JSON.stringify(key)}${suggestion} is ignored`,
      )
      continue
    }
    throw new UnknownConfigKeyError(`${where(at)}unknown key ${JSON.stringify(key)}${suggestion}`, {
      key,
      nearest: near,
      hints: [
        `sops 3.13 ignores keys it does not know: ${consequence}`,
        near === undefined
          ? `a ${kind} may hold ${known.join(", ")}`
          : `write ${JSON.stringify(near)}`,
        `if the key is for a newer sops, pass ${ALLOW_FLAG} to ignore it`,
      ],
    })
  }
}

/**
 * Parses a `.sops.yaml`.
 * @param text the file's content
 * @param path the file's path (shown in messages; `CreationRule` matching uses its directory)
 * @param options whether unknown keys are allowed
 * @returns the creation rules, stores settings and warnings
 * @throws UnknownConfigKeyError for a key sops does not know (unless allowed);
 *   ConfigError naming the file and line for invalid YAML or a field of the wrong shape
 */
export function parseSopsConfig(
  text: string,
  path: string,
  options: ConfigParseOptions = {},
): SopsConfig {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { merge: true, uniqueKeys: true, lineCounter })
  const lineOf = (node: YamlNode | null | undefined): number | undefined => {
    const offset = node?.range?.[0]
    return offset === undefined ? undefined : lineCounter.linePos(offset).line
  }
  const top: Place = { file: path, line: undefined, what: "", at: [] }
  const [first] = doc.errors
  if (first !== undefined) {
    const line = first.linePos?.[0].line
    throw fail(
      { ...top, line },
      `invalid YAML: ${first.message.split("\n")[0] ?? first.code}`.replace(
        / at line \d+, column \d+:?$/,
        "",
      ),
      ["check the indentation and quoting around that line"],
    )
  }
  let value: Plain
  try {
    value = doc.toJS({ maxAliasCount: 10_000 }) as Plain
  } catch (cause) {
    throw fail(
      top,
      `can't resolve the YAML: ${cause instanceof Error ? cause.message : String(cause)}`,
    )
  }
  const warnings: string[] = []
  const reading: Reading = {
    options,
    warnings,
    keyLine: (at, key) => {
      if (at === undefined) return undefined
      let node: unknown = at.length === 0 ? doc.contents : doc.getIn(at, true)
      if (isAlias(node)) node = node.resolve(doc)
      if (!isMap(node)) return undefined
      const pair = node.items.find((p) => isScalar(p.key) && p.key.value === key)
      return pair === undefined ? undefined : lineOf(pair.key as YamlNode)
    },
  }
  if (value === null || value === undefined) {
    return { path, creationRules: undefined, stores: {}, warnings, otherTopLevelKeys: [] }
  }
  if (!isRecord(value)) {
    throw fail({ ...top, line: 1 }, `the top level must be a mapping, not ${describeType(value)}`)
  }
  // Other top-level keys are fine: they hold YAML anchors (`keys: [&admin age1…]`), unless
  // they look like a typo of a known one.
  const otherTopLevelKeys = Object.keys(value).filter(
    (key) => !(TOP_LEVEL_FIELDS as readonly string[]).includes(key),
  )
  const typos = Object.fromEntries(
    otherTopLevelKeys
      .filter((key) => nearestName(key, TOP_LEVEL_FIELDS) !== undefined)
      .map((key) => [key, value[key]]),
  )
  checkKeys(typos, TOP_LEVEL_FIELDS, top, reading, "sops config", "its rules would not be used")
  const stores = parseStores(value["stores"], { ...top, what: "stores", at: ["stores"] }, reading)
  parseDestinationRules(value["destination_rules"], top, reading)

  const rulesValue = value["creation_rules"]
  if (rulesValue === undefined || rulesValue === null) {
    return { path, creationRules: undefined, stores, warnings, otherTopLevelKeys }
  }
  let rulesNode: unknown = doc.get("creation_rules", true)
  if (isAlias(rulesNode)) rulesNode = rulesNode.resolve(doc)
  const rulesPlace: Place = { ...top, line: lineOf(rulesNode as YamlNode), what: "creation_rules" }
  if (!Array.isArray(rulesValue)) {
    throw fail(rulesPlace, `must be a list of rules, not ${describeType(rulesValue)}`)
  }
  const ruleNodes = isSeq(rulesNode) ? rulesNode.items : []
  const creationRules = rulesValue.map((rule: Plain, index) => {
    let node: unknown = ruleNodes[index]
    if (isAlias(node)) node = node.resolve(doc)
    const place: Place = {
      file: path,
      line: lineOf(node as YamlNode | undefined),
      what: `creation rule ${String(index + 1)}`,
      at: ["creation_rules", index],
    }
    return parseCreationRule(rule, index, place, reading)
  })
  return { path, creationRules, stores, warnings, otherTopLevelKeys }
}

function parseStores(value: Plain, place: Place, reading: Reading): StoresConfig {
  if (value === undefined || value === null) return {}
  if (!isRecord(value)) throw fail(place, `must be a mapping, not ${describeType(value)}`)
  checkKeys(value, STORES_FIELDS, place, reading, "stores section", "its settings would not apply")
  const indentOf = (name: string): StoreSettings | undefined => {
    const section = value[name]
    const at: Place = { ...place, what: `stores.${name}`, at: [...(place.at ?? []), name] }
    if (section === undefined || section === null) return undefined
    if (!isRecord(section)) throw fail(at, "must be a mapping")
    checkKeys(
      section,
      name === "dotenv" || name === "ini" ? [] : ["indent"],
      at,
      reading,
      `stores.${name} section`,
      "the setting would not apply",
    )
    const indent = section["indent"]
    if (indent === undefined || indent === null) return {}
    if (typeof indent !== "number" || !Number.isInteger(indent)) {
      throw fail({ ...place, what: `stores.${name}.indent` }, "must be a whole number")
    }
    return { indent }
  }
  indentOf("dotenv")
  indentOf("ini")
  const yaml = indentOf("yaml")
  const json = indentOf("json")
  const jsonBinary = indentOf("json_binary")
  return {
    ...(yaml === undefined ? {} : { yaml }),
    ...(json === undefined ? {} : { json }),
    ...(jsonBinary === undefined ? {} : { jsonBinary }),
  }
}

/**
 * `destination_rules` (sops's `publish` command, which coffer does not have): only their
 * keys are checked, so a typo there is caught as in `creation_rules`.
 */
function parseDestinationRules(value: Plain, top: Place, reading: Reading): void {
  if (value === undefined || value === null) return
  const place: Place = { ...top, what: "destination_rules", at: ["destination_rules"] }
  if (!Array.isArray(value)) throw fail(place, `must be a list, not ${describeType(value)}`)
  for (const [i, rule] of value.entries()) {
    const at: Place = {
      ...place,
      what: `destination rule ${String(i + 1)}`,
      at: ["destination_rules", i],
    }
    if (!isRecord(rule)) throw fail(at, `must be a mapping, not ${describeType(rule)}`)
    checkKeys(
      rule,
      DESTINATION_RULE_FIELDS,
      at,
      reading,
      "destination rule",
      "sops publish would not do what the rule says",
    )
    const recreation = rule["recreation_rule"]
    if (isRecord(recreation)) {
      checkKeys(
        recreation,
        CREATION_RULE_KEYS,
        { ...at, what: `${at.what}: recreation_rule`, at: [...(at.at ?? []), "recreation_rule"] },
        reading,
        "creation rule",
        "the file would be re-encrypted to other keys than the rule says",
      )
    }
  }
}

function parseCreationRule(
  rule: Plain,
  index: number,
  place: Place,
  reading: Reading,
): CreationRule {
  if (!isRecord(rule)) throw fail(place, `must be a mapping, not ${describeType(rule)}`)
  checkKeys(
    rule,
    CREATION_RULE_KEYS,
    place,
    reading,
    "creation rule",
    rule["path_regex"] === undefined
      ? "this rule, with no path_regex, would match every file and encrypt it to its keys"
      : "the rule would not do what it says, and files would be encrypted to the wrong keys",
  )
  const field = (name: string): Place => ({ ...place, what: `${place.what}: ${name}` })
  const pathRegex = optionalString(rule["path_regex"], field("path_regex")) ?? ""
  const shamirThreshold = optionalThreshold(rule["shamir_threshold"], field("shamir_threshold"))
  const macOnlyEncrypted = optionalBool(rule["mac_only_encrypted"], field("mac_only_encrypted"))

  const selectors = SELECTOR_KINDS.flatMap((kind): ValueSelector[] => {
    const value = optionalString(rule[kind], field(kind))
    return value === undefined || value === "" ? [] : [{ kind, value }]
  })
  if (selectors.length > 1) {
    throw fail(
      place,
      `sets ${selectors.map((s) => s.kind).join(" and ")}, but a rule may set only one of ${SELECTOR_KINDS.join(", ")}`,
      ["keep the one that says which values to encrypt, delete the others"],
    )
  }

  let keyGroups: KeyGroupRecipients[]
  const groupsValue = rule["key_groups"]
  if (Array.isArray(groupsValue) && groupsValue.length > 0) {
    // spec: when key_groups is present the flat key fields are not used
    keyGroups = groupsValue.map((group: Plain, i) =>
      dedupeGroup(
        parseKeyGroup(
          group,
          {
            ...place,
            what: `${place.what}: key_groups[${String(i)}]`,
            at: [...(place.at ?? []), "key_groups", i],
          },
          reading,
        ),
      ),
    )
  } else {
    if (groupsValue !== undefined && groupsValue !== null && !Array.isArray(groupsValue)) {
      throw fail(
        field("key_groups"),
        `must be a list of key groups, not ${describeType(groupsValue)}`,
      )
    }
    const flat = parseFlatKeys(rule, place)
    keyGroups = groupSize(flat) === 0 ? [] : [dedupeGroup(flat)]
  }
  return {
    index,
    line: place.line,
    pathRegex,
    keyGroups,
    shamirThreshold,
    selector: selectors[0],
    macOnlyEncrypted,
  }
}

function optionalString(value: Plain, place: Place): string | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value === "string") return value
  if (typeof value === "number" || typeof value === "boolean") return String(value)
  throw fail(place, `must be a string, not ${describeType(value)}`)
}

function optionalBool(value: Plain, place: Place): boolean {
  if (value === undefined || value === null) return false
  if (typeof value === "boolean") return value
  throw fail(place, `must be true or false, not ${describeType(value)}`)
}

function optionalThreshold(value: Plain, place: Place): number {
  if (value === undefined || value === null) return 0
  if (typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 255) {
    return value
  }
  throw fail(place, "must be a whole number from 0 to 255")
}

/** A string split on commas (sops's `strings.Split` + trim), or a list of such strings. */
function keyList(value: Plain, place: Place): string[] {
  if (value === undefined || value === null) return []
  const parts: Plain[] = Array.isArray(value) ? value : [value]
  return parts.flatMap((part, i) => {
    if (typeof part !== "string") {
      throw fail(
        Array.isArray(value) ? { ...place, what: `${place.what}[${String(i)}]` } : place,
        `must be a string${Array.isArray(value) ? "" : " or a list of strings"}, not ${describeType(part)}`,
      )
    }
    return part
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "")
  })
}

interface MutableGroup {
  age: string[]
  pgp: string[]
  opaque: Partial<Record<OpaqueKeyType, OpaqueMasterKey[]>>
}

function addOpaque(
  group: MutableGroup,
  type: OpaqueKeyType,
  fields: Record<string, unknown>,
): void {
  ;(group.opaque[type] ??= []).push({ fields })
}

function parseFlatKeys(rule: Record<string, Plain>, place: Place): MutableGroup {
  const field = (name: string): Place => ({ ...place, what: `${place.what}: ${name}` })
  const group: MutableGroup = { age: [], pgp: [], opaque: {} }
  group.age.push(...keyList(rule["age"], field("age")))
  group.pgp.push(...keyList(rule["pgp"], field("pgp")))
  const awsProfile = optionalString(rule["aws_profile"], field("aws_profile"))
  for (const text of keyList(rule["kms"], field("kms"))) {
    // spec: spaces are removed and "ARN+arn:…" adds a role (sops's NewMasterKeyFromArn)
    const entry = text.replaceAll(" ", "")
    const plus = entry.indexOf("+arn:")
    const arn = plus <= 0 ? entry : entry.slice(0, plus)
    const role = plus <= 0 ? undefined : entry.slice(plus + 1)
    addOpaque(group, "kms", {
      arn,
      ...(role === undefined ? {} : { role }),
      ...(awsProfile === undefined || awsProfile === "" ? {} : { aws_profile: awsProfile }),
    })
  }
  for (const id of keyList(rule["gcp_kms"], field("gcp_kms"))) {
    addOpaque(group, "gcp_kms", { resource_id: id })
  }
  for (const id of keyList(rule["hckms"], field("hckms"))) addOpaque(group, "hckms", { key_id: id })
  for (const url of keyList(rule["azure_keyvault"], field("azure_keyvault"))) {
    addOpaque(group, "azure_kv", azureFromUrl(url, field("azure_keyvault")))
  }
  for (const uri of keyList(rule["hc_vault_transit_uri"], field("hc_vault_transit_uri"))) {
    addOpaque(group, "hc_vault", vaultFromUri(uri, field("hc_vault_transit_uri")))
  }
  return group
}

function parseKeyGroup(value: Plain, place: Place, reading: Reading, depth = 0): MutableGroup {
  if (!isRecord(value)) throw fail(place, `must be a mapping, not ${describeType(value)}`)
  if (depth > 32) throw fail(place, "merge is nested too deeply")
  const field = (name: string): Place => ({
    ...place,
    what: `${place.what}.${name}`,
    at: [...(place.at ?? []), name],
  })
  checkKeys(
    value,
    GROUP_FIELDS,
    place,
    reading,
    "key group",
    "its keys would be left out, and the file encrypted to fewer keys than the rule says",
  )
  const entries = (name: string, known: readonly string[]): Record<string, Plain>[] =>
    objectList(value[name], field(name), known, reading)
  const group: MutableGroup = { age: [], pgp: [], opaque: {} }
  group.age.push(...keyList(value["age"], field("age")))
  group.pgp.push(...keyList(value["pgp"], field("pgp")))
  for (const [i, entry] of entries("kms", KMS_ENTRY_FIELDS).entries()) {
    const at = { ...place, what: `${place.what}.kms[${String(i)}]` }
    const arn = optionalString(entry["arn"], at)
    if (arn === undefined || arn === "") throw fail(at, "needs an arn")
    const role = optionalString(entry["role"], at)
    const profile = optionalString(entry["aws_profile"], at)
    const context = entry["context"]
    if (context !== undefined && context !== null && !isRecord(context)) {
      throw fail(at, "context must be a mapping")
    }
    addOpaque(group, "kms", {
      arn,
      ...(role === undefined || role === "" ? {} : { role }),
      ...(isRecord(context) ? { context } : {}),
      ...(profile === undefined || profile === "" ? {} : { aws_profile: profile }),
    })
  }
  for (const [i, entry] of entries("gcp_kms", GCP_KMS_ENTRY_FIELDS).entries()) {
    const at = { ...place, what: `${place.what}.gcp_kms[${String(i)}]` }
    const id = optionalString(entry["resource_id"], at)
    if (id === undefined || id === "") throw fail(at, "needs a resource_id")
    addOpaque(group, "gcp_kms", { resource_id: id })
  }
  for (const [i, entry] of entries("hckms", HCKMS_ENTRY_FIELDS).entries()) {
    const at = { ...place, what: `${place.what}.hckms[${String(i)}]` }
    const id = optionalString(entry["key_id"], at)
    if (id === undefined || id === "") throw fail(at, "needs a key_id")
    addOpaque(group, "hckms", { key_id: id })
  }
  for (const [i, entry] of entries("azure_keyvault", AZURE_ENTRY_FIELDS).entries()) {
    const at = { ...place, what: `${place.what}.azure_keyvault[${String(i)}]` }
    const url = optionalString(entry["vaultUrl"], at)
    const key = optionalString(entry["key"], at)
    const version = optionalString(entry["version"], at) ?? ""
    if (url === undefined || key === undefined) throw fail(at, "needs vaultUrl and key")
    addOpaque(group, "azure_kv", { vault_url: url, name: key, version })
  }
  for (const uri of keyList(value["hc_vault"], field("hc_vault"))) {
    addOpaque(group, "hc_vault", vaultFromUri(uri, field("hc_vault")))
  }
  const merge = value["merge"]
  if (merge !== undefined && merge !== null) {
    if (!Array.isArray(merge)) throw fail(field("merge"), "must be a list of key groups")
    // spec: nested groups are flattened into this group
    for (const [i, inner] of merge.entries()) {
      const nested = parseKeyGroup(
        inner,
        {
          ...place,
          what: `${place.what}.merge[${String(i)}]`,
          at: [...(place.at ?? []), "merge", i],
        },
        reading,
        depth + 1,
      )
      group.age.push(...nested.age)
      group.pgp.push(...nested.pgp)
      for (const [type, keys] of Object.entries(nested.opaque) as [
        OpaqueKeyType,
        OpaqueMasterKey[],
      ][]) {
        for (const k of keys) addOpaque(group, type, { ...k.fields })
      }
    }
  }
  return group
}

function objectList(
  value: Plain,
  place: Place,
  known: readonly string[],
  reading: Reading,
): Record<string, Plain>[] {
  if (value === undefined || value === null) return []
  if (!Array.isArray(value)) throw fail(place, `must be a list, not ${describeType(value)}`)
  return value.map((entry: Plain, i) => {
    const at: Place = {
      ...place,
      what: `${place.what}[${String(i)}]`,
      at: [...(place.at ?? []), i],
    }
    if (!isRecord(entry)) throw fail(at, `must be a mapping, not ${describeType(entry)}`)
    checkKeys(entry, known, at, reading, "key entry", "the key would not be what it says")
    return entry
  })
}

/** `https://NAME.vault.azure.net/keys/KEY/VERSION` (sops's `NewMasterKeyFromURL`). */
function azureFromUrl(url: string, place: Place): Record<string, unknown> {
  const m = /^(https:\/\/[^/]+)\/keys\/([^/]+)\/?([^/]*)$/.exec(url)
  if (m === null) {
    throw fail(place, `${JSON.stringify(url)} is not an Azure Key Vault key URL`, [
      "write it as https://VAULT.vault.azure.net/keys/KEY/VERSION",
    ])
  }
  return { vault_url: m[1] ?? "", name: m[2] ?? "", version: m[3] ?? "" }
}

/** `https://vault:8200/v1/ENGINE/keys/KEY` (sops's `NewMasterKeyFromURI`). */
function vaultFromUri(uri: string, place: Place): Record<string, unknown> {
  const m = /^(https?:\/\/[^/]+)\/v1\/(.+)\/keys\/([^/]+)\/?$/.exec(uri)
  if (m === null) {
    throw fail(place, `${JSON.stringify(uri)} is not a Vault transit key URI`, [
      "write it as https://VAULT:8200/v1/ENGINE_PATH/keys/KEY_NAME",
    ])
  }
  return { vault_address: m[1] ?? "", engine_path: m[2] ?? "", key_name: m[3] ?? "" }
}

function groupSize(group: MutableGroup): number {
  let n = group.age.length + group.pgp.length
  for (const keys of Object.values(group.opaque)) n += keys.length
  return n
}

/** A PGP fingerprint as compared: no spaces, upper case. */
export function normalizeFingerprint(fp: string): string {
  return fp.replaceAll(" ", "").toUpperCase()
}

/** Removes duplicate keys in a group (spec: "Duplicate keys in a group are removed"). */
function dedupeGroup(group: MutableGroup): KeyGroupRecipients {
  const unique = <T>(items: readonly T[], id: (t: T) => string): T[] => {
    const seen = new Set<string>()
    return items.filter((item) => {
      const key = id(item)
      if (seen.has(key)) return false
      seen.add(key)
      return true
    })
  }
  const opaque: Partial<Record<OpaqueKeyType, readonly OpaqueMasterKey[]>> = {}
  for (const [type, keys] of Object.entries(group.opaque) as [OpaqueKeyType, OpaqueMasterKey[]][]) {
    opaque[type] = unique(keys, (k) => JSON.stringify(k.fields))
  }
  const result: KeyGroupRecipients = {
    age: unique(group.age, (r) => r),
    pgp: unique(group.pgp, normalizeFingerprint),
    ...(Object.keys(opaque).length > 0 ? { opaque } : {}),
  }
  return result
}
