/**
 * Finds the age identities a sops file can be decrypted with, from the same places and in
 * the same order as sops (docs/formats/sops.md "age keys and where they are found"):
 *
 * 1. `SOPS_AGE_SSH_PRIVATE_KEY_FILE`, else 2. `SOPS_AGE_SSH_PRIVATE_KEY_CMD`, else
 * 3. `~/.ssh/id_ed25519`, else `~/.ssh/id_rsa` (sops uses one SSH key at most);
 * 4. `SOPS_AGE_KEY`, 5. `SOPS_AGE_KEY_FILE`, 6. `SOPS_AGE_KEY_CMD`;
 * 7. the default key file, `$XDG_CONFIG_HOME/sops/age/keys.txt` or
 *    `~/.config/sops/age/keys.txt` (macOS: `~/Library/Application Support/…`).
 *
 * An SSH ed25519 private key yields two identities: the native `ssh-ed25519` one and its
 * ssh-to-age conversion to X25519, so files encrypted to the SSH public key and files
 * encrypted to the converted `age1…` recipient (what sops-nix users write) both open.
 *
 * Unlike sops, a broken source does not stop the search: every place looked at is
 * reported (found, not set, missing, failed and why) so that "no key could decrypt" can
 * say exactly where coffer looked. The environment, home directory, file reading and
 * command running are passed in: this module is the edge, but its effects are injectable.
 */
import { spawn } from "node:child_process"
import { readFile } from "node:fs/promises"
import { homedir } from "node:os"
import { join } from "node:path"
import type { Identity, Stanza } from "../age/recipient.js"
import { parseIdentityFile } from "../age/keyfile.js"
import { parseSshIdentity, parseSshPrivateKey } from "../age/ssh-private-key.js"
import { ed25519SeedToX25519 } from "../age/ssh-ed25519.js"
import { X25519Identity } from "../age/x25519.js"
import { wipeBytes } from "../internal/bytes.js"
import { InternalError, ToolError } from "../internal/errors.js"
import { splitShellWords } from "./shell-words.js"

/** The effects discovery needs. `systemDiscoveryIo` gives the real ones. */
export interface DiscoveryIo {
  /** The environment variables (usually `process.env`). */
  readonly env: Readonly<Record<string, string | undefined>>
  /** The user's home directory, or undefined when unknown. */
  readonly homeDir: string | undefined
  /** The operating system, for the default key file location (default `linux`). */
  readonly platform?: NodeJS.Platform
  /**
   * @returns the file's bytes, or undefined when it does not exist
   * @throws for any other failure (permission denied, a directory)
   */
  readFile(path: string): Promise<Uint8Array | undefined>
  /**
   * Runs a program without a shell and returns its standard output.
   * @param argv the program and its arguments
   * @param env variables to add to the environment (`SOPS_AGE_RECIPIENT`)
   * @throws when the program cannot start or exits non-zero
   */
  runCommand(argv: readonly string[], env: Readonly<Record<string, string>>): Promise<Uint8Array>
  /**
   * Asks for the passphrase of an encrypted SSH key or identity file; absent when there is
   * no one to ask (then such keys are reported as failed).
   */
  readonly askPassphrase?: (what: string) => Promise<string>
}

/** What happened at one place discovery looked. */
export type SearchOutcome =
  | { readonly kind: "found"; readonly count: number }
  | { readonly kind: "not-set" }
  | { readonly kind: "missing" }
  | { readonly kind: "skipped"; readonly reason: string }
  | { readonly kind: "failed"; readonly reason: string }

/** One place discovery looked at: the setting and the path or command (never key material). */
export interface SearchedPlace {
  /** The setting or convention (`SOPS_AGE_KEY_FILE`, `~/.ssh/id_ed25519`, `default key file`). */
  readonly source: string
  /** The path or command looked at, or undefined (for `SOPS_AGE_KEY`, which holds keys). */
  readonly place: string | undefined
  readonly outcome: SearchOutcome
}

/** The identities found and where discovery looked. */
export interface DiscoveredIdentities {
  /** Every identity found, in sops's order. */
  readonly identities: readonly Identity[]
  /** Every place looked at, in order, with what happened there. */
  readonly searched: readonly SearchedPlace[]
}

