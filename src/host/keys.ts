/**
 * The host's keys for `coffer install` (sops-nix.md §3 step 5, §4, §8):
 *
 * - every `ageSshKeyPaths` key gives its native `ssh-ed25519` identity *and* its ssh-to-age
 *   X25519 identity, so files encrypted to the SSH public key and to the converted `age1…`
 *   recipient both open (upstream sops-nix #824); an unreadable or unconvertible key is a
 *   warning, as in sops-nix;
 * - `ageKeyFile` is read whole (every identity in it); failing to read it is fatal;
 * - `gnupgHome` makes gpg use that keyring (`SOPS_GPG_EXEC` still picks the binary).
 *
 * Unlike sops-nix, no `age-keys.txt` is written into the ramfs: identities stay in memory.
 * Lookups reuse `keys/discover.ts` with an environment that names one source at a time.
 */
import type { Identity } from "../age/recipient.js"
import type { DiscoveryIo, SearchedPlace } from "../keys/discover.js"
import { describeSearch, discoverAgeIdentities } from "../keys/discover.js"
import type { GpgPort } from "../keys/pgp.js"
import { createGpgPort } from "../keys/pgp.js"
import { HostKeyError } from "./errors.js"
import type { Manifest } from "./manifest.js"

/** Where host keys are read from. */
export interface HostKeyIo {
  /** @returns the file's bytes, or undefined when it does not exist */
  readFile(path: string): Promise<Uint8Array | undefined>
  /** The installer's environment (`SOPS_GPG_EXEC`). */
  readonly env: Readonly<Record<string, string | undefined>>
}

/** The identities and PGP access for one install. */
export interface HostKeys {
  readonly identities: readonly Identity[]
  readonly pgp: GpgPort | undefined
  /** "imported …" lines (sops-nix `logging.keyImport`), never key material. */
  readonly imported: readonly string[]
  /** Keys that could not be used (not fatal). */
  readonly warnings: readonly string[]
}

async function fromSource(
  io: HostKeyIo,
  variable: "SOPS_AGE_SSH_PRIVATE_KEY_FILE" | "SOPS_AGE_KEY_FILE",
  path: string,
): Promise<{ identities: readonly Identity[]; place: SearchedPlace | undefined }> {
  const discoveryIo: DiscoveryIo = {
    env: { [variable]: path },
    homeDir: undefined,
    readFile: (p) => io.readFile(p),
    runCommand: () => Promise.reject(new HostKeyError("host keys never run commands")),
  }
  const found = await discoverAgeIdentities(discoveryIo)
  return {
    identities: found.identities,
    place: found.searched.find((s) => s.source === variable),
  }
}

/**
 * Loads the keys a manifest names.
 * @param manifest the manifest (`ageSshKeyPaths`, `ageKeyFile`, `gnupgHome`, `sshKeyPaths`)
 * @param io file reading and the environment
 * @returns the identities, the PGP port, and what was imported or skipped
 * @throws HostKeyError when `ageKeyFile` cannot be read or holds no identity
 */
export async function loadHostKeys(manifest: Manifest, io: HostKeyIo): Promise<HostKeys> {
  const identities: Identity[] = []
  const imported: string[] = []
  const warnings: string[] = []

  for (const path of manifest.ageSshKeyPaths) {
    const { identities: found, place } = await fromSource(io, "SOPS_AGE_SSH_PRIVATE_KEY_FILE", path)
    if (found.length === 0) {
      // spec §3 step 5: an SSH key that cannot be read or converted is only a warning
      const why = place === undefined ? [] : describeSearch([place])
      warnings.push(
        `cannot read/convert SSH key "${path}"${why.length > 0 ? `: ${why.join("; ")}` : ""}`,
      )
      continue
    }
    identities.push(...found)
    imported.push(
      found.length > 1
        ? `imported "${path}" as age identities (ssh-ed25519, and X25519 as ssh-to-age converts it)`
        : `imported "${path}" as an age identity`,
    )
  }

  if (manifest.ageKeyFile !== null) {
    const path = manifest.ageKeyFile
    const { identities: found, place } = await fromSource(io, "SOPS_AGE_KEY_FILE", path)
    if (found.length === 0) {
      throw new HostKeyError(
        `age key file "${path}" could not be read${place === undefined ? "" : `: ${describeSearch([place]).join("; ")}`}`,
        {
          hints: [
            "ageKeyFile must exist and hold at least one identity (age-keygen -o FILE makes one)",
            "if it lives on a filesystem mounted later, order the install unit after it (RequiresMountsFor=)",
          ],
        },
      )
    }
    identities.push(...found)
    imported.push(
      `imported age key file "${path}" (${String(found.length)} identit${found.length === 1 ? "y" : "ies"})`,
    )
  }

  let pgp: GpgPort | undefined
  if (manifest.gnupgHome !== null) {
    const executable = io.env["SOPS_GPG_EXEC"]
    pgp = createGpgPort({
      executable: executable === undefined || executable === "" ? "gpg" : executable,
      homeDir: manifest.gnupgHome,
      env: { ...io.env, GNUPGHOME: manifest.gnupgHome },
    })
    imported.push(`using GnuPG home "${manifest.gnupgHome}"`)
  }
  if (manifest.sshKeyPaths.length > 0) {
    warnings.push(
      `sshKeyPaths (RSA SSH keys turned into PGP keys) is not supported: ${manifest.sshKeyPaths.map((p) => `"${p}"`).join(", ")} ignored; use age (ageSshKeyPaths) or gnupgHome`,
    )
  }
  return { identities, pgp, imported, warnings }
}
