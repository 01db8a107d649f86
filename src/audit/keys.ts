/**
 * Master keys as the audit compares them (docs/audit.md "Keys and identities"): one
 * canonical string per key, whatever file or rule it was read from, so a recipient in
 * `.sops.yaml`, in a file's metadata and in `secrets.nix` compare equal.
 *
 * - age X25519 recipients (`age1…`), post-quantum (`age1pq1…`) and plugin recipients
 *   (`age1NAME1…`): the trimmed string;
 * - SSH public keys: `TYPE BASE64` without the comment, with the stanza tag age writes for
 *   them (the first 4 bytes of SHA-256 of the key, base64) and, for ssh-ed25519, the
 *   X25519 recipient ssh-to-age makes of it (the same host decrypts both);
 * - PGP: the fingerprint without spaces, upper case;
 * - cloud keys (KMS, GCP KMS, Azure Key Vault, Vault, HuaweiCloud): the fields that name
 *   them, as `updatekeys` compares them.
 * Pure: parsing only, nothing is read.
 */
import { parseSshPublicKey } from "../age/ssh-public-key.js"
import { sshKeyTag } from "../age/ssh-ed25519.js"
import { sshPublicKeyToAge } from "../keys/ssh-to-age.js"
import { normalizeFingerprint } from "../policy/config.js"
import { opaqueKeyId } from "../policy/plan.js"
import type { OpaqueKeyType, OpaqueMasterKey } from "../sops/metadata.js"

/** What kind of master key a `KeyRef` is. */
export type KeyKind =
  "age" | "age-pq" | "age-plugin" | "ssh-ed25519" | "ssh-rsa" | "pgp" | OpaqueKeyType | "unknown"

/** One master key, canonical. */
export interface KeyRef {
  readonly kind: KeyKind
  /** The canonical text (see the file comment); equal keys have equal `key`s. */
  readonly key: string
  /** For SSH keys: the stanza tag age files carry (`-> ssh-ed25519 TAG …`). */
  readonly tag?: string
  /** For ssh-ed25519 keys: the `age1…` recipient ssh-to-age makes of it. */
  readonly ageEquivalent?: string
}

/**
 * Reads an age recipient as it appears in `.sops.yaml`, a sops file or `secrets.nix`.
 * @param text `age1…`, `age1pq1…`, `age1NAME1…` or an SSH public key line
 * @returns the key; kind `unknown` for text that is none of these
 */
export function keyRefOfRecipient(text: string): KeyRef {
  const trimmed = text.trim()
  if (trimmed.startsWith("ssh-")) {
    try {
      const parsed = parseSshPublicKey(trimmed)
      const key = `${parsed.type} ${encodeBase64Std(parsed.wirePublicKey)}`
      const tag = sshKeyTag(parsed.wirePublicKey)
      if (parsed.type === "ssh-ed25519") {
        return { kind: "ssh-ed25519", key, tag, ageEquivalent: sshPublicKeyToAge(trimmed) }
      }
      return { kind: "ssh-rsa", key, tag }
    } catch {
      return { kind: "unknown", key: trimmed }
    }
  }
  const lower = trimmed.toLowerCase()
  if (lower.startsWith("age1pq1")) return { kind: "age-pq", key: lower }
  if (lower.startsWith("age1")) {
    // bech32 data never contains "1": a second "1" ends a longer prefix (a plugin's)
    return { kind: lower.lastIndexOf("1") === 3 ? "age" : "age-plugin", key: lower }
  }
  return { kind: "unknown", key: trimmed }
}

/**
 * @param fingerprint a PGP fingerprint (spaces allowed)
 * @returns the key
 */
export function keyRefOfPgp(fingerprint: string): KeyRef {
  return { kind: "pgp", key: normalizeFingerprint(fingerprint) }
}

/**
 * @param type the cloud key type
 * @param key its fields as in a rule or in a file's metadata
 * @returns the key, named by the fields that identify it
 */
export function keyRefOfOpaque(type: OpaqueKeyType, key: OpaqueMasterKey): KeyRef {
  return { kind: type, key: `${type} ${opaqueKeyId(type, key)}` }
}

/**
 * A key shortened for people: `age1ql3z7hjy…cac8p`, `ssh-ed25519 …Lq8aB2c`, `pgp 85D7…0C7F`.
 * @param ref the key
 * @returns a short label (not unique: identities carry the full key)
 */
export function shortKey(ref: KeyRef): string {
  switch (ref.kind) {
    case "ssh-ed25519":
    case "ssh-rsa": {
      const body = ref.key.split(" ")[1] ?? ""
      return `${ref.kind} …${body.slice(-8)}`
    }
    case "pgp":
      return ref.key.length > 16 ? `pgp ${ref.key.slice(0, 8)}…${ref.key.slice(-4)}` : ref.key
    case "age":
    case "age-pq":
    case "age-plugin":
    case "unknown":
      return ref.key.length > 20 ? `${ref.key.slice(0, 12)}…${ref.key.slice(-5)}` : ref.key
    default:
      return ref.key.length > 40 ? `${ref.key.slice(0, 36)}…` : ref.key
  }
}

/** Standard padded base64 (the SSH key line's encoding). */
function encodeBase64Std(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64")
}
