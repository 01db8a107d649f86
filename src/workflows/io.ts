/**
 * The effects a workflow may have, as one port (docs/conventions.md "Pure core, effects at
 * the edges"; `host/host-fs.ts` is the same idea for installs). A workflow reads, computes,
 * then writes only through this object, so a program (or a test) can run it against its own files,
 * terminal and keys; `systemWorkflowIo` (in `system-io.ts`) is the real machine.
 *
 * What is here: reading a file, replacing one atomically, a private directory for
 * plaintext, prompts at the terminal, warnings, and the key sources sops files need
 * (age identity discovery, gpg, and the clouds). Progress and results are not here: workflows return
 * values and report progress through callbacks their caller passes.
 */
import type { DiscoveryIo } from "../keys/discover.js"
import type { GpgPort } from "../keys/pgp.js"
import type { PrivateTempDir } from "../system/private-temp.js"
import type { ReplaceOptions } from "../system/replace-file.js"
import type { CloudKeyPort } from "../sops/cloud-keys.js"

/** What is at a path: a regular file, a directory, or anything else (a link, a device). */
export interface FileKind {
  readonly kind: "file" | "directory" | "other"
  /** The size in bytes (of the link itself for a symbolic link). */
  readonly size: number
}

/** One entry of a directory. */
export interface DirectoryEntry {
  /** Its name (no directory). */
  readonly name: string
  readonly kind: FileKind["kind"]
}

/** The effects of a workflow. */
export interface WorkflowIo {
  /**
   * The environment: where keys are found (`SOPS_AGE_KEY_FILE`, `GNUPGHOME`…),
   * `SOPS_CONFIG`, `SOPS_DECRYPTION_ORDER`, editors.
   */
  readonly env: Readonly<Record<string, string | undefined>>
  /** The directory relative paths (and `.sops.yaml` path regexes) are taken from. */
  readonly cwd: string
  /**
   * Reads a whole file.
   * @returns its bytes
   * @throws the system error as is (ENOENT, EACCES…): the caller names the file
   */
  readFile(path: string): Promise<Uint8Array>
  /** @returns whether something exists at `path` (the `.sops.yaml` lookup) */
  exists(path: string): boolean
  /**
   * What is at `path`, not following a symbolic link.
   * @returns its kind and size
   * @throws the system error when it can't be looked at (ENOENT, EACCES…)
   */
  fileKind(path: string): FileKind
  /**
   * The entries of a directory, each with the kind `fileKind` would give it.
   * @throws the system error when the directory can't be read
   */
  listDirectory(path: string): readonly DirectoryEntry[]
  /**
   * Replaces (or creates) a file atomically: a temp file in the same directory, renamed over
   * it, keeping the old file's mode and owner.
   * @param newFileMode the mode when `path` does not exist yet (default 0600)
   * @param options `plaintext`: the file is 0600 even if it existed with another mode, and a
   *   symbolic link at `path` is refused (see `ReplaceOptions`)
   * @throws IoError naming the path; the original is then untouched
   */
  replaceFile(
    path: string,
    content: Uint8Array | string,
    newFileMode?: number,
    options?: ReplaceOptions,
  ): Promise<void>
  /**
   * A fresh private directory (0700) for plaintext, on a RAM-backed file system where there
   * is one (else with a warning), removed by `remove()` and on SIGINT, SIGTERM and SIGHUP.
   */
  createPrivateTempDir(): PrivateTempDir
  /**
   * Asks for a secret without echoing it.
   * @throws PassphraseError when no one can be asked; InterruptedError on Ctrl-C
   */
  readSecret(prompt: string): Promise<string>
  /**
   * Asks a yes/no question.
   * @returns true for yes
   * @throws PassphraseError when no one can be asked
   */
  confirm(question: string): Promise<boolean>
  /** Reports a warning (the command line prints `warning: …`). */
  warn(message: string): void
  /** The effects of age identity discovery (`keys/discover.ts`), with `env` as environment. */
  discovery(): DiscoveryIo
  /** gpg, for PGP master keys (`keys/pgp.ts`), configured from `env`. */
  gpg(): GpgPort
  /**
   * The clouds, for KMS and Vault master keys (`cloud/port.ts`), configured from `env`;
   * asked for only when a file has such keys. Absent: cloud keys are not usable.
   */
  cloud?(): CloudKeyPort
}
