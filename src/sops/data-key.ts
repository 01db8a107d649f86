/**
 * The data key (docs/formats/sops.md "The data key", "Key groups and Shamir"): generated
 * once per file (32 random bytes), wrapped for every master key of every key group, and
 * unwrapped once per file.
 *
 * One key group: every master key wraps the whole data key. Several groups: the data key
 * is split with Shamir (`shamir.ts`), group i's keys wrap share i, and any
 * `shamir_threshold` groups recover it. Unwrapping tries each group's keys in decryption
 * order (sops's: age, then pgp, then the cloud keys through a `CloudKeyPort`, see
 * docs/formats/sops-cloud-keys.md "Decryption order") and stops at the first that works;
 * with Shamir it stops as soon as enough groups are open.
 */
import type { Clock, Entropy } from "../internal/entropy.js"
import { systemClock, systemEntropy } from "../internal/entropy.js"
import { wipeBytes } from "../internal/bytes.js"
import type { Identity } from "../age/recipient.js"
import type { KeyGroup, Metadata, OpaqueKeyType, OpaqueMasterKey } from "./metadata.js"
import type { PgpPort } from "./master-keys.js"
import {
  decryptAgeMasterKey,
  decryptPgpMasterKey,
  encryptAgeMasterKey,
  encryptPgpMasterKey,
  unsupportedKeyError,
} from "./master-keys.js"
import type { CloudKeyPort } from "./cloud-keys.js"
import { CLOUD_KEY_TYPES, cloudKeyFields, describeCloudKey, keyTypeOrder } from "./cloud-keys.js"
import { formatLastModified } from "./mac.js"
import { combineShares, splitSecret } from "./shamir.js"
import { DataKeyError, MasterKeyError } from "./errors.js"

/** The length of a sops data key. */
export const DATA_KEY_LENGTH = 32

/**
 * @param entropy the randomness source (default: the system CSPRNG)
 * @returns a fresh 32-byte data key
 */
export function generateDataKey(entropy: Entropy = systemEntropy): Uint8Array {
  const key = entropy(DATA_KEY_LENGTH)
  if (key.length !== DATA_KEY_LENGTH)
    throw new DataKeyError("entropy source returned too few bytes")
  return key
}

/** The master keys of one key group to wrap a data key for. */
export interface KeyGroupRecipients {
  /** age recipients (`age1…`, `age1pq1…`, plugin, `ssh-ed25519 …`, `ssh-rsa …`). */
  readonly age: readonly string[]
  /** PGP fingerprints. */
  readonly pgp: readonly string[]
  /** Cloud keys (their naming fields), wrapped through `WrapOptions.cloud`. */
  readonly opaque?: KeyGroup["opaque"]
}

/** Options for `wrapDataKey`. */
export interface WrapOptions {
  /** `shamir_threshold` for several groups; 0 means "all groups" (sops's default). */
  readonly threshold?: number
  /** Needed when a group has PGP keys. */
  readonly pgp?: PgpPort
  /** Needed when a group has cloud keys (KMS, Vault…). */
  readonly cloud?: CloudKeyPort
  readonly entropy?: Entropy
  readonly clock?: Clock
}

/** Wrapped key groups and the threshold to write. */
export interface WrappedDataKey {
  readonly keyGroups: readonly KeyGroup[]
  /** The threshold to store (0 for one group unless one was given). */
  readonly shamirThreshold: number
}

/**
 * Wraps a data key for key groups: the whole key for one group, Shamir shares for several.
 * @param dataKey the 32-byte data key
 * @param groups the master keys of each group, in order
 * @param options threshold, PGP port, entropy and clock
 * @returns the key groups with every `enc` filled in, and the threshold
 * @throws MasterKeyError when there are no keys, a group is empty, a PGP key has no port,
 *   or a cloud key has no port (or its port's subclass of MasterKeyError when it fails)
 * @throws ShamirError when the threshold does not fit the number of groups
 * @throws RecipientParseError when an age recipient is invalid
 */