/** Options for one discovery. */
export interface DiscoveryOptions {
  /**
   * The file's age recipients: `SOPS_AGE_KEY_CMD` and `SOPS_AGE_SSH_PRIVATE_KEY_CMD` run
   * once per recipient with `SOPS_AGE_RECIPIENT` set to it, as sops 3.12+ does (identical
   * outputs are used once). Without recipients they run once, without the variable.
   */
  readonly recipients?: readonly string[]
}

/**
 * Collects the age identities sops would use.
 * @param io the environment, home directory, file reading and command running
 * @param options the recipients of the file being decrypted (for the `_CMD` sources)
 * @returns the identities and a description of every place looked at
 */
export async function discoverAgeIdentities(
  io: DiscoveryIo,
  options: DiscoveryOptions = {},
): Promise<DiscoveredIdentities> {
  const identities: Identity[] = []
  const searched: SearchedPlace[] = []
  const record = (source: string, place: string | undefined, outcome: SearchOutcome): void => {
    searched.push({ source, place, outcome })
  }
  const take = (source: string, place: string | undefined, found: readonly Identity[]): void => {
    identities.push(...found)
    record(source, place, { kind: "found", count: found.length })
  }
  const recipients = options.recipients ?? []

  // 1-3: at most one SSH key, as sops (loadAgeSSHIdentity).
  const sshFile = nonEmpty(io.env["SOPS_AGE_SSH_PRIVATE_KEY_FILE"])
  const sshCmd = nonEmpty(io.env["SOPS_AGE_SSH_PRIVATE_KEY_CMD"])
  if (sshFile !== undefined) {
    const outcome = await fromSshKeyFile(io, sshFile, true)
    if (outcome.kind === "ok") take("SOPS_AGE_SSH_PRIVATE_KEY_FILE", sshFile, outcome.identities)
    else record("SOPS_AGE_SSH_PRIVATE_KEY_FILE", sshFile, outcome.outcome)
  } else {
    record("SOPS_AGE_SSH_PRIVATE_KEY_FILE", undefined, { kind: "not-set" })
  }
  if (sshCmd !== undefined && sshFile === undefined) {
    const found: Identity[] = []
    const failures: string[] = []
    for (const output of await runForRecipients(
      io,
      sshCmd,
      "SOPS_AGE_SSH_PRIVATE_KEY_CMD",
      recipients,
      failures,
    )) {
      try {
        // spec (docs/formats/sops.md "age keys and where they are found"): the _CMD source
        // must print an unencrypted key (no passphrase prompt).
        found.push(
          ...(await sshIdentitiesFromPrivateKey(
            output,
            "SOPS_AGE_SSH_PRIVATE_KEY_CMD output",
            undefined,
          )),
        )
      } catch (e) {
        failures.push(reasonOf(e))
      }
    }
    if (found.length > 0) take("SOPS_AGE_SSH_PRIVATE_KEY_CMD", sshCmd, found)
    else record("SOPS_AGE_SSH_PRIVATE_KEY_CMD", sshCmd, failedOrEmpty(failures))
  } else if (sshCmd !== undefined) {
    record("SOPS_AGE_SSH_PRIVATE_KEY_CMD", sshCmd, {
      kind: "skipped",
      reason: "SOPS_AGE_SSH_PRIVATE_KEY_FILE is set",
    })
  } else {
    record("SOPS_AGE_SSH_PRIVATE_KEY_CMD", undefined, { kind: "not-set" })
  }
  const sshFromEnv = sshFile !== undefined || sshCmd !== undefined
  if (io.homeDir === undefined) {
    record("~/.ssh/id_ed25519", undefined, { kind: "skipped", reason: "home directory unknown" })
  } else {
    let sshDone = sshFromEnv
    for (const name of ["id_ed25519", "id_rsa"]) {
      const path = join(io.homeDir, ".ssh", name)
      const source = `~/.ssh/${name}`
      if (sshDone) {
        record(source, path, {
          kind: "skipped",
          reason: sshFromEnv ? "an SSH key is set in the environment" : "~/.ssh/id_ed25519 is used",
        })
        continue
      }
      const outcome = await fromSshKeyFile(io, path, false)
      if (outcome.kind === "ok") {
        take(source, path, outcome.identities)
        sshDone = true
      } else {
        record(source, path, outcome.outcome)
        if (outcome.outcome.kind !== "missing") sshDone = true
      }
    }
  }

  // 4: SOPS_AGE_KEY (since 3.13 identities may be separated by any whitespace; `#`
  // comment lines, as in a pasted keys.txt, are dropped first).
  const keyText = io.env["SOPS_AGE_KEY"]
  if (keyText === undefined) {
    record("SOPS_AGE_KEY", undefined, { kind: "not-set" })
  } else {
    await fromIdentityText(
      io,
      keyText
        .split("\n")
        .filter((line) => !line.trim().startsWith("#"))
        .flatMap((line) => line.split(/\s+/))
        .filter((word) => word !== "")
        .join("\n"),
      "SOPS_AGE_KEY",
      undefined,
      take,
      record,
    )
  }

  // 5: SOPS_AGE_KEY_FILE.
  const keyFile = nonEmpty(io.env["SOPS_AGE_KEY_FILE"])
  if (keyFile === undefined) {
    record("SOPS_AGE_KEY_FILE", undefined, { kind: "not-set" })
  } else {
    await fromIdentityFile(io, keyFile, "SOPS_AGE_KEY_FILE", take, record)
  }

  // 6: SOPS_AGE_KEY_CMD.
  const keyCmd = nonEmpty(io.env["SOPS_AGE_KEY_CMD"])
  if (keyCmd === undefined) {
    record("SOPS_AGE_KEY_CMD", undefined, { kind: "not-set" })
  } else {
    const found: Identity[] = []
    const failures: string[] = []
    for (const output of await runForRecipients(
      io,
      keyCmd,
      "SOPS_AGE_KEY_CMD",
      recipients,
      failures,
    )) {
      try {
        found.push(...(await parseIdentities(io, textOf(output), "SOPS_AGE_KEY_CMD output")))
      } catch (e) {
        failures.push(reasonOf(e))
      }
    }
    if (found.length > 0) take("SOPS_AGE_KEY_CMD", keyCmd, found)
    else record("SOPS_AGE_KEY_CMD", keyCmd, failedOrEmpty(failures))
  }

  // 7: the default key file.
  const defaultPath = defaultAgeKeyFile(io)
  if (defaultPath === undefined) {
    record("default key file", undefined, { kind: "skipped", reason: "home directory unknown" })
  } else {
    await fromIdentityFile(io, defaultPath, "default key file", take, record)
  }

  return { identities, searched }
}

