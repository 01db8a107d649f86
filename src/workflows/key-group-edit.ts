/**
 * Adding and deleting key groups of a sops file (sops's `groups add` and `groups delete`;
 * docs/formats/sops.md "Key groups and Shamir", "Commands"). The data key stays; it is
 * split again with Shamir into one share per group (the threshold given, else the file's; 0
 * means all groups), so every group's keys are wrapped again. Values, `lastmodified` and
 * the MAC are untouched.
 *
 * Three steps, so a caller can check its own input against the file in between:
 * `readKeyGroups`, then `addKeyGroup` or `deleteKeyGroup` (pure), then `writeKeyGroups`.
 */
import { recoverDataKey } from "./data-key-recovery.js"
import type { WorkflowIo } from "./io.js"
import { recipientsOf, rewriteKeys } from "./key-groups.js"
import { convertEncrypted } from "./rotate.js"
import { readInputFile } from "./sops-session.js"
import { UsageError } from "../internal/errors.js"
import type { KeyGroupRecipients } from "../sops/data-key.js"
import { ShamirError } from "../sops/errors.js"
import type { Metadata } from "../sops/metadata.js"
import type { Store } from "../sops/stores/index.js"

/** A sops file's key groups, as read. */
export interface FileKeyGroups {
  /** The sops file. */
  readonly file: string
  /** Its format. */
  readonly store: Store
  /** The encrypted text. */
  readonly text: string
  /** Its metadata. */
  readonly metadata: Metadata
  /** Each group's recipients and fingerprints. */
  readonly groups: readonly KeyGroupRecipients[]
}

/**
 * Reads a sops file's key groups (nothing is decrypted).
 * @throws IoError, StoreParseError, MetadataError
 */
export async function readKeyGroups(
  file: string,
  store: Store,
  io: Pick<WorkflowIo, "readFile">,
): Promise<FileKeyGroups> {
  const text = await readInputFile(io, file)
  const { metadata } = store.parseEncrypted(text)
  return { file, store, text, metadata, groups: metadata.keyGroups.map(recipientsOf) }
}

/**
 * @param current the file's groups
 * @param group the new group's age recipients and PGP fingerprints
 * @returns the groups with `group` appended
 */
export function addKeyGroup(
  current: readonly KeyGroupRecipients[],
  group: KeyGroupRecipients,
): KeyGroupRecipients[] {
  return [...current, group]
}

/**
 * @param current the file's groups
 * @param index the 0-based index of the group to delete
 * @param file the file's name for messages
 * @param shown the index as the user wrote it, for messages (default: `index`)
 * @returns the groups without that one
 * @throws UsageError when there is no such group, or it is the only one
 */
export function deleteKeyGroup(
  current: readonly KeyGroupRecipients[],
  index: number,
  file: string,
  shown: string = String(index),
): KeyGroupRecipients[] {
  if (index >= current.length) {
    throw new UsageError(
      `key group ${shown} does not exist: ${JSON.stringify(file)} has ${String(current.length)} (0-based)`,
    )
  }
  if (current.length === 1) {
    throw new UsageError(`can't delete the only key group of ${JSON.stringify(file)}`, {
      hints: ["nobody could decrypt the file any more; add another group first"],
    })
  }
  return current.filter((_, i) => i !== index)
}

/**
 * Wraps the file's data key for new key groups.
 * @param read the file, from `readKeyGroups`
 * @param next the groups it should have
 * @param threshold the Shamir threshold (default: the file's)
 * @param output the result's format
 * @param io keys and gpg
 * @returns the new file's text (not written)
 * @throws ShamirError when the threshold exceeds the number of groups; DataKeyError,
 *   MasterKeyError, RecipientParseError, PgpError
 */
export async function writeKeyGroups(
  read: FileKeyGroups,
  next: readonly KeyGroupRecipients[],
  threshold: number | undefined,
  output: Store,
  io: Pick<WorkflowIo, "env" | "discovery" | "gpg" | "cloud">,
): Promise<string> {
  const wanted = threshold ?? read.metadata.shamirThreshold
  if (next.length > 1 && wanted > next.length) {
    throw new ShamirError(
      `a shamir threshold of ${String(wanted)} can't be met with ${String(next.length)} key groups`,
      {
        hints: ["pass --shamir-secret-sharing-threshold with a number up to the number of groups"],
      },
    )
  }
  const out = await rewriteKeys(
    read.text,
    read.store,
    { groups: next, threshold: next.length === 1 ? 0 : wanted, rotate: false },
    {
      recoverDataKey: (m) => recoverDataKey(m, io, read.file),
      pgp: io.gpg(),
      cloud: () => io.cloud?.(),
    },
  )
  return convertEncrypted(out, read.store, output)
}
