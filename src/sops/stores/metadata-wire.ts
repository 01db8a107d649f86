/**
 * The on-disk `sops` section as a tree <-> `Metadata` (docs/formats/sops.md "Metadata
 * fields", "Order of metadata keys", `stores/stores.go` `ToInternal`, `stores/metadata.go`).
 *
 * Reading accepts every layout sops 3.x has written: flat master-key lists or `key_groups`,
 * `null` and empty lists, struct or sorted order, `version` as a number, keys in any case
 * (mapstructure matches them case-insensitively), unknown keys ignored, values converted
 * weakly (`"2"` is a threshold of 2). `lastmodified` and every `created_at` must be RFC 3339.
 * Writing produces the sops 3.13 layout: keys sorted at every level, empty lists omitted
 * except `age` and `hc_vault` inside a key group.
 */
import { MetadataError } from "../errors.js"
import type {
  AgeMasterKey,
  KeyGroup,
  Metadata,
  OpaqueKeyType,
  OpaqueMasterKey,
  PgpMasterKey,
  ValueSelector,
} from "../metadata.js"
import type { Entry, Mapping, Node } from "../tree.js"
import { compareGo } from "./flatten.js"
import { formatGoFloatF } from "./scalar-text.js"

const OPAQUE_TYPES: readonly OpaqueKeyType[] = ["kms", "gcp_kms", "azure_kv", "hc_vault", "hckms"]
const SELECTOR_KINDS: readonly ValueSelector["kind"][] = [
  "unencrypted_suffix",
  "encrypted_suffix",
  "unencrypted_regex",
  "encrypted_regex",
  "unencrypted_comment_regex",
  "encrypted_comment_regex",
]

/** The key under which every store keeps the metadata. */
export const METADATA_KEY = "sops"

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$/

/**
 * Whether a text is an RFC 3339 timestamp Go's `time.Parse(time.RFC3339, …)` accepts.
 * @param text the timestamp
 * @returns true when valid (fields in range)
 */
export function isRfc3339(text: string): boolean {
  const m = RFC3339.exec(text)
  if (m === null) return false
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ]
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate()
  const zoneHour = m[9] === undefined ? 0 : Number(m[9])
  const zoneMinute = m[10] === undefined ? 0 : Number(m[10])
  return (
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth &&
    hour < 24 &&
    minute < 60 &&
    second < 60 &&
    zoneHour < 24 &&
    zoneMinute < 60
  )
}

/** A case-insensitive view of a mapping's entries (first spelling wins). */
function fieldsOf(node: Mapping): Map<string, Node> {
  const out = new Map<string, Node>()
  for (const item of node.items) {
    if (item.kind !== "entry") continue
    const key = item.key.toLowerCase()
    if (!out.has(key)) out.set(key, item.value)
  }
  return out
}

function describe(node: Node): string {
  return node.kind === "mapping"
    ? "a mapping"
    : node.kind === "sequence"
      ? "a list"
      : `a ${node.kind}`
}

/** mapstructure's weak conversion to string. */
function weakString(node: Node | undefined, name: string): string {
  if (node === undefined) return ""
  switch (node.kind) {
    case "string":
    case "time":
      return node.value
    case "int":
      return node.value.toString()
    case "float":
      return formatGoFloatF(node.value, -1)
    case "bool":
      return node.value ? "1" : "0"
    case "null":
      return ""
    default:
      throw new MetadataError(`sops metadata: ${name} should be a string, found ${describe(node)}`)
  }
}

function weakInt(node: Node | undefined, name: string): number {
  if (node === undefined) return 0
  switch (node.kind) {
    case "int":
      return Number(node.value)
    case "float":
      return Math.trunc(node.value)
    case "bool":
      return node.value ? 1 : 0
    case "null":
      return 0
    case "string": {
      if (node.value === "") return 0
      if (/^[+-]?[0-9]+$/.test(node.value)) return Number(node.value)
      throw new MetadataError(
        `sops metadata: ${name} should be a number, found ${JSON.stringify(node.value)}`,
      )
    }
    default:
      throw new MetadataError(`sops metadata: ${name} should be a number, found ${describe(node)}`)
  }
}

function weakBool(node: Node | undefined, name: string): boolean {
  if (node === undefined) return false
  switch (node.kind) {
    case "bool":
      return node.value
    case "int":
      return node.value !== 0n
    case "float":
      return node.value !== 0
    case "null":
      return false
    case "string": {
      if (node.value === "") return false
      if (["1", "t", "T", "TRUE", "true", "True"].includes(node.value)) return true
      if (["0", "f", "F", "FALSE", "false", "False"].includes(node.value)) return false
      throw new MetadataError(
        `sops metadata: ${name} should be a boolean, found ${JSON.stringify(node.value)}`,
      )
    }
    default:
      throw new MetadataError(`sops metadata: ${name} should be a boolean, found ${describe(node)}`)
  }
}

