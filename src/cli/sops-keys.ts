/**
 * The master-key side of `coffer decrypt`/`encrypt` (sops-format.md §7): age identities
 * found as sops finds them (`keys/discover.ts`), PGP through the gpg binary
 * (`keys/pgp.ts`), and the data key unwrapped once per file by `sops/data-key.ts`. When no
 * key opens a file, the error says which recipients and fingerprints the file has and
 * every place coffer looked for keys.
 */
import type { CliContext } from "./command.js"
import { readSecret } from "./terminal.js"
import { describeSearch, discoverAgeIdentities, systemDiscoveryIo } from "../keys/discover.js"
import { createGpgPort, gpgOptionsFromEnv } from "../keys/pgp.js"
import { InternalError } from "../internal/errors.js"
import { DataKeyError } from "../sops/errors.js"
import type { KeyGroup, Metadata } from "../sops/metadata.js"
import { unwrapDataKey, wrapDataKey } from "../sops/data-key.js"

/**
 * Recovers a file's data key.
 * @param metadata the file's metadata
 * @param ctx the command's environment
 * @param file the file's name for messages
 * @returns the 32-byte data key
 * @throws DataKeyError listing the file's keys, where coffer looked and why each failed
 */
export async function recoverDataKey(
  metadata: Metadata,
  ctx: CliContext,
  file: string,
): Promise<Uint8Array> {
  const recipients = metadata.keyGroups.flatMap((g) => g.age.map((k) => k.recipient.trim()))
  const hasPgp = metadata.keyGroups.some((g) => g.pgp.length > 0)
  const io = { ...systemDiscoveryIo(askPassphrase), env: ctx.env }
  const discovered =
    recipients.length > 0
      ? await discoverAgeIdentities(io, { recipients })
      : { identities: [], searched: [] }
  const pgp = createGpgPort(gpgOptionsFromEnv(ctx.env))
  try {
    return await unwrapDataKey(
      metadata,
      { identities: discovered.identities, pgp },
      { decryptionOrder: decryptionOrder(ctx.env["SOPS_DECRYPTION_ORDER"]) },
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
              `PGP secret keys come from gpg's keyring (GNUPGHOME=${ctx.env["GNUPGHOME"] ?? "~/.gnupg"})`,
            ]
          : []),
      ],
    })
  }
}

/** `SOPS_DECRYPTION_ORDER` (`pgp,age`): the key types to try first; unknown names are ignored. */
function decryptionOrder(text: string | undefined): ("age" | "pgp")[] {
  const order = (text ?? "age,pgp")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter((s): s is "age" | "pgp" => s === "age" || s === "pgp")
  for (const kind of ["age", "pgp"] as const) if (!order.includes(kind)) order.push(kind)
  return [...new Set(order)]
}

/**
 * Builds the one key group of a new file: the data key wrapped for every age recipient
 * and PGP fingerprint.
 * @param dataKey the new data key
 * @param ageRecipients recipient strings (age1…, age1pq1…, SSH public keys)
 * @param pgpFingerprints fingerprints without spaces
 * @param threshold the Shamir threshold to record (one group: informational)
 * @returns the key group
 * @throws RecipientParseError for a bad recipient, PgpError when gpg cannot encrypt,
 *   MasterKeyError when there are no keys
 */
export async function createKeyGroup(
  dataKey: Uint8Array,
  ageRecipients: readonly string[],
  pgpFingerprints: readonly string[],
  threshold: number,
  ctx: CliContext,
): Promise<KeyGroup> {
  const pgp = createGpgPort(gpgOptionsFromEnv(ctx.env))
  const wrapped = await wrapDataKey(dataKey, [{ age: ageRecipients, pgp: pgpFingerprints }], {
    threshold,
    pgp,
  })
  const [group] = wrapped.keyGroups
  if (group === undefined) throw new InternalError("wrapDataKey returned no key group")
  return group
}

function askPassphrase(what: string): Promise<string> {
  return readSecret(`Enter passphrase for ${what}:`)
}
