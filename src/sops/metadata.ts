/**
 * The sops metadata (the `sops` section) as a value (docs/formats/sops.md "Data key and
 * master keys", "Metadata fields"). Stores map the on-disk layouts (every version's, see
 * docs/formats/sops.md "Order of metadata keys") to and from this type in
 * `stores/metadata-wire.ts`; the crypto code only ever sees this.
 */

/** An age master key: the data key (or a Shamir share) as an armored age file. */
export interface AgeMasterKey {
  readonly recipient: string
  readonly enc: string
}

/** A PGP master key: the data key as an armored OpenPGP message. */
export interface PgpMasterKey {
  readonly fp: string
  readonly createdAt: string
  readonly enc: string
}

/**
 * A master key coffer does not implement (AWS KMS, GCP KMS, Azure Key Vault, HashiCorp
 * Vault, HuaweiCloud KMS): its fields are kept exactly as read, so rewriting a file never
 * loses them. Values are plain JSON-like data (strings, numbers, booleans, nested records).
 */
export interface OpaqueMasterKey {
  readonly fields: Readonly<Record<string, unknown>>
}

/** The master-key types sops knows that coffer keeps opaque. */
export type OpaqueKeyType = "kms" | "gcp_kms" | "azure_kv" | "hc_vault" | "hckms"

/** One key group: every key in it can decrypt the group's part of the data key. */
export interface KeyGroup {
  readonly age: readonly AgeMasterKey[]
  readonly pgp: readonly PgpMasterKey[]
  readonly opaque: Readonly<Partial<Record<OpaqueKeyType, readonly OpaqueMasterKey[]>>>
}

/**
 * Which values get encrypted (at most one is set; docs/formats/sops.md "Which values are
 * encrypted").
 */
export type ValueSelector =
  | { readonly kind: "unencrypted_suffix"; readonly value: string }
  | { readonly kind: "encrypted_suffix"; readonly value: string }
  | { readonly kind: "unencrypted_regex"; readonly value: string }
  | { readonly kind: "encrypted_regex"; readonly value: string }
  | { readonly kind: "unencrypted_comment_regex"; readonly value: string }
  | { readonly kind: "encrypted_comment_regex"; readonly value: string }

/** The whole `sops` section. */
export interface Metadata {
  /** One group is written flat (top-level `age`, `pgp`...), several as `key_groups`. */
  readonly keyGroups: readonly KeyGroup[]
  /** 0 when absent. */
  readonly shamirThreshold: number
  /** RFC 3339 text exactly as stored (it is the MAC's additional data). */
  readonly lastModified: string
  /** The encrypted MAC (`ENC[...]`), or undefined for files that have none. */
  readonly mac: string | undefined
  /** undefined when the file names no selector (loading then defaults to `_unencrypted`). */
  readonly selector: ValueSelector | undefined
  readonly macOnlyEncrypted: boolean
  /** The sops version that wrote the file, as read. */
  readonly version: string
}