/**
 * Where sops looks for its default age key file (`<UserConfigDir>/sops/age/keys.txt`).
 * @param io the environment, home directory and platform
 * @returns the path, or undefined when neither `XDG_CONFIG_HOME` nor the home dir is known
 */
export function defaultAgeKeyFile(
  io: Pick<DiscoveryIo, "env" | "homeDir" | "platform">,
): string | undefined {
  const xdg = nonEmpty(io.env["XDG_CONFIG_HOME"])
  const platform = io.platform ?? "linux"
  if (platform === "win32") {
    const appData = nonEmpty(io.env["AppData"] ?? io.env["APPDATA"])
    return appData === undefined ? undefined : join(appData, "sops", "age", "keys.txt")
  }
  if (xdg !== undefined) return join(xdg, "sops", "age", "keys.txt")
  if (io.homeDir === undefined) return undefined
  if (platform === "darwin")
    return join(io.homeDir, "Library", "Application Support", "sops", "age", "keys.txt")
  return join(io.homeDir, ".config", "sops", "age", "keys.txt")
}

/**
 * Describes the places looked at, one line each, for an error's hints.
 * @param searched from `discoverAgeIdentities`
 * @returns lines such as `SOPS_AGE_KEY_FILE (/home/me/keys.txt): file does not exist`
 */
export function describeSearch(searched: readonly SearchedPlace[]): string[] {
  return searched.map((s) => {
    const where = s.place === undefined ? s.source : `${s.source} (${s.place})`
    return `${where}: ${describeOutcome(s.outcome)}`
  })
}

function describeOutcome(outcome: SearchOutcome): string {
  switch (outcome.kind) {
    case "found":
      return outcome.count === 1 ? "1 identity" : `${outcome.count} identities`
    case "not-set":
      return "not set"
    case "missing":
      return "file does not exist"
    case "skipped":
      return `not used (${outcome.reason})`
    case "failed":
      return `failed: ${outcome.reason}`
    default: {
      const never: never = outcome
      return never
    }
  }
}

