/**
 * Cloud master keys as data (docs/formats/sops-cloud-keys.md "Metadata fields", "Decryption
 * order"): AWS KMS (`kms`), GCP KMS (`gcp_kms`), Azure Key Vault (`azure_kv`), HashiCorp
 * Vault transit (`hc_vault`) and HuaweiCloud KMS (`hckms`). The sops core never talks to a
 * cloud: a `CloudKeyPort` the caller injects does (src/cloud/ in the command line, a fake in
 * tests), as `PgpPort` does for gpg. This file holds what is pure: the fields sops writes
 * for each type, how a key is named in messages, and the order sops tries key types in.
 */
import type { OpaqueKeyType, OpaqueMasterKey } from "./metadata.js"
import { MasterKeyError } from "./errors.js"

/** The cloud key types, in the order sops builds a key group from a file (`stores.go`). */
export const CLOUD_KEY_TYPES: readonly OpaqueKeyType[] = [
  "kms",
  "gcp_kms",
  "hckms",
  "azure_kv",
  "hc_vault",
]

/** What talks to the clouds, for the key types it can use. */
export interface CloudKeyPort {
  /**
   * Whether this port can use keys of a type at all (an SDK is known for it).
   * @param type the key type
   */
  supports(type: OpaqueKeyType): boolean
  /**
   * Encrypts a data key (or Shamir share) with one cloud key.
   * @param type the key type
   * @param key the key's fields as a rule or a file gives them (`arn`, `role`, `context`…)
   * @param dataKey the data key or share
   * @returns the `enc` text to store, exactly as sops stores it for that type
   * @throws a MasterKeyError subclass naming the key and why (credentials, access, state)
   */
  encrypt(type: OpaqueKeyType, key: OpaqueMasterKey, dataKey: Uint8Array): Promise<string>
  /**
   * Decrypts one cloud key's `enc`.
   * @returns the data key or share
   * @throws a MasterKeyError subclass naming the key and why
   */
  decrypt(type: OpaqueKeyType, key: OpaqueMasterKey): Promise<Uint8Array>
}

/** The field that names a cloud key, per type (for messages). */
const NAME_FIELDS: Readonly<Record<OpaqueKeyType, readonly string[]>> = {
  kms: ["arn"],
  gcp_kms: ["resource_id"],
  azure_kv: ["vault_url", "name"],
  hc_vault: ["vault_address", "engine_path", "key_name"],
  hckms: ["key_id"],
}

/**
 * @returns how a cloud key is named in messages (`kms arn:aws:kms:…`, with `+ROLE` when an
 *   AWS key has a role, as sops's `ToString` shows it)
 */
export function describeCloudKey(type: OpaqueKeyType, key: OpaqueMasterKey): string {
  const parts = NAME_FIELDS[type]
    .map((field) => key.fields[field])
    .filter((v): v is string => typeof v === "string" && v !== "")
  if (parts.length === 0) return type
  const role = key.fields["role"]
  const suffix = type === "kms" && typeof role === "string" && role !== "" ? `+${role}` : ""
  return `${type} ${parts.join("/")}${suffix}`
}

/** A field's text as sops's mapstructure reads it weakly (numbers and booleans become text). */
function fieldText(value: unknown): string {
  if (value === undefined || value === null) return ""
  if (typeof value === "string") return value
  if (typeof value === "number" || typeof value === "bigint") return String(value)
  if (typeof value === "boolean") return value ? "1" : "0"
  throw new MasterKeyError(
    `a cloud key field holds ${Array.isArray(value) ? "a list" : "a mapping"}, not text`,
  )
}

/**
 * The encryption context of an AWS KMS key (its `context` field) as the pairs sent to KMS.
 * @param key the key's fields
 * @returns the context (empty when there is none)
 * @throws MasterKeyError when `context` is not a mapping of text values
 */
export function encryptionContextOf(key: OpaqueMasterKey): Readonly<Record<string, string>> {
  const context = key.fields["context"]
  if (context === undefined || context === null) return {}
  if (typeof context !== "object" || Array.isArray(context)) {
    throw new MasterKeyError(
      `${describeCloudKey("kms", key)}: context should be a mapping of names to text`,
    )
  }
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(context as Record<string, unknown>)) {
    // spec: sops keeps a nil pointer out of the context it sends
    if (value === null || value === undefined) continue
    out[name] = fieldText(value)
  }
  return out
}

/**
 * The fields of a cloud key as sops 3.13 writes them (`stores/stores.go` key structs):
 * the naming fields, `created_at` and `enc`; for `kms` also `aws_profile` (always, even
 * empty), `role` and `context` (only when set).
 * @param type the key type
 * @param key the key's naming fields (from a rule, a flag or the file)
 * @param enc the encrypted data key
 * @param createdAt RFC 3339 creation time
 * @returns the fields to store
 */
export function cloudKeyFields(
  type: OpaqueKeyType,
  key: OpaqueMasterKey,
  enc: string,
  createdAt: string,
): OpaqueMasterKey {
  const f = key.fields
  const text = (name: string): string => fieldText(f[name])
  switch (type) {
    case "kms": {
      const context = encryptionContextOf(key)
      return {
        fields: {
          arn: text("arn"),
          ...(text("role") === "" ? {} : { role: text("role") }),
          ...(Object.keys(context).length === 0 ? {} : { context: { ...context } }),
          created_at: createdAt,
          enc,
          aws_profile: text("aws_profile"),
        },
      }
    }
    case "gcp_kms":
      return { fields: { resource_id: text("resource_id"), created_at: createdAt, enc } }
    case "azure_kv":
      return {
        fields: {
          vault_url: text("vault_url"),
          name: text("name"),
          version: text("version"),
          created_at: createdAt,
          enc,
        },
      }
    case "hc_vault":
      return {
        fields: {
          vault_address: text("vault_address"),
          engine_path: text("engine_path"),
          key_name: text("key_name"),
          created_at: createdAt,
          enc,
        },
      }
    case "hckms":
      return { fields: { key_id: text("key_id"), created_at: createdAt, enc } }
    default: {
      const never: never = type
      return never
    }
  }
}

/**
 * The `enc` of a cloud key as text.
 * @throws MasterKeyError when there is none
 */
export function encOf(type: OpaqueKeyType, key: OpaqueMasterKey): string {
  const enc = key.fields["enc"]
  if (typeof enc !== "string" || enc === "") {
    throw new MasterKeyError(`${describeCloudKey(type, key)} has no encrypted data key (enc)`)
  }
  return enc
}

/**
 * Orders master key types as sops does within a key group (`sops.go`
 * `sortKeyGroupIndices`): a stable sort of the group's keys, built in the order kms,
 * gcp_kms, hckms, azure_kv, hc_vault, pgp, age, by their place in the decryption order;
 * types the order does not name come last, in that building order.
 * @param order the decryption order (`SOPS_DECRYPTION_ORDER`, default age,pgp)
 * @returns every key type once, in the order to try them
 */
export function keyTypeOrder(order: readonly string[]): readonly (OpaqueKeyType | "age" | "pgp")[] {
  const building: readonly (OpaqueKeyType | "age" | "pgp")[] = [...CLOUD_KEY_TYPES, "pgp", "age"]
  const rank = (type: string): number => {
    const i = order.indexOf(type)
    return i === -1 ? order.length : i
  }
  return [...building].sort((a, b) => rank(a) - rank(b))
}
