/**
 * Changing a sops file's master keys (docs/formats/sops.md "Key groups and Shamir",
 * "Commands" `updatekeys`, `rotate`, `groups add|delete`): the data key is recovered once,
 * then wrapped for the new key groups and written into the metadata. Without rotation the
 * values, `lastmodified`, the MAC and `version` are untouched (byte for byte), as sops
 * does; with rotation a new data key is made and every value is re-encrypted (new
 * ciphertext everywhere, new MAC).
 *
 * To keep git diffs small, a file with one key group that keeps one group keeps the `enc`
 * of every key that stays: only added keys are wrapped. With Shamir (several groups) every
 * share is new, so every key is wrapped again.
 */
import type { Clock } from "../internal/entropy.js"
import { systemClock, systemEntropy } from "../internal/entropy.js"
import { wipeBytes } from "../internal/bytes.js"
import { InternalError } from "../internal/errors.js"
import type { KeyGroupRecipients, WrappedDataKey } from "../sops/data-key.js"
import { generateDataKey, wrapDataKey } from "../sops/data-key.js"
import { decryptDocument, encryptDocument } from "../sops/encrypt.js"
import { isBytesStore } from "../sops/stores/store.js"
import { SOPS_VERSION } from "../sops/index.js"
import { encryptAgeMasterKey, encryptPgpMasterKey, type PgpPort } from "../sops/master-keys.js"
import type {
  AgeMasterKey,
  KeyGroup,
  Metadata,
  OpaqueKeyType,
  OpaqueMasterKey,
  PgpMasterKey,
} from "../sops/metadata.js"
import type { CloudKeyPort } from "../sops/cloud-keys.js"
import { CLOUD_KEY_TYPES, cloudKeyFields } from "../sops/cloud-keys.js"
import { formatLastModified } from "../sops/mac.js"
import { opaqueKeyId } from "../policy/plan.js"
import type { Store } from "../sops/stores/index.js"
import { createIvStash } from "../sops/value-cipher.js"

/** The recipients of a file's key group (what `wrapDataKey` takes). */
export function recipientsOf(group: KeyGroup): KeyGroupRecipients {
  return {
    age: group.age.map((k) => k.recipient.trim()),
    pgp: group.pgp.map((k) => k.fp),
    ...(Object.values(group.opaque).some((list) => list.length > 0)
      ? { opaque: group.opaque }
      : {}),
  }
}

/** How a file's keys change. */
export interface KeyChange {
  /** The key groups the file should have. */
  readonly groups: readonly KeyGroupRecipients[]
  /** `shamir_threshold` to write (0: all groups). */
  readonly threshold: number
  /** Make a new data key and re-encrypt every value. */
  readonly rotate: boolean
}

/** What rewriting needs besides the file. */
export interface KeyChangeEnv {
  /** Recovers the file's data key (once). */
  readonly recoverDataKey: (metadata: Metadata) => Promise<Uint8Array>
  /** gpg, for PGP keys. */
  readonly pgp: PgpPort
  /** The clouds, for KMS and Vault keys (asked for only when a group has such keys). */
  readonly cloud?: () => CloudKeyPort | undefined
  readonly clock?: Clock
}

/**
 * Rewrites a sops file for new key groups.
 * @param text the encrypted file
 * @param store its store
 * @param change the new groups, threshold and whether to rotate the data key
 * @param env the data key, gpg and the clock
 * @returns the new file text
 * @throws DataKeyError, MasterKeyError, ShamirError, RecipientParseError, the store's and
 *   (with rotation) the value and MAC errors
 */
