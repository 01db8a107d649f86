/**
 * The host's keys for `coffer install` (docs/host/sops-nix-manifest.md "The install, step by step"
 * (step 5 and what coffer does better), "SSH host keys"):
 *
 * - every `ageSshKeyPaths` key gives its native `ssh-ed25519` identity *and* its ssh-to-age
 *   X25519 identity, so files encrypted to the SSH public key and to the converted `age1…`
 *   recipient both open (upstream sops-nix #824); an unreadable or unconvertible key is a
 *   warning, as in sops-nix; a file there that is an age identity file is read as one
 *   (agenix's identityPaths, which `age -i` takes either way, become this list);
 * - `ageKeyFile` is read whole (every identity in it); failing to read it is fatal;
 * - `gnupgHome` makes gpg use that keyring (`SOPS_GPG_EXEC` still picks the binary);
 * - every `sshKeyPaths` RSA key is turned into an OpenPGP key as sops-nix does
 *   (`keys/ssh-to-pgp.ts`) and imported (through stdin) into a fresh keyring: a 0700
 *   directory on the secret filesystem, which `HostKeys.close` removes after stopping the
 *   keyring's gpg-agent; an unreadable or non-RSA key is a warning, as in sops-nix.
 *
 * Unlike sops-nix, no `age-keys.txt` is written into the ramfs: identities stay in memory.
 * Lookups reuse `keys/discover.ts` with an environment that names one source at a time.
 */
import { randomBytes } from "node:crypto"
import type { Identity } from "../age/recipient.js"
import { parseSshPrivateKey } from "../age/ssh-private-key.js"
import { ToolError } from "../internal/errors.js"
import type { DiscoveryIo, SearchedPlace } from "../keys/discover.js"
import { describeSearch, discoverAgeIdentities } from "../keys/discover.js"
import type { GpgOptions, GpgPort } from "../keys/pgp.js"
import { createGpgPort, importGpgKey, PgpError, stopGpgDaemons } from "../keys/pgp.js"
import type { PgpKeyFromSsh } from "../keys/ssh-to-pgp.js"
import { sshRsaKeyToPgp } from "../keys/ssh-to-pgp.js"
import { HostKeyError } from "./errors.js"
import type { Manifest } from "./manifest.js"

/** Where host keys are read from. */
export interface HostKeyIo {
  /** @returns the file's bytes, or undefined when it does not exist */
  readFile(path: string): Promise<Uint8Array | undefined>
  /** The installer's environment (`SOPS_GPG_EXEC`). */
  readonly env: Readonly<Record<string, string | undefined>>
  /**
   * Where the keyring for `sshKeyPaths` goes (on the secret filesystem); undefined when there
   * is no such place (a dry run before the first mount): the keys are then skipped.
   */
  readonly keyring?: KeyringPlace | undefined
}

/** A place for a temporary GnuPG keyring, and the means to make and remove it. */
export interface KeyringPlace {
  /** The directory the keyring directory is made in (the secret mount point). */
  readonly parent: string
  /**
   * Creates a fresh directory (failing if anything is there), mode 0700, owned by the
   * installer.
   */
  createDirectory(path: string): Promise<void>
  /** Removes a directory recursively, not following symlinks. */
  removeTree(path: string): Promise<void>
}

/**
 * What another thread needs to make the same age identities and PGP access (the bytes of
 * the key files, read once; plain data that can be posted to a worker).
 */
export interface HostKeyMaterial {
  readonly ageSshKeyPaths: readonly string[]
  readonly ageKeyFile: string | null
  /** Path → bytes of every age key file read (secret: wiped by `close`). */
  readonly files: ReadonlyMap<string, Uint8Array>
  /** How to run gpg (`gnupgHome`, or the temporary keyring), if PGP keys are in use. */
  readonly gpg: GpgOptions | undefined
}

/** The keys a manifest names (the fields of `Manifest` that `loadHostKeys` reads). */
export type HostKeySources = Pick<
  Manifest,
  "ageSshKeyPaths" | "ageKeyFile" | "gnupgHome" | "sshKeyPaths"
>