export async function wrapDataKey(
  dataKey: Uint8Array,
  groups: readonly KeyGroupRecipients[],
  options: WrapOptions = {},
): Promise<WrappedDataKey> {
  if (dataKey.length !== DATA_KEY_LENGTH) {
    throw new DataKeyError(`the data key must be 32 bytes, not ${String(dataKey.length)}`)
  }
  if (groups.length === 0) {
    throw new MasterKeyError("no master keys to encrypt the data key with", {
      hints: ["add age or pgp keys to the creation rule in .sops.yaml, or pass --age/--pgp"],
    })
  }
  const requested = options.threshold ?? 0
  let parts: Uint8Array[]
  let shamirThreshold = requested
  if (groups.length === 1) {
    parts = [dataKey]
  } else {
    shamirThreshold = requested === 0 ? groups.length : requested
    parts = splitSecret(dataKey, groups.length, shamirThreshold, options.entropy ?? systemEntropy)
  }
  const keyGroups: KeyGroup[] = []
  try {
    for (const [index, group] of groups.entries()) {
      const part = parts[index]
      if (part === undefined) throw new DataKeyError("shamir returned too few shares")
      keyGroups.push(await wrapGroup(part, group, index, groups.length, options))
    }
  } finally {
    if (groups.length > 1) for (const part of parts) wipeBytes(part)
  }
  return { keyGroups, shamirThreshold }
}

async function wrapGroup(
  part: Uint8Array,
  group: KeyGroupRecipients,
  index: number,
  groupCount: number,
  options: WrapOptions,
): Promise<KeyGroup> {
  const label = groupCount === 1 ? "the key group" : `key group ${String(index + 1)}`
  const cloudCount = CLOUD_KEY_TYPES.reduce((n, t) => n + (group.opaque?.[t]?.length ?? 0), 0)
  if (group.age.length === 0 && group.pgp.length === 0 && cloudCount === 0) {
    throw new MasterKeyError(`${label} has no master keys`, {
      hints: ["every key group needs at least one age, pgp or cloud (kms, vault…) key"],
    })
  }
  const age = []
  for (const recipient of group.age) {
    age.push(await encryptAgeMasterKey(part, recipient, options.entropy))
  }
  const pgp = []
  for (const fingerprint of group.pgp) {
    if (options.pgp === undefined) {
      throw new MasterKeyError(`cannot encrypt to pgp key ${fingerprint}: no gpg available`)
    }
    pgp.push(
      await encryptPgpMasterKey(part, fingerprint, options.pgp, options.clock ?? systemClock),
    )
  }
  const opaque: Partial<Record<OpaqueKeyType, OpaqueMasterKey[]>> = {}
  for (const type of CLOUD_KEY_TYPES) {
    for (const key of group.opaque?.[type] ?? []) {
      const cloud = options.cloud
      if (cloud === undefined || !cloud.supports(type)) {
        throw unsupportedKeyError(type, "encrypting")
      }
      const enc = await cloud.encrypt(type, key, part)
      const createdAt = formatLastModified((options.clock ?? systemClock)())
      ;(opaque[type] ??= []).push(cloudKeyFields(type, key, enc, createdAt))
    }
  }
  return { age, pgp, opaque }
}

/** The keys available to unwrap a data key. */
export interface UnwrapKeys {
  /** age identities (from key files, SOPS_AGE_KEY, SSH keys…), all tried on every age key. */
  readonly identities: readonly Identity[]
  /** PGP, when gpg is available. */
  readonly pgp?: PgpPort
  /** The clouds (KMS, Vault…), when the file has such keys. */
  readonly cloud?: CloudKeyPort | undefined
}

