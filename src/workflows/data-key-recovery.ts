/**
 * Recovering a sops file's data key with the keys of the person (or host) running the
 * workflow (docs/formats/sops.md "Data key and master keys"): age identities found as sops
 * finds them (`keys/discover.ts`), PGP through gpg (`keys/pgp.ts`), and the data key unwrapped once
 * per file by `sops/data-key.ts`. When no key opens a file, the error says which
 * recipients and fingerprints the file has and every place coffer looked for keys.
 */
import type { WorkflowIo } from "./io.js"
import { describeSearch, discoverAgeIdentities } from "../keys/discover.js"
import { DataKeyError } from "../sops/errors.js"
import type { Metadata } from "../sops/metadata.js"
import { unwrapDataKey } from "../sops/data-key.js"

/**
 * Recovers a file's data key.
 * @param metadata the file's metadata
 * @param io the environment, key discovery and gpg
 * @param file the file's name for messages
 * @returns the 32-byte data key
 * @throws DataKeyError listing the file's keys, where coffer looked and why each failed
 */
export async function recoverDataKey(
  metadata: Metadata,
  io: Pick<WorkflowIo, "env" | "discovery" | "gpg" | "cloud">,
  file: string,
): Promise<Uint8Array> {
  const recipients = metadata.keyGroups.flatMap((g) => g.age.map((k) => k.recipient.trim()))
  const hasPgp = metadata.keyGroups.some((g) => g.pgp.length > 0)
  const discovered =
    recipients.length > 0
      ? await discoverAgeIdentities(io.discovery(), { recipients })
      : { identities: [], searched: [] }
  const pgp = io.gpg()
  const cloud = hasCloudKeys(metadata) ? io.cloud?.() : undefined
  try {
    return await unwrapDataKey(
      metadata,
      { identities: discovered.identities, pgp, ...(cloud === undefined ? {} : { cloud }) },
      { decryptionOrder: decryptionOrder(io.env["SOPS_DECRYPTION_ORDER"]) },
    )
  } catch (e) {
    if (!(e instanceof DataKeyError)) throw e
    throw new DataKeyError(`${JSON.stringify(file)}: ${e.message}`, {
      cause: e,
      hints: [
        ...e.hints,
        ...(recipients.length > 0
          ? [
              "age identities were looked for in:",
              ...describeSearch(discovered.searched).map((l) => `  ${l}`),
            ]
          : []),
        ...(hasPgp && pgp.unavailable
          ? [
              "install GnuPG (Debian: apt install gnupg), or set SOPS_GPG_EXEC to the gpg program to use",
            ]
          : []),
        ...(hasPgp && !pgp.unavailable
          ? [
              `PGP secret keys come from gpg's keyring (GNUPGHOME=${io.env["GNUPGHOME"] ?? "~/.gnupg"})`,
            ]
          : []),
      ],
    })
  }
}

/**
 * `SOPS_DECRYPTION_ORDER` (`pgp,age`, `kms,age`): the key types to try first, as sops reads
 * it (docs/formats/sops-cloud-keys.md "Decryption order"); types it does not name come
 * after, in sops's order (cloud keys, then pgp, then age). Unknown names match no key.
 * @param text the variable's value
 * @returns the named key types, each once, in the order given (default age, pgp)
 */
export function decryptionOrder(text: string | undefined): string[] {
  if (text === undefined || text.trim() === "") return ["age", "pgp"]
  const order = text
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== "")
  return [...new Set(order)]
}

/** @returns whether a file has any cloud master key (KMS, Vault…) */
export function hasCloudKeys(metadata: Pick<Metadata, "keyGroups">): boolean {
  return metadata.keyGroups.some((g) => Object.values(g.opaque).some((l) => l.length > 0))
}