/**
 * The real effects: `process.env`, the user's home directory, `node:fs` and `node:child_process`.
 * @param askPassphrase how to ask for a passphrase, when someone can be asked
 * @returns a `DiscoveryIo`
 */
export function systemDiscoveryIo(askPassphrase?: (what: string) => Promise<string>): DiscoveryIo {
  let home: string | undefined
  try {
    home = homedir()
  } catch {
    home = undefined
  }
  const io: DiscoveryIo = {
    env: process.env,
    homeDir: home === "" ? undefined : home,
    platform: process.platform,
    async readFile(path: string): Promise<Uint8Array | undefined> {
      try {
        return new Uint8Array(await readFile(path))
      } catch (e) {
        if (isErrno(e) && e.code === "ENOENT") return undefined
        throw e
      }
    },
    runCommand: runProgram,
  }
  return askPassphrase === undefined ? io : { ...io, askPassphrase }
}

type SshOutcome =
  | { readonly kind: "ok"; readonly identities: readonly Identity[] }
  | { readonly kind: "no"; readonly outcome: SearchOutcome }

async function fromSshKeyFile(
  io: DiscoveryIo,
  path: string,
  required: boolean,
): Promise<SshOutcome> {
  let bytes: Uint8Array | undefined
  try {
    bytes = await io.readFile(path)
  } catch (e) {
    return { kind: "no", outcome: { kind: "failed", reason: reasonOf(e) } }
  }
  if (bytes === undefined) {
    return {
      kind: "no",
      outcome: required ? { kind: "failed", reason: "file does not exist" } : { kind: "missing" },
    }
  }
  try {
    const found = await sshIdentitiesFromPrivateKey(bytes, path, io.askPassphrase)
    return { kind: "ok", identities: found }
  } catch (e) {
    return { kind: "no", outcome: { kind: "failed", reason: reasonOf(e) } }
  } finally {
    bytes.fill(0)
  }
}

async function fromIdentityFile(
  io: DiscoveryIo,
  path: string,
  source: string,
  take: (source: string, place: string | undefined, found: readonly Identity[]) => void,
  record: (source: string, place: string | undefined, outcome: SearchOutcome) => void,
): Promise<void> {
  let bytes: Uint8Array | undefined
  try {
    bytes = await io.readFile(path)
  } catch (e) {
    record(source, path, { kind: "failed", reason: reasonOf(e) })
    return
  }
  if (bytes === undefined) {
    // sops: SOPS_AGE_KEY_FILE must exist; the default file is optional.
    record(
      source,
      path,
      source === "default key file"
        ? { kind: "missing" }
        : { kind: "failed", reason: "file does not exist" },
    )
    return
  }
  await fromIdentityText(io, bytes, source, path, take, record)
  bytes.fill(0)
}

async function fromIdentityText(
  io: DiscoveryIo,
  text: string | Uint8Array,
  source: string,
  path: string | undefined,
  take: (source: string, place: string | undefined, found: readonly Identity[]) => void,
  record: (source: string, place: string | undefined, outcome: SearchOutcome) => void,
): Promise<void> {
  try {
    const found = await parseIdentities(io, text, path ?? source)
    if (found.length === 0) record(source, path, { kind: "failed", reason: "no identities in it" })
    else take(source, path, found)
  } catch (e) {
    record(source, path, { kind: "failed", reason: reasonOf(e) })
  }
}

/** Parses identity file text (or an age-encrypted identity file) into identities. */
async function parseIdentities(
  io: DiscoveryIo,
  text: string | Uint8Array,
  name: string,
): Promise<Identity[]> {
  return [...(await parseIdentityFile(text, { name, askPassphrase: io.askPassphrase }))]
}

/** Runs a `_CMD` setting once per recipient (or once); returns the distinct outputs. */
async function runForRecipients(
  io: DiscoveryIo,
  command: string,
  setting: string,
  recipients: readonly string[],
  failures: string[],
): Promise<Uint8Array[]> {
  let argv: string[]
  try {
    argv = splitShellWords(command, setting)
  } catch (e) {
    failures.push(reasonOf(e))
    return []
  }
  if (argv.length === 0) {
    failures.push("the command is empty")
    return []
  }
  const runs: Readonly<Record<string, string>>[] =
    recipients.length === 0
      ? [{}]
      : [...new Set(recipients)].map((r) => ({ SOPS_AGE_RECIPIENT: r }))
  const outputs: Uint8Array[] = []
  for (const env of runs) {
    try {
      const out = await io.runCommand(argv, env)
      if (!outputs.some((o) => sameBytes(o, out))) outputs.push(out)
      else out.fill(0)
    } catch (e) {
      failures.push(reasonOf(e))
    }
  }
  return outputs
}

