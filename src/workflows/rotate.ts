/**
 * Rotating a sops file's data key (sops's `rotate`; docs/formats/sops.md "Commands"): decrypt,
 * optionally add and remove master keys (added keys go to the first key group, removals
 * match the key in every group), make a new data key and re-encrypt every value, so every
 * ciphertext, `lastmodified` and the MAC change. Like sops it does not read `.sops.yaml`.
 */
import { recoverDataKey } from "./data-key-recovery.js"
import type { WorkflowIo } from "./io.js"
import { recipientsOf, rewriteKeys } from "./key-groups.js"
import { readInputFile } from "./sops-session.js"
import type { KeyGroupRecipients } from "../sops/data-key.js"
import type { Store } from "../sops/stores/index.js"
import type { OpaqueMasterKey } from "../sops/metadata.js"
import { kmsKeyString } from "../cloud/aws-kms-key.js"

/** What to rotate, and the master keys to add and remove on the way. */
export interface RotateRequest {
  /** The sops file. */
  readonly file: string
  /** Its format. */
  readonly input: Store
  /** The result's format (often the same store). */
  readonly output: Store
  /** age recipients to add to the first key group. */
  readonly addAge: readonly string[]
  /** age recipients to remove from every group. */
  readonly removeAge: readonly string[]
  /** PGP fingerprints to add to the first key group (spaces and case don't matter). */
  readonly addPgp: readonly string[]
  /** PGP fingerprints to remove from every group. */
  readonly removePgp: readonly string[]
  /** AWS KMS keys to add to the first key group. */
  readonly addKms?: readonly OpaqueMasterKey[]
  /** AWS KMS keys to remove from every group (matched as sops's `ToString` writes them). */
  readonly removeKms?: readonly OpaqueMasterKey[]
}

/**
 * Rotates the data key of a sops file.
 * @param request the file, its stores and the key edits
 * @param io reading the file, keys, gpg
 * @returns the new file's text (not written: the caller puts it where it belongs)
 * @throws IoError, DataKeyError, MasterKeyError, RecipientParseError, the store and crypto
 *   errors
 */
export async function rotateSopsFile(
  request: RotateRequest,
  io: Pick<WorkflowIo, "readFile" | "env" | "discovery" | "gpg" | "cloud">,
): Promise<string> {
  const { file, input, output } = request
  const text = await readInputFile(io, file)
  const { metadata } = input.parseEncrypted(text)
  const groups = changeGroups(metadata.keyGroups.map(recipientsOf), {
    addAge: request.addAge,
    rmAge: request.removeAge,
    addPgp: request.addPgp.map(normalizeFp),
    rmPgp: request.removePgp.map(normalizeFp),
    addKms: request.addKms ?? [],
    rmKms: request.removeKms ?? [],
  })
  const out = await rewriteKeys(
    text,
    input,
    { groups, threshold: metadata.shamirThreshold, rotate: true },
    {
      recoverDataKey: (m) => recoverDataKey(m, io, file),
      pgp: io.gpg(),
      cloud: () => io.cloud?.(),
    },
  )
  return convertEncrypted(out, input, output)
}

/**
 * An encrypted file's text in another store's format (same metadata, same ciphertext).
 * @returns `text` itself when the formats are the same
 */
export function convertEncrypted(text: string, input: Store, output: Store): string {
  if (output.format === input.format) return text
  const reparsed = input.parseEncrypted(text)
  return output.emitEncrypted(reparsed.doc, reparsed.metadata)
}

interface KeyEdits {
  readonly addAge: readonly string[]
  readonly rmAge: readonly string[]
  readonly addPgp: readonly string[]
  readonly rmPgp: readonly string[]
  readonly addKms: readonly OpaqueMasterKey[]
  readonly rmKms: readonly OpaqueMasterKey[]
}

/** sops: added keys go to the first group; removal matches the key string in all groups. */
function changeGroups(
  groups: readonly KeyGroupRecipients[],
  edits: KeyEdits,
): KeyGroupRecipients[] {
  return groups.map((group, index) => {
    const age = group.age.filter((r) => !edits.rmAge.includes(r.trim()))
    const pgp = group.pgp.filter((fp) => !edits.rmPgp.includes(normalizeFp(fp)))
    const removed = new Set(edits.rmKms.map(kmsKeyString))
    const kms = (group.opaque?.kms ?? []).filter((k) => !removed.has(kmsKeyString(k)))
    if (index === 0) {
      for (const r of edits.addAge) if (!age.includes(r)) age.push(r)
      for (const fp of edits.addPgp) if (!pgp.some((p) => normalizeFp(p) === fp)) pgp.push(fp)
      for (const k of edits.addKms) kms.push(k)
    }
    const opaque = { ...group.opaque }
    if (kms.length > 0) opaque.kms = kms
    else delete opaque.kms
    return { ...group, age, pgp, opaque }
  })
}

function normalizeFp(fp: string): string {
  return fp.replace(/\s+/g, "").toUpperCase()
}
