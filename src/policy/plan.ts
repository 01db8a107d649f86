/**
 * What a file's keys should become under its creation rule (docs/formats/sops.md "Commands"
 * `updatekeys`; sops's `cmd/sops/common` `DiffKeyGroups`): groups are compared by position,
 * keys by identity (age recipient, PGP fingerprint, cloud key fields), and the plan lists
 * per group the keys added, removed and kept, plus a threshold change. Pure: the caller
 * shows the plan, asks, then re-wraps the existing data key for `wanted`.
 */
import type { KeyGroupRecipients } from "../sops/data-key.js"
import type { KeyGroup, OpaqueKeyType, OpaqueMasterKey } from "../sops/metadata.js"
import { normalizeFingerprint } from "./config.js"

/** One master key, named for people and compared by `id`. */
export interface MasterKeyRef {
  readonly type: "age" | "pgp" | OpaqueKeyType
  /** What identifies the key: the recipient, the fingerprint, or the cloud key's fields. */
  readonly id: string
  /** How to show it: `age age1…`, `pgp 85D7…`, `kms arn:aws:…`. */
  readonly label: string
}

/** The change to one key group (by position). */
export interface GroupChange {
  /** 0-based position of the group. */
  readonly index: number
  readonly added: readonly MasterKeyRef[]
  readonly removed: readonly MasterKeyRef[]
  readonly kept: readonly MasterKeyRef[]
}

/** The whole change from a file's key groups to its rule's. */
export interface KeyUpdatePlan {
  /** One entry per position present in either side. */
  readonly groups: readonly GroupChange[]
  readonly thresholdBefore: number
  readonly thresholdAfter: number
  /** True when no key is added or removed and the threshold stays. */
  readonly unchanged: boolean
}

const OPAQUE_ID_FIELDS: Readonly<Record<OpaqueKeyType, readonly string[]>> = {
  kms: ["arn", "role", "context", "aws_profile"],
  gcp_kms: ["resource_id"],
  azure_kv: ["vault_url", "name", "version"],
  hc_vault: ["vault_address", "engine_path", "key_name"],
  hckms: ["key_id"],
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined && v !== null && v !== "")
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(",")}}`
  }
  return JSON.stringify(value)
}

/**
 * The identity of a cloud key: the fields that name it (not `enc` or `created_at`).
 * @returns a stable string; equal for the same key in a rule and in a file
 */
export function opaqueKeyId(type: OpaqueKeyType, key: OpaqueMasterKey): string {
  const picked: Record<string, unknown> = {}
  for (const name of OPAQUE_ID_FIELDS[type]) picked[name] = key.fields[name]
  return stableJson(picked)
}

function opaqueLabel(type: OpaqueKeyType, key: OpaqueMasterKey): string {
  const first = OPAQUE_ID_FIELDS[type][0] ?? ""
  const main = key.fields[first]
  return `${type} ${typeof main === "string" ? main : opaqueKeyId(type, key)}`
}

/** Normalizes an age recipient for comparison (surrounding whitespace is not part of it). */
function ageId(recipient: string): string {
  return recipient.trim()
}

/**
 * The master keys of a key group as references.
 * @param group a file's key group (metadata) or a rule's (recipients)
 * @returns every key, age first, then PGP, then cloud keys
 */
export function keysOfGroup(group: KeyGroup | KeyGroupRecipients): MasterKeyRef[] {
  const refs: MasterKeyRef[] = []
  for (const a of group.age) {
    const recipient = typeof a === "string" ? a : a.recipient
    refs.push({ type: "age", id: ageId(recipient), label: `age ${ageId(recipient)}` })
  }
  for (const p of group.pgp) {
    const fp = normalizeFingerprint(typeof p === "string" ? p : p.fp)
    refs.push({ type: "pgp", id: fp, label: `pgp ${fp}` })
  }
  for (const [type, keys] of Object.entries(group.opaque ?? {}) as [
    OpaqueKeyType,
    readonly OpaqueMasterKey[],
  ][]) {
    for (const key of keys) {
      refs.push({ type, id: opaqueKeyId(type, key), label: opaqueLabel(type, key) })
    }
  }
  return refs
}

const refKey = (r: MasterKeyRef): string => `${r.type}\u0000${r.id}`

/**
 * Plans the key update of one file.
 * @param current the file's key groups (its metadata)
 * @param currentThreshold the file's `shamir_threshold` (0 when absent)
 * @param wanted the rule's key groups
 * @param wantedThreshold the threshold to apply; undefined keeps the file's (sops's
 *   `updatekeys` default). Either way it is capped at the number of wanted groups
 * @returns the per-group changes and whether anything changes
 */
export function planKeyUpdate(
  current: readonly KeyGroup[],
  currentThreshold: number,
  wanted: readonly KeyGroupRecipients[],
  wantedThreshold?: number,
): KeyUpdatePlan {
  const groups: GroupChange[] = []
  for (let index = 0; index < Math.max(current.length, wanted.length); index++) {
    const before = current[index]
    const after = wanted[index]
    const beforeKeys = before === undefined ? [] : keysOfGroup(before)
    const afterKeys = after === undefined ? [] : keysOfGroup(after)
    const beforeIds = new Set(beforeKeys.map(refKey))
    const afterIds = new Set(afterKeys.map(refKey))
    groups.push({
      index,
      added: afterKeys.filter((k) => !beforeIds.has(refKey(k))),
      removed: beforeKeys.filter((k) => !afterIds.has(refKey(k))),
      kept: afterKeys.filter((k) => beforeIds.has(refKey(k))),
    })
  }
  let thresholdAfter = wantedThreshold ?? currentThreshold
  if (wanted.length > 0 && thresholdAfter > wanted.length) thresholdAfter = wanted.length
  const keysChange = groups.some((g) => g.added.length > 0 || g.removed.length > 0)
  // With several groups a threshold of 0 means "all groups": compare the effective values.
  const effective = (t: number, n: number): number => (n > 1 && t === 0 ? n : t)
  const thresholdChanges =
    effective(thresholdAfter, wanted.length) !== effective(currentThreshold, current.length)
  return {
    groups,
    thresholdBefore: currentThreshold,
    thresholdAfter,
    unchanged: !keysChange && !thresholdChanges,
  }
}

/**
 * The plan as lines for people (`+ age age1…` / `- pgp 85D7…` per group).
 * @param plan the plan from `planKeyUpdate`
 * @returns lines without newlines; empty when nothing changes
 */
export function describeKeyUpdate(plan: KeyUpdatePlan): string[] {
  if (plan.unchanged) return []
  const lines: string[] = []
  const many = plan.groups.length > 1
  for (const group of plan.groups) {
    if (group.added.length === 0 && group.removed.length === 0) continue
    if (many) lines.push(`key group ${String(group.index + 1)}:`)
    const indent = many ? "  " : ""
    for (const k of group.added) lines.push(`${indent}+ ${k.label}`)
    for (const k of group.removed) lines.push(`${indent}- ${k.label}`)
  }
  if (plan.thresholdAfter !== plan.thresholdBefore) {
    lines.push(
      `shamir threshold: ${String(plan.thresholdBefore)} -> ${String(plan.thresholdAfter)}`,
    )
  }
  return lines
}
