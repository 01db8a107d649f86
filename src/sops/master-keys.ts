/**
 * Master keys: how one key wraps the data key (or a key group's Shamir share) for the
 * `enc` field (docs/formats/sops.md "What master keys store",
 * "age keys and where they are found", "PGP keys").
 *
 * - age (`age1…` X25519, `age1pq1…` hybrid, plugin and `ssh-…` recipients): `enc` is an
 *   ASCII-armored age file with that single recipient, 64-column base64 lines, ending with
 *   a newline.
 * - PGP: through a `PgpPort` the caller injects (the `gpg` binary in the CLI, a fake in
 *   tests), so this module stays pure.
 * - AWS KMS, GCP KMS, Azure Key Vault, Vault transit: through a `CloudKeyPort`
 *   (`cloud-keys.ts`); HuaweiCloud KMS is kept as read, and using it says so clearly.
 */
import { decodeUtf8, encodeUtf8 } from "../internal/bytes.js"
import type { Clock, Entropy } from "../internal/entropy.js"
import { systemClock } from "../internal/entropy.js"
import { encrypt as ageEncrypt } from "../age/encrypt.js"
import { decrypt as ageDecrypt } from "../age/decrypt.js"
import { NoIdentityMatchError } from "../age/errors.js"
import { parseRecipient } from "../age/keyfile.js"
import type { Identity } from "../age/recipient.js"
import type { AgeMasterKey, OpaqueKeyType, OpaqueMasterKey, PgpMasterKey } from "./metadata.js"
import { formatLastModified } from "./mac.js"
import { MasterKeyError } from "./errors.js"
import { describeCloudKey } from "./cloud-keys.js"

/** PGP as the sops core needs it; the CLI implements it with `gpg` (src/keys/pgp.ts). */
export interface PgpPort {
  /**
   * @param dataKey the data key or Shamir share
   * @param fingerprint the key's fingerprint (hex, no spaces)
   * @returns the ASCII-armored OpenPGP message
   */
  encrypt(dataKey: Uint8Array, fingerprint: string): Promise<string>
  /**
   * @param armored a PGP master key's `enc`
   * @returns the plaintext, or null when no secret key can decrypt it
   */
  decrypt(armored: string): Promise<Uint8Array | null>
  /** Why failed decrypts failed (one line each, no secrets), for error messages. */
  readonly failures?: readonly string[]
}

/** The `age` armor sops writes and reads ("What master keys store"). */
const AGE_ARMOR_END = "-----END AGE ENCRYPTED FILE-----\n"

/**
 * Wraps a data key for one age recipient.
 * @param dataKey the data key or Shamir share
 * @param recipient the recipient as written in `.sops.yaml` (`age1…`, `ssh-ed25519 AAAA…`)
 * @param entropy randomness for the age file key (default: the system CSPRNG)
 * @returns the master key: the trimmed recipient and the armored age file
 * @throws RecipientParseError when the recipient is invalid
 */
export async function encryptAgeMasterKey(
  dataKey: Uint8Array,
  recipient: string,
  entropy?: Entropy,
): Promise<AgeMasterKey> {
  const text = recipient.trim()
  const parsed = await parseRecipient(text)
  const file = await ageEncrypt(
    dataKey,
    [parsed],
    entropy === undefined ? { armor: true } : { armor: true, entropy },
  )
  const enc = decodeUtf8(file)
  // spec: the armored file ends with a newline (YAML writes it with `|`)
  if (!enc.endsWith(AGE_ARMOR_END)) {
    throw new MasterKeyError(`age armor for recipient ${text} does not end as sops expects`)
  }
  return { recipient: text, enc }
}

/**
 * Tries to unwrap an age master key with some identities.
 * @param key the master key
 * @param identities the age identities to try, in order
 * @returns the data key (or share), or null when no identity matches any stanza
 * @throws the age error classes when the file is damaged or a matching stanza is invalid
 */
export async function decryptAgeMasterKey(
  key: AgeMasterKey,
  identities: readonly Identity[],
): Promise<Uint8Array | null> {
  if (identities.length === 0) return null
  try {
    return await ageDecrypt(encodeUtf8(key.enc), identities)
  } catch (error) {
    if (error instanceof NoIdentityMatchError) return null
    throw error
  }
}

/**
 * Wraps a data key for one PGP fingerprint.
 * @param dataKey the data key or Shamir share
 * @param fingerprint hex fingerprint; spaces are removed as sops does
 * @param pgp the PGP implementation
 * @param clock the time written as `created_at`
 * @returns the master key
 */
export async function encryptPgpMasterKey(
  dataKey: Uint8Array,
  fingerprint: string,
  pgp: PgpPort,
  clock: Clock = systemClock,
): Promise<PgpMasterKey> {
  const fp = fingerprint.replace(/\s+/g, "")
  const enc = await pgp.encrypt(dataKey, fp)
  return { fp, createdAt: formatLastModified(clock()), enc }
}

/**
 * Tries to unwrap a PGP master key.
 * @returns the data key (or share), or null when no secret key decrypts it
 */
export async function decryptPgpMasterKey(
  key: PgpMasterKey,
  pgp: PgpPort,
): Promise<Uint8Array | null> {
  const out = await pgp.decrypt(key.enc)
  // spec: an empty gpg output is a failure
  return out === null || out.length === 0 ? null : out
}

/** @returns how a cloud master key is named in messages (`kms arn:aws:kms:…`) */
export function describeOpaqueKey(type: OpaqueKeyType, key: OpaqueMasterKey): string {
  return describeCloudKey(type, key)
}

/**
 * @param type the cloud key type
 * @param action what was attempted
 * @returns the error for a key type coffer has no client for (HuaweiCloud KMS), or for
 *   cloud keys where the caller gave no `CloudKeyPort`
 */
export function unsupportedKeyError(
  type: OpaqueKeyType,
  action: "decrypting" | "encrypting",
): MasterKeyError {
  const known = type !== "hckms"
  return new MasterKeyError(
    known
      ? `${action} with ${type} keys needs the cloud key service, which was not given here`
      : `${action} with ${type} keys is not supported yet`,
    {
      hints: [
        "use an age or pgp key in the same key group, or the sops binary for this file",
        "cloud keys are kept unchanged when coffer rewrites a file with its existing data key",
      ],
    },
  )
}