export async function rewriteKeys(
  text: string,
  store: Store,
  change: KeyChange,
  env: KeyChangeEnv,
): Promise<string> {
  const { doc, metadata } = store.parseEncrypted(text)
  const dataKey = await env.recoverDataKey(metadata)
  try {
    if (!change.rotate) {
      const wrapped = await rewrapDataKey(dataKey, metadata.keyGroups, change, env)
      return store.emitEncrypted(doc, {
        ...metadata,
        keyGroups: wrapped.keyGroups,
        shamirThreshold: wrapped.shamirThreshold,
      })
    }
    const ivStash = createIvStash()
    // the binary store's data is any bytes, not necessarily UTF-8 text
    const plaintext = decryptDocument(doc, metadata, dataKey, {
      ivStash,
      stringsAsBytes: isBytesStore(store),
    })
    const newKey = generateDataKey(systemEntropy)
    try {
      const wrapped = await wrapDataKey(newKey, change.groups, {
        threshold: change.threshold,
        pgp: env.pgp,
        ...cloudOption(change.groups, env),
        clock: env.clock ?? systemClock,
      })
      const next: Metadata = {
        ...metadata,
        keyGroups: wrapped.keyGroups,
        shamirThreshold: wrapped.shamirThreshold,
        version: SOPS_VERSION,
      }
      // spec: rotate re-encrypts everything with the new key (IVs reused, so only the key differs)
      const encrypted = encryptDocument(
        plaintext,
        { dataKey: newKey, metadata: next, ivStash },
        { clock: env.clock ?? systemClock },
      )
      return store.emitEncrypted(encrypted.doc, encrypted.metadata)
    } finally {
      wipeBytes(newKey)
      ivStash.ivs.clear()
    }
  } finally {
    wipeBytes(dataKey)
  }
}

/**
 * Wraps an existing data key for new groups, keeping the `enc` of keys that stay when the
 * file has one group and keeps one.
 */
async function rewrapDataKey(
  dataKey: Uint8Array,
  current: readonly KeyGroup[],
  change: KeyChange,
  env: KeyChangeEnv,
): Promise<WrappedDataKey> {
  const [before] = current
  const [after] = change.groups
  const clock = env.clock ?? systemClock
  if (
    current.length !== 1 ||
    change.groups.length !== 1 ||
    before === undefined ||
    after === undefined
  ) {
    return wrapDataKey(dataKey, change.groups, {
      threshold: change.threshold,
      pgp: env.pgp,
      ...cloudOption(change.groups, env),
      clock,
    })
  }
  if (after.age.length === 0 && after.pgp.length === 0 && !hasCloud(after)) {
    // let wrapDataKey report the empty group
    return wrapDataKey(dataKey, change.groups, { threshold: change.threshold, pgp: env.pgp })
  }
  const age: AgeMasterKey[] = []
  for (const recipient of after.age) {
    const kept = before.age.find((k) => k.recipient.trim() === recipient.trim())
    age.push(kept ?? (await encryptAgeMasterKey(dataKey, recipient)))
  }
  const pgp: PgpMasterKey[] = []
  for (const fp of after.pgp) {
    const kept = before.pgp.find((k) => sameFingerprint(k.fp, fp))
    pgp.push(kept ?? (await encryptPgpMasterKey(dataKey, fp, env.pgp, clock)))
  }
  const opaque: Partial<Record<OpaqueKeyType, OpaqueMasterKey[]>> = {}
  for (const type of CLOUD_KEY_TYPES) {
    for (const key of after.opaque?.[type] ?? []) {
      const id = opaqueKeyId(type, key)
      const kept = before.opaque[type]?.find((k) => opaqueKeyId(type, k) === id)
      let next = kept
      if (next === undefined) {
        const cloud = env.cloud?.()
        // let wrapDataKey say that this key type cannot be used here
        if (cloud === undefined || !cloud.supports(type)) {
          return wrapDataKey(dataKey, change.groups, { threshold: change.threshold, pgp: env.pgp })
        }
        const enc = await cloud.encrypt(type, key, dataKey)
        next = cloudKeyFields(type, key, enc, formatLastModified(clock()))
      }
      ;(opaque[type] ??= []).push(next)
    }
  }
  if (age.length + pgp.length === 0 && !hasCloud({ opaque }))
    throw new InternalError("a non-empty group wrapped to nothing")
  return { keyGroups: [{ age, pgp, opaque }], shamirThreshold: change.threshold }
}

function hasCloud(group: Pick<KeyGroupRecipients, "opaque">): boolean {
  return Object.values(group.opaque ?? {}).some((l) => l.length > 0)
}

/** The cloud port for `wrapDataKey`, asked for only when a group has cloud keys. */
function cloudOption(
  groups: readonly KeyGroupRecipients[],
  env: KeyChangeEnv,
): { cloud?: CloudKeyPort } {
  if (!groups.some(hasCloud)) return {}
  const cloud = env.cloud?.()
  return cloud === undefined ? {} : { cloud }
}

function sameFingerprint(a: string, b: string): boolean {
  const norm = (fp: string): string => fp.replace(/\s+/g, "").toUpperCase()
  return norm(a) === norm(b)
}
