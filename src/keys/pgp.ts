/**
 * PGP master keys through the `gpg` binary, as sops does it (docs/formats/sops.md "What
 * master keys store", "PGP keys").
 *
 * Encrypting runs `gpg --no-default-recipient --yes --encrypt -a -r FP --trusted-key SHORTID
 * --no-encrypt-to` with the data key on stdin and keeps the whitespace-trimmed armor;
 * decrypting runs `gpg -d` with the armored message on stdin and reads the data key from
 * stdout. Secrets only ever travel through pipes, never argv. The binary is `gpg` unless
 * `SOPS_GPG_EXEC` names another; the keyring is `GNUPGHOME` (passed as `--homedir`, as sops
 * does) or gpg's own default. `importGpgKey` and `stopGpgDaemons` serve the temporary keyring
 * of `sshKeyPaths` (host/keys.ts). This module is an edge: it spawns processes.
 */
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { dirname, join } from "node:path"
import { ToolError } from "../internal/errors.js"

/** gpg is missing, or could not encrypt to a fingerprint. */
export class PgpError extends ToolError {}

/**
 * What the sops data-key code needs from PGP (the `PgpPort` of `src/sops`): wrap a data key
 * for a fingerprint, and try to unwrap an armored message.
 */
export interface GpgPort {
  /**
   * @param dataKey the data key (or a Shamir share) to encrypt
   * @param fingerprint the recipient's fingerprint (hex, no spaces)
   * @returns the ASCII-armored OpenPGP message, whitespace-trimmed as sops stores it
   * @throws PgpError when gpg is missing or cannot encrypt to the fingerprint
   */
  encrypt(dataKey: Uint8Array, fingerprint: string): Promise<string>
  /**
   * @param armored the `enc` field of a PGP master key
   * @returns the data key, or null when gpg cannot decrypt it (no secret key, wrong passphrase)
   * @throws PgpError when the gpg binary cannot be run at all
   */
  decrypt(armored: string): Promise<Uint8Array | null>
  /**
   * Why each failed decrypt failed (gpg's own one-line reasons, no secrets), for error
   * messages.
   */
  readonly failures: readonly string[]
  /** Whether the gpg program could not be started (not installed, `SOPS_GPG_EXEC` wrong). */
  readonly unavailable: boolean
}

/** Where gpg lives and which keyring it uses. */
export interface GpgOptions {
  /** The gpg program (`SOPS_GPG_EXEC`), default `gpg`. */
  readonly executable: string
  /** The keyring directory (`GNUPGHOME`), passed as `--homedir`; undefined uses gpg's default. */
  readonly homeDir: string | undefined
  /** The environment gpg runs in. */
  readonly env: Readonly<Record<string, string | undefined>>
}

/**
 * Reads the gpg settings from an environment the way sops does.
 * @param env usually `process.env`
 * @returns the executable (`SOPS_GPG_EXEC` or `gpg`) and home directory (`GNUPGHOME`)
 */
export function gpgOptionsFromEnv(env: Readonly<Record<string, string | undefined>>): GpgOptions {
  const executable = env["SOPS_GPG_EXEC"]
  const homeDir = env["GNUPGHOME"]
  return {
    executable: executable === undefined || executable === "" ? "gpg" : executable,
    homeDir: homeDir === undefined || homeDir === "" ? undefined : homeDir,
    env,
  }
}

/**
 * The short key id sops passes to `--trusted-key`: the last 16 hex digits of the fingerprint.
 * @param fingerprint a fingerprint (hex, no spaces)
 * @returns its last 16 characters, or the whole string when shorter
 */
export function shortKeyId(fingerprint: string): string {
  return fingerprint.length > 16 ? fingerprint.slice(fingerprint.length - 16) : fingerprint
}

/**
 * Builds the `gpg` argument list for encrypting to one fingerprint (exactly sops's arguments).
 * @param fingerprint the recipient's fingerprint
 * @param homeDir the keyring directory, or undefined
 * @returns the arguments
 */
export function gpgEncryptArgs(fingerprint: string, homeDir: string | undefined): string[] {
  return [
    ...homeDirArgs(homeDir),
    "--no-default-recipient",
    "--yes",
    "--encrypt",
    "-a",
    "-r",
    fingerprint,
    "--trusted-key",
    shortKeyId(fingerprint),
    "--no-encrypt-to",
  ]
}

/**
 * Builds the `gpg` argument list for decrypting (sops runs `gpg -d`).
 * @param homeDir the keyring directory, or undefined
 * @returns the arguments
 */
export function gpgDecryptArgs(homeDir: string | undefined): string[] {
  return [...homeDirArgs(homeDir), "-d"]
}

function homeDirArgs(homeDir: string | undefined): string[] {
  return homeDir === undefined ? [] : ["--homedir", homeDir]
}

/**
 * A PGP port backed by the `gpg` binary.
 * @param options where gpg is and which keyring it uses (see `gpgOptionsFromEnv`)
 * @returns the port; `failures` collects why decrypts failed
 */