function failedOrEmpty(failures: readonly string[]): SearchOutcome {
  const unique = [...new Set(failures)]
  return {
    kind: "failed",
    reason: unique.length === 0 ? "no identities in its output" : unique.join("; "),
  }
}

/** A failure's message, without its hints (which may be long); never key material. */
function reasonOf(e: unknown): string {
  if (e instanceof ToolError) return e.message
  if (isErrno(e)) {
    switch (e.code) {
      case "EACCES":
        return "permission denied"
      case "EISDIR":
        return "is a directory"
      default:
        return e.code === undefined ? e.message : `${e.code.toLowerCase()}: ${e.message}`
    }
  }
  return e instanceof Error ? e.message : String(e)
}

function textOf(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8")
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value
}

function isErrno(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && "code" in e
}

/** Runs a program without a shell; stdout is collected, stderr passes through to ours. */
function runProgram(
  argv: readonly string[],
  env: Readonly<Record<string, string>>,
): Promise<Uint8Array> {
  const [program, ...args] = argv
  if (program === undefined) return Promise.reject(new ToolError("the command is empty"))
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      env: { ...process.env, ...env },
      stdio: ["inherit", "pipe", "inherit"],
    })
    const out: Buffer[] = []
    child.stdout.on("data", (d: Buffer) => out.push(d))
    child.on("error", (e: NodeJS.ErrnoException) => {
      reject(
        new ToolError(
          e.code === "ENOENT"
            ? `program "${program}" not found`
            : `could not run "${program}": ${e.message}`,
        ),
      )
    })
    child.on("close", (status, signal) => {
      const stdout = new Uint8Array(Buffer.concat(out))
      for (const chunk of out) chunk.fill(0)
      if (status === 0) resolve(stdout)
      else {
        stdout.fill(0)
        reject(
          new ToolError(
            signal === null
              ? `"${program}" exited with status ${status ?? "unknown"}`
              : `"${program}" was killed by ${signal}`,
          ),
        )
      }
    })
  })
}

/**
 * The identities of an SSH private key: the native `ssh-ed25519`/`ssh-rsa` one and, for
 * ed25519, the ssh-to-age X25519 conversion (sops-nix encrypts to that). An encrypted key
 * asks its passphrase only when a stanza could be for it.
 */
async function sshIdentitiesFromPrivateKey(
  bytes: Uint8Array,
  name: string,
  askPassphrase: ((what: string) => Promise<string>) | undefined,
): Promise<Identity[]> {
  const text = textOf(bytes)
  const options = askPassphrase === undefined ? { name } : { name, passphrase: askPassphrase }
  const native = await parseSshIdentity(text, options)
  if (native.publicKey.type !== "ssh-ed25519") return [native]
  return [native, new ConvertedSshIdentity(() => parseSshPrivateKey(text, options))]
}

/**
 * The X25519 identity ssh-to-age derives from an ed25519 private key, made on first use
 * (decrypting the key, and so asking its passphrase, only for a file with X25519 stanzas).
 */
class ConvertedSshIdentity implements Identity {
  readonly #load: () => ReturnType<typeof parseSshPrivateKey>
  #identity: Promise<X25519Identity> | undefined

  constructor(load: () => ReturnType<typeof parseSshPrivateKey>) {
    this.#load = load
  }

  async unwrapFileKey(stanzas: readonly Stanza[]): Promise<Uint8Array | null> {
    if (!stanzas.some((s) => s.type === "X25519")) return null
    this.#identity ??= this.#convert()
    return (await this.#identity).unwrapFileKey(stanzas)
  }

  async #convert(): Promise<X25519Identity> {
    const key = await this.#load()
    if (key.type !== "ssh-ed25519") throw new InternalError("converted SSH key is not ed25519")
    const secret = ed25519SeedToX25519(key.seed)
    wipeBytes(key.seed)
    try {
      return new X25519Identity(secret)
    } finally {
      wipeBytes(secret)
    }
  }
}