/** The identities and PGP access for one install. */
export interface HostKeys {
  readonly identities: readonly Identity[]
  readonly pgp: GpgPort | undefined
  /** The same keys as data, for the worker threads that open the source files. */
  readonly material: HostKeyMaterial
  /** "imported …" lines (sops-nix `logging.keyImport`), never key material. */
  readonly imported: readonly string[]
  /** Keys that could not be used (not fatal). */
  readonly warnings: readonly string[]
  /**
   * Ends the keys' use: stops the temporary keyring's gpg-agent and removes the keyring.
   * Call it once decryption is over, also after a failure.
   * @returns warnings about what could not be cleaned up (never rejects)
   */
  close(): Promise<readonly string[]>
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
 * @throws HostFsError (or the port's own error) when the keyring directory cannot be made
 */
export async function loadHostKeys(manifest: HostKeySources, hostIo: HostKeyIo): Promise<HostKeys> {
  const identities: Identity[] = []
  const imported: string[] = []
  const warnings: string[] = []
  const files = new Map<string, Uint8Array>()
  // every age key file is read once and kept (as a copy) for the worker threads; a second
  // look at a path (an identityPaths entry tried as SSH key, then as age identity file)
  // gets a fresh copy, since discovery wipes what it was given
  const io: HostKeyIo = {
    ...hostIo,
    readFile: async (path) => {
      const kept = files.get(path)
      if (kept !== undefined) return Uint8Array.from(kept)
      const bytes = await hostIo.readFile(path)
      if (bytes !== undefined) files.set(path, Uint8Array.from(bytes))
      return bytes
    },
  }

  for (const path of manifest.ageSshKeyPaths) {
    const { identities: found, place } = await fromSource(io, "SOPS_AGE_SSH_PRIVATE_KEY_FILE", path)
    if (found.length === 0 && place?.outcome.kind === "failed") {
      // agenix's identityPaths become this list (nix/lib/age.nix), and agenix hands each to
      // `age -i`, which also takes age identity files (docs/manifest.md, ageSshKeyPaths)
      const asFile = await fromSource(io, "SOPS_AGE_KEY_FILE", path)
      if (asFile.identities.length > 0) {
        identities.push(...asFile.identities)
        const n = asFile.identities.length
        imported.push(
          `imported "${path}" as an age identity file (${String(n)} identit${n === 1 ? "y" : "ies"})`,
        )
        continue
      }
    }
    if (found.length === 0) {
      // spec ("The install, step by step", step 5): an SSH key that cannot be read or
      // converted is only a warning
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
  let gpg: GpgOptions | undefined
  let closeKeyring = (): Promise<readonly string[]> => Promise.resolve([])
  const executable = io.env["SOPS_GPG_EXEC"] ?? ""
  const gpgOptions = (homeDir: string): GpgOptions => ({
    executable: executable === "" ? "gpg" : executable,
    homeDir,
    env: { ...io.env, GNUPGHOME: homeDir },
  })
  if (manifest.gnupgHome !== null) {
    gpg = gpgOptions(manifest.gnupgHome)
    pgp = createGpgPort(gpg)
    imported.push(`using GnuPG home "${manifest.gnupgHome}"`)
  }
  if (manifest.sshKeyPaths.length > 0) {
    const converted = await convertSshKeys(manifest.sshKeyPaths, hostIo, warnings)
    if (converted.length > 0 && io.keyring === undefined) {
      warnings.push(
        `sshKeyPaths ${converted.map((c) => `"${c.path}"`).join(", ")} not imported: there is no secret filesystem to hold their keyring yet (dry run)`,
      )
    } else if (converted.length > 0 && io.keyring !== undefined) {
      const keyring = await createKeyring(io.keyring, gpgOptions, converted, imported, warnings)
      pgp = keyring.pgp
      gpg = keyring.options
      closeKeyring = keyring.close
    }
    for (const c of converted) c.key.secretKey.fill(0)
  }
  const close = async (): Promise<readonly string[]> => {
    for (const bytes of files.values()) bytes.fill(0)
    return closeKeyring()
  }
  return {
    identities,
    pgp,
    material: {
      ageSshKeyPaths: manifest.ageSshKeyPaths,
      ageKeyFile: manifest.ageKeyFile,
      files,
      gpg,
    },
    imported,
    warnings,
    close,
  }
}

/** Temporary keyrings are `<mount point>/.gnupg-<12 hex digits>`. */
const KEYRING_PREFIX = ".gnupg-"

/**
 * Removes the temporary keyrings an interrupted install left in the mount point (a SIGKILL
 * gives `HostKeys.close` no chance), stopping their gpg-agents first: they hold secret
 * keys. Call it with the install lock held, so no running install's keyring is touched.
 * @param names the names in the mount point
 * @param place the mount point and how to remove a directory
 * @param env the installer's environment (`SOPS_GPG_EXEC` picks gpgconf's directory)
 * @returns a line per keyring removed, and warnings for what could not be
 */
export async function removeStaleKeyrings(
  names: readonly string[],
  place: Pick<KeyringPlace, "parent" | "removeTree">,
  env: Readonly<Record<string, string | undefined>>,
): Promise<{ removed: readonly string[]; warnings: readonly string[] }> {
  const removed: string[] = []
  const warnings: string[] = []
  const executable = env["SOPS_GPG_EXEC"] ?? ""
  for (const name of names) {
    if (
      !name.startsWith(KEYRING_PREFIX) ||
      !/^[0-9a-f]{12}$/.test(name.slice(KEYRING_PREFIX.length))
    )
      continue
    const dir = `${place.parent.replace(/\/+$/, "")}/${name}`
    const stopped = await stopGpgDaemons({
      executable: executable === "" ? "gpg" : executable,
      homeDir: dir,
      env: { ...env, GNUPGHOME: dir },
    })
    if (stopped !== undefined)
      warnings.push(`could not stop the gpg-agent of stale keyring "${dir}": ${stopped}`)
    try {
      await place.removeTree(dir)
      removed.push(`removed the temporary keyring "${dir}" an interrupted install left behind`)
    } catch (e) {
      warnings.push(
        `could not remove the stale keyring "${dir}" (it holds secret keys): ${reasonOf(e)}`,
      )
    }
  }
  return { removed, warnings }
}

interface ConvertedKey {
  readonly path: string
  readonly key: PgpKeyFromSsh
}

/** spec ("The install, step by step", step 5): an unreadable or non-RSA key is only a warning. */
async function convertSshKeys(
  paths: readonly string[],
  io: HostKeyIo,
  warnings: string[],
): Promise<ConvertedKey[]> {
  const converted: ConvertedKey[] = []
  for (const path of paths) {
    try {
      const bytes = await io.readFile(path)
      if (bytes === undefined) {
        warnings.push(`cannot read SSH key "${path}": it does not exist`)
        continue
      }
      const text = Buffer.from(bytes).toString("utf8")
      bytes.fill(0)
      const key = await parseSshPrivateKey(text, { name: path })
      if (key.type !== "ssh-rsa") {
        warnings.push(
          `SSH key "${path}" is ${key.type}, not RSA: only RSA keys become PGP keys (list ed25519 keys in ageSshKeyPaths)`,
        )
        key.seed.fill(0)
        continue
      }
      converted.push({ path, key: sshRsaKeyToPgp(key.privateKey) })
    } catch (e) {
      warnings.push(`cannot read/convert SSH key "${path}" to a PGP key: ${reasonOf(e)}`)
    }
  }
  return converted
}

/**
 * Makes a private keyring on the secret filesystem and imports the converted keys into it.
 * If anything unexpected fails, the keyring is removed before the error goes on.
 */
async function createKeyring(
  place: KeyringPlace,
  gpgOptions: (homeDir: string) => GpgOptions,
  converted: readonly ConvertedKey[],
  imported: string[],
  warnings: string[],
): Promise<{ pgp: GpgPort; options: GpgOptions; close: () => Promise<readonly string[]> }> {
  // security: 0700 on a RAM filesystem; the name is random so a leftover never collides
  const dir = `${place.parent.replace(/\/+$/, "")}/${KEYRING_PREFIX}${randomBytes(6).toString("hex")}`
  await place.createDirectory(dir)
  const options = gpgOptions(dir)
  let closed = false
  const close = async (): Promise<readonly string[]> => {
    if (closed) return []
    closed = true
    const problems: string[] = []
    const stopped = await stopGpgDaemons(options)
    if (stopped !== undefined) {
      problems.push(`could not stop the gpg-agent of keyring "${dir}": ${stopped}`)
    }
    try {
      await place.removeTree(dir)
    } catch (e) {
      problems.push(
        `could not remove the temporary keyring "${dir}" (it holds secret keys): ${reasonOf(e)}`,
      )
    }
    return problems
  }
  try {
    for (const { path, key } of converted) {
      try {
        await importGpgKey(options, key.secretKey)
        imported.push(`imported "${path}" as PGP key ${key.fingerprint}`)
      } catch (e) {
        if (!(e instanceof PgpError)) throw e
        warnings.push(`cannot import SSH key "${path}" as PGP key ${key.fingerprint}: ${e.message}`)
      }
    }
  } catch (e) {
    await close()
    throw e
  }
  return { pgp: createGpgPort(options), options, close }
}

function reasonOf(e: unknown): string {
  return e instanceof ToolError || e instanceof Error ? e.message : String(e)
}