export function createGpgPort(options: GpgOptions): GpgPort {
  const failures: string[] = []
  let unavailable = false
  const run = async (args: readonly string[], input: Uint8Array): Promise<GpgResult> => {
    try {
      return await runGpg(options, args, input)
    } catch (e) {
      unavailable = true
      throw e
    }
  }
  return {
    failures,
    get unavailable(): boolean {
      return unavailable
    },
    async encrypt(dataKey: Uint8Array, fingerprint: string): Promise<string> {
      const result = await run(gpgEncryptArgs(fingerprint, options.homeDir), dataKey)
      const armored = Buffer.from(result.stdout).toString("utf8").trim()
      if (result.status !== 0 || armored === "") {
        throw new PgpError(
          `gpg could not encrypt to PGP key "${fingerprint}": ${gpgReason(result.stderr)}`,
          {
            hints: [
              `import the public key first: gpg --import KEY.asc${keyringHint(options)}`,
              "check the fingerprint with gpg --list-keys --fingerprint",
            ],
          },
        )
      }
      return armored
    },
    async decrypt(armored: string): Promise<Uint8Array | null> {
      const result = await run(gpgDecryptArgs(options.homeDir), Buffer.from(armored, "utf8"))
      // spec (docs/formats/sops.md "PGP keys"): an empty gpg output is treated as a failure.
      if (result.status !== 0 || result.stdout.length === 0) {
        result.stdout.fill(0)
        failures.push(gpgReason(result.stderr))
        return null
      }
      return result.stdout
    },
  }
}

/**
 * Imports a key into the keyring (`gpg --batch --import`); the key travels on stdin, never argv.
 * @param options the gpg program and keyring (`homeDir` should be set)
 * @param key an OpenPGP key, binary or armored (may be secret)
 * @throws PgpError when gpg cannot be run or does not accept the key
 */
export async function importGpgKey(options: GpgOptions, key: Uint8Array): Promise<void> {
  const result = await runGpg(
    options,
    [...homeDirArgs(options.homeDir), "--batch", "--import"],
    key,
  )
  if (result.status !== 0) {
    throw new PgpError(
      `gpg could not import a key${keyringHint(options)}: ${gpgReason(result.stderr)}`,
    )
  }
}

/**
 * Stops the daemons gpg started for a keyring (its gpg-agent holds the secret keys in
 * memory): `gpgconf --homedir DIR --kill all`, with the `gpgconf` next to `SOPS_GPG_EXEC`
 * when that is a path. Best effort: it never rejects.
 * @param options the gpg program and keyring
 * @returns undefined when done, or why it could not be done (for a warning)
 */
export async function stopGpgDaemons(options: GpgOptions): Promise<string | undefined> {
  if (options.homeDir === undefined) return undefined
  const sibling = options.executable.includes("/")
    ? join(dirname(options.executable), "gpgconf")
    : undefined
  const executable = sibling !== undefined && existsSync(sibling) ? sibling : "gpgconf"
  try {
    const result = await runGpg(
      { ...options, executable },
      ["--homedir", options.homeDir, "--kill", "all"],
      new Uint8Array(),
    )
    return result.status === 0 ? undefined : gpgReason(result.stderr)
  } catch (e) {
    return e instanceof Error ? e.message : String(e)
  }
}

interface GpgResult {
  readonly status: number | null
  readonly stdout: Uint8Array
  readonly stderr: string
}

/** Runs gpg with `input` on stdin; rejects only when the binary cannot be started. */
function runGpg(
  options: GpgOptions,
  args: readonly string[],
  input: Uint8Array,
): Promise<GpgResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(options.executable, args, {
      env: withoutUndefined(options.env),
      stdio: ["pipe", "pipe", "pipe"],
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on("data", (d: Buffer) => out.push(d))
    child.stderr.on("data", (d: Buffer) => err.push(d))
    child.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") {
        reject(
          new PgpError(`gpg program "${options.executable}" not found`, {
            hints: [
              "install GnuPG (Debian: apt install gnupg)",
              "or set SOPS_GPG_EXEC to the gpg program to use",
            ],
            cause: e,
          }),
        )
      } else {
        reject(
          new PgpError(`could not run gpg program "${options.executable}": ${e.message}`, {
            cause: e,
          }),
        )
      }
    })
    child.on("close", (status) => {
      const stdout = Buffer.concat(out)
      for (const chunk of out) chunk.fill(0) // the data key passed through these buffers
      resolve({
        status,
        stdout: new Uint8Array(stdout),
        stderr: Buffer.concat(err).toString("utf8"),
      })
      stdout.fill(0)
    })
    child.stdin.on("error", () => undefined) // gpg may exit before reading all of stdin
    child.stdin.end(input)
  })
}

/** gpg's most telling stderr line (its own `gpg: …` messages carry key ids, never secrets). */
function gpgReason(stderr: string): string {
  const lines = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "")
  const telling =
    lines.find((l) =>
      /decryption failed|no secret key|no public key|unusable public key/i.test(l),
    ) ?? lines.at(-1)
  return telling === undefined ? "gpg failed without a message" : telling.replace(/^gpg: /, "")
}

function keyringHint(options: GpgOptions): string {
  return options.homeDir === undefined ? "" : ` (keyring: GNUPGHOME=${options.homeDir})`
}

function withoutUndefined(
  env: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v
  return out
}