/** Options for `unwrapDataKey`. */
export interface UnwrapOptions {
  /**
   * The master key types to try first, in order (`SOPS_DECRYPTION_ORDER`: `age`, `pgp`,
   * `kms`, `gcp_kms`, `azure_kv`, `hc_vault`, `hckms`); default age, pgp.
   */
  readonly decryptionOrder?: readonly string[]
}

interface Attempt {
  readonly key: string
  readonly reason: string
  readonly error?: unknown
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

type Candidate =
  | { readonly kind: "age"; readonly name: string; readonly run: () => Promise<Uint8Array | null> }
  | { readonly kind: "pgp"; readonly name: string; readonly run: () => Promise<Uint8Array | null> }
  | {
      readonly kind: "cloud"
      readonly name: string
      readonly type: OpaqueKeyType
      readonly run: (() => Promise<Uint8Array>) | undefined
    }

/**
 * Recovers the data key from the metadata's key groups. Call it once per file.
 * @param metadata the file's metadata
 * @param keys the age identities, the PGP port and the cloud port
 * @param options decryption order
 * @returns the 32-byte data key
 * @throws DataKeyError listing every group, every key tried and why it failed (its `cause`
 *   is the first cloud key's error, whose class says why: credentials, access, key state)
 */
export async function unwrapDataKey(
  metadata: Pick<Metadata, "keyGroups" | "shamirThreshold">,
  keys: UnwrapKeys,
  options: UnwrapOptions = {},
): Promise<Uint8Array> {
  const groups = metadata.keyGroups
  if (groups.length === 0) {
    throw new DataKeyError("the file has no key groups, so its data key cannot be recovered")
  }
  const shamir = groups.length > 1
  const needed = shamir
    ? metadata.shamirThreshold > 0
      ? metadata.shamirThreshold
      : groups.length
    : 1
  const partLength = shamir ? DATA_KEY_LENGTH + 1 : DATA_KEY_LENGTH
  const order = options.decryptionOrder ?? ["age", "pgp"]

  // identities that opened one group are tried first on the next
  let identities = [...keys.identities]
  const parts: Uint8Array[] = []
  const report: string[] = []
  const failures: Attempt[] = []
  for (const [index, group] of groups.entries()) {
    if (parts.length >= needed) break
    const attempts: Attempt[] = []
    const candidates = candidatesOf(
      group,
      keys,
      order,
      () => identities,
      (winner) => {
        identities = [winner, ...identities.filter((i) => i !== winner)]
      },
    )
    let part: Uint8Array | null = null
    for (const candidate of candidates) {
      if (candidate.kind === "cloud" && candidate.run === undefined) {
        attempts.push({
          key: candidate.name,
          reason: unsupportedKeyError(candidate.type, "decrypting").message,
        })
        continue
      }
      const run = candidate.run
      if (run === undefined) continue
      let out: Uint8Array | null
      try {
        out = await run()
      } catch (error) {
        // a cloud error names its key first; the report names it already
        const reason = reasonOf(error)
        const own = `${candidate.name}: `
        attempts.push({
          key: candidate.name,
          reason: reason.startsWith(own) ? reason.slice(own.length) : reason,
          error,
        })
        continue
      }
      if (out === null) {
        if (candidate.kind !== "cloud")
          attempts.push({ key: candidate.name, reason: noKeyReason(candidate.kind, keys) })
        continue
      }
      if (out.length !== partLength) {
        attempts.push({
          key: candidate.name,
          reason: `decrypted to ${String(out.length)} bytes, not a ${String(partLength)}-byte ${shamir ? "shamir share" : "data key"}`,
        })
        wipeBytes(out)
        continue
      }
      part = out
      break
    }
    if (part !== null) parts.push(part)
    else {
      report.push(describeGroup(index, groups.length, group, attempts))
      for (const attempt of attempts) if (attempt.error !== undefined) failures.push(attempt)
    }
  }

  if (parts.length < needed) {
    for (const part of parts) wipeBytes(part)
    const summary = shamir
      ? `could not recover the data key: ${String(parts.length)} of the ${String(needed)} key groups needed could be decrypted`
      : "could not decrypt the data key with any master key"
    // the cloud errors' own hints (where credentials were looked for…), once each
    const cloudHints = new Set<string>()
    for (const failure of failures) {
      const hints = (failure.error as { hints?: unknown }).hints
      if (Array.isArray(hints)) for (const h of hints) if (typeof h === "string") cloudHints.add(h)
    }
    const hasLocalKeys = groups.some((g) => g.age.length + g.pgp.length > 0)
    throw new DataKeyError(summary, {
      cause: failures[0]?.error,
      hints: [
        ...report,
        ...cloudHints,
        ...(hasLocalKeys
          ? [
              "provide an age identity for one of these recipients (SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, ~/.config/sops/age/keys.txt) or import a listed pgp secret key into gpg",
            ]
          : []),
      ],
    })
  }
  if (!shamir) {
    const [dataKey] = parts
    if (dataKey === undefined) throw new DataKeyError("no data key part was recovered")
    return dataKey
  }
  try {
    return combineShares(parts)
  } finally {
    for (const part of parts) wipeBytes(part)
  }
}

function noKeyReason(kind: "age" | "pgp", keys: UnwrapKeys): string {
  if (kind === "age") {
    return keys.identities.length === 0
      ? "no age identities were given"
      : `none of the ${String(keys.identities.length)} age identities matched`
  }
  if (keys.pgp === undefined) return "gpg is not available"
  const last = keys.pgp.failures?.at(-1)
  return last === undefined ? "gpg could not decrypt it" : `gpg could not decrypt it: ${last}`
}

function candidatesOf(
  group: KeyGroup,
  keys: UnwrapKeys,
  order: readonly string[],
  identities: () => readonly Identity[],
  succeeded: (identity: Identity) => void,
): Candidate[] {
  const age: Candidate[] = group.age.map((key) => ({
    kind: "age",
    name: `age ${key.recipient}`,
    run: async () => {
      // one pass over the header with every identity; the wrapper notes which one matched,
      // so the next group tries it first
      let winner: Identity | undefined
      const recording = identities().map((identity): Identity => ({
        unwrapFileKey: async (stanzas) => {
          const fileKey = await identity.unwrapFileKey(stanzas)
          if (fileKey !== null) winner = identity
          return fileKey
        },
      }))
      const out = await decryptAgeMasterKey(key, recording)
      if (out !== null && winner !== undefined) succeeded(winner)
      return out
    },
  }))
  const pgp: Candidate[] = group.pgp.map((key) => ({
    kind: "pgp",
    name: `pgp ${key.fp}`,
    run: async () => (keys.pgp === undefined ? null : decryptPgpMasterKey(key, keys.pgp)),
  }))
  const cloud = keys.cloud
  const ordered: Candidate[] = []
  for (const type of keyTypeOrder(order)) {
    if (type === "age") ordered.push(...age)
    else if (type === "pgp") ordered.push(...pgp)
    else {
      for (const key of group.opaque[type] ?? []) {
        ordered.push({
          kind: "cloud",
          name: describeCloudKey(type, key),
          type,
          run:
            cloud === undefined || !cloud.supports(type)
              ? undefined
              : () => cloud.decrypt(type, key),
        })
      }
    }
  }
  return ordered
}

function describeGroup(
  index: number,
  count: number,
  group: KeyGroup,
  attempts: readonly Attempt[],
): string {
  const label = count === 1 ? "master keys" : `key group ${String(index + 1)}`
  if (attempts.length === 0) {
    const cloudCount = CLOUD_KEY_TYPES.reduce((n, t) => n + (group.opaque[t]?.length ?? 0), 0)
    const empty = group.age.length + group.pgp.length + cloudCount === 0
    return `${label}: ${empty ? "no keys" : "not tried"}`
  }
  return `${label}: ${attempts.map((a) => `${a.key} (${a.reason})`).join("; ")}`
}