function listOf(node: Node | undefined, name: string): Mapping[] {
  if (node === undefined || node.kind === "null") return []
  if (node.kind !== "sequence") {
    throw new MetadataError(`sops metadata: ${name} should be a list, found ${describe(node)}`)
  }
  const out: Mapping[] = []
  node.items.forEach((item, index) => {
    if (item.kind === "comment") return
    if (item.kind !== "mapping") {
      throw new MetadataError(
        `sops metadata: ${name}[${index}] should be a mapping, found ${describe(item)}`,
      )
    }
    out.push(item)
  })
  return out
}

function createdAt(fields: Map<string, Node>, name: string): string {
  const text = weakString(fields.get("created_at"), `${name}.created_at`)
  if (!isRfc3339(text)) {
    throw new MetadataError(
      `sops metadata: ${name}.created_at ${JSON.stringify(text)} is not an RFC 3339 timestamp`,
      { hints: ["sops writes timestamps like 2024-01-31T12:00:00Z"] },
    )
  }
  return text
}

function toPlain(node: Node): unknown {
  switch (node.kind) {
    case "mapping": {
      const out: Record<string, unknown> = {}
      for (const item of node.items) if (item.kind === "entry") out[item.key] = toPlain(item.value)
      return out
    }
    case "sequence":
      return node.items.filter((item) => item.kind !== "comment").map((item) => toPlain(item))
    case "int":
      return Number.isSafeInteger(Number(node.value)) ? Number(node.value) : node.value.toString()
    case "float":
    case "bool":
    case "string":
    case "time":
      return node.value
    case "bytes":
      return new TextDecoder().decode(node.value)
    case "null":
      return null
    default: {
      const never: never = node
      return never
    }
  }
}

function fromPlain(value: unknown): Node {
  if (value === null || value === undefined) return { kind: "null" }
  if (typeof value === "string") return { kind: "string", value }
  if (typeof value === "boolean") return { kind: "bool", value }
  if (typeof value === "bigint") return { kind: "int", value }
  if (typeof value === "number") {
    return Number.isInteger(value)
      ? { kind: "int", value: BigInt(value) }
      : { kind: "float", value }
  }
  if (Array.isArray(value)) return { kind: "sequence", items: value.map(fromPlain) }
  if (typeof value === "object") {
    const record = value as Record<string, unknown>
    return sortedMapping(Object.keys(record).map((key) => entry(key, fromPlain(record[key]))))
  }
  return { kind: "null" } // not JSON-like data
}

function readGroup(fields: Map<string, Node>, where: string): KeyGroup {
  const age: AgeMasterKey[] = listOf(fields.get("age"), `${where}age`).map((m, i) => {
    const f = fieldsOf(m)
    return {
      recipient: weakString(f.get("recipient"), `${where}age[${i}].recipient`).trim(),
      enc: weakString(f.get("enc"), `${where}age[${i}].enc`),
    }
  })
  const pgp: PgpMasterKey[] = listOf(fields.get("pgp"), `${where}pgp`).map((m, i) => {
    const f = fieldsOf(m)
    return {
      fp: weakString(f.get("fp"), `${where}pgp[${i}].fp`),
      createdAt: createdAt(f, `${where}pgp[${i}]`),
      enc: weakString(f.get("enc"), `${where}pgp[${i}].enc`),
    }
  })
  const opaque: Partial<Record<OpaqueKeyType, readonly OpaqueMasterKey[]>> = {}
  for (const type of OPAQUE_TYPES) {
    const keys = listOf(fields.get(type), `${where}${type}`).map((m, i) => {
      createdAt(fieldsOf(m), `${where}${type}[${i}]`)
      return { fields: toPlain(m) as Record<string, unknown> }
    })
    if (keys.length > 0) opaque[type] = keys
  }
  return { age, pgp, opaque }
}

function groupSize(group: KeyGroup): number {
  let n = group.age.length + group.pgp.length
  for (const type of OPAQUE_TYPES) n += group.opaque[type]?.length ?? 0
  return n
}

/**
 * Reads the `sops` section.
 * @param node the value of the `sops` key (or the unflattened `[sops]`/`sops_*` lines)
 * @returns the metadata
 * @throws MetadataError when it is not a mapping, has no keys, more than one selector, or
 *   bad timestamps
 */
export function metadataFromNode(node: Node): Metadata {
  if (node.kind !== "mapping") {
    throw new MetadataError(`sops metadata should be a mapping, found ${describe(node)}`)
  }
  const fields = fieldsOf(node)
  const flat = readGroup(fields, "")
  let keyGroups: KeyGroup[]
  if (groupSize(flat) > 0) {
    keyGroups = [flat] // spec: non-empty flat lists win over key_groups
  } else {
    keyGroups = listOf(fields.get("key_groups"), "key_groups").map((m, i) =>
      readGroup(fieldsOf(m), `key_groups[${i}].`),
    )
  }
  if (keyGroups.every((group) => groupSize(group) === 0)) {
    throw new MetadataError("sops metadata lists no master keys", {
      hints: ["the file needs at least one age, pgp or cloud key under sops: (or sops_ lines)"],
    })
  }
  const lastModified = weakString(fields.get("lastmodified"), "lastmodified")
  if (!isRfc3339(lastModified)) {
    throw new MetadataError(
      `sops metadata: lastmodified ${JSON.stringify(lastModified)} is not an RFC 3339 timestamp`,
      { hints: ["sops writes timestamps like 2024-01-31T12:00:00Z"] },
    )
  }
  const macNode = fields.get("mac")
  const mac =
    macNode === undefined || macNode.kind === "null" ? undefined : weakString(macNode, "mac")
  let selector: ValueSelector | undefined
  for (const kind of SELECTOR_KINDS) {
    const value = weakString(fields.get(kind), kind)
    if (value === "") continue
    if (selector !== undefined) {
      throw new MetadataError(`sops metadata sets both ${selector.kind} and ${kind}`, {
        hints: ["sops allows only one of the *_suffix, *_regex and *_comment_regex options"],
      })
    }
    selector = { kind, value }
  }
  return {
    keyGroups,
    shamirThreshold: weakInt(fields.get("shamir_threshold"), "shamir_threshold"),
    lastModified,
    mac: mac === "" ? undefined : mac,
    selector,
    macOnlyEncrypted: weakBool(fields.get("mac_only_encrypted"), "mac_only_encrypted"),
    version: weakString(fields.get("version"), "version"),
  }
}

function entry(key: string, value: Node): Entry {
  return { kind: "entry", key, value }
}

function str(value: string): Node {
  return { kind: "string", value }
}

function sortedMapping(entries: Entry[]): Mapping {
  return { kind: "mapping", items: [...entries].sort((a, b) => compareGo(a.key, b.key)) }
}

function groupEntries(group: KeyGroup, inKeyGroups: boolean): Entry[] {
  const out: Entry[] = []
  const list = (key: string, items: Node[], always: boolean): void => {
    if (items.length > 0 || always) out.push(entry(key, { kind: "sequence", items }))
  }
  list(
    "age",
    group.age.map((k) =>
      sortedMapping([entry("recipient", str(k.recipient)), entry("enc", str(k.enc))]),
    ),
    inKeyGroups,
  )
  list(
    "pgp",
    group.pgp.map((k) =>
      sortedMapping([
        entry("created_at", str(k.createdAt)),
        entry("enc", str(k.enc)),
        entry("fp", str(k.fp)),
      ]),
    ),
    false,
  )
  for (const type of OPAQUE_TYPES) {
    list(
      type,
      (group.opaque[type] ?? []).map((k) => fromPlain(k.fields)),
      inKeyGroups && type === "hc_vault",
    )
  }
  return out
}

/**
 * Writes the `sops` section in the sops 3.13 layout (keys sorted at every level).
 * @param metadata the metadata
 * @returns the mapping to store under `sops`
 */
export function metadataToNode(metadata: Metadata): Mapping {
  const entries: Entry[] = []
  const [only] = metadata.keyGroups
  if (metadata.keyGroups.length === 1 && only !== undefined) {
    entries.push(...groupEntries(only, false))
  } else if (metadata.keyGroups.length > 1) {
    entries.push(
      entry("key_groups", {
        kind: "sequence",
        items: metadata.keyGroups.map((group) => sortedMapping(groupEntries(group, true))),
      }),
    )
  }
  if (metadata.shamirThreshold !== 0) {
    entries.push(
      entry("shamir_threshold", { kind: "int", value: BigInt(metadata.shamirThreshold) }),
    )
  }
  entries.push(entry("lastmodified", str(metadata.lastModified)))
  if (metadata.mac !== undefined) entries.push(entry("mac", str(metadata.mac)))
  if (metadata.macOnlyEncrypted)
    entries.push(entry("mac_only_encrypted", { kind: "bool", value: true }))
  if (metadata.selector !== undefined)
    entries.push(entry(metadata.selector.kind, str(metadata.selector.value)))
  entries.push(entry("version", str(metadata.version)))
  return sortedMapping(entries)
}
