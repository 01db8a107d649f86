/**
 * Editing a secret's plaintext safely (MISSION.md C3 "Editing is safe"; agenix.md §4 "Edit";
 * sops-format.md §12 `edit`): the plaintext lives only in a private directory (mode 0700)
 * on a RAM-backed file system where one exists (`$XDG_RUNTIME_DIR`, then `/dev/shm`, else
 * the temp dir), in a file created exclusively with mode 0600; the directory is removed on
 * every exit path, including SIGINT, SIGTERM and SIGHUP. The editor is `$EDITOR`-style text
 * run by `/bin/sh` (so `code --wait` works), with the file as its last argument.
 */
import { spawn } from "node:child_process"
import { accessSync, constants, mkdtempSync, rmSync, statSync } from "node:fs"
import { open, readFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { basename, join } from "node:path"
import { ToolError } from "../internal/errors.js"
import { describeSystemError } from "./files.js"

/** The editor could not be started or exited with a failure status (nothing was written). */
export class EditorError extends ToolError {}

/** A private directory for plaintext; `remove()` deletes it and everything in it. */
export interface PrivateDir {
  readonly path: string
  /** Whether it is on a RAM-backed file system (`$XDG_RUNTIME_DIR`, `/dev/shm`). */
  readonly inMemory: boolean
  remove(): void
}

const liveDirs = new Set<string>()
let signalHandlerInstalled = false

function installSignalHandler(): void {
  if (signalHandlerInstalled) return
  signalHandlerInstalled = true
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      // Remove the plaintext first, then exit as the signal would have.
      for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true })
      liveDirs.clear()
      process.exit(signal === "SIGINT" ? 130 : signal === "SIGTERM" ? 143 : 129)
    })
  }
}

function usableDirectory(path: string | undefined): path is string {
  if (path === undefined || path === "") return false
  try {
    if (!statSync(path).isDirectory()) return false
    accessSync(path, constants.W_OK | constants.X_OK)
    return true
  } catch {
    return false
  }
}

/**
 * Creates a private (0700) directory for plaintext, preferring memory-backed places.
 * @param env the environment (`XDG_RUNTIME_DIR`)
 * @returns the directory; call `remove()` in a `finally`
 */
export function createPrivateDir(env: Readonly<Record<string, string | undefined>>): PrivateDir {
  const runtime = env["XDG_RUNTIME_DIR"]
  const candidates: { dir: string | undefined; inMemory: boolean }[] = [
    { dir: runtime, inMemory: true },
    { dir: "/dev/shm", inMemory: true },
    { dir: tmpdir(), inMemory: false },
  ]
  const chosen = candidates.find((c) => usableDirectory(c.dir)) ?? {
    dir: tmpdir(),
    inMemory: false,
  }
  // mkdtemp creates the directory with mode 0700.
  const path = mkdtempSync(join(chosen.dir ?? tmpdir(), "coffer-edit-"))
  installSignalHandler()
  liveDirs.add(path)
  return {
    path,
    inMemory: chosen.inMemory,
    remove: () => {
      rmSync(path, { recursive: true, force: true })
      liveDirs.delete(path)
    },
  }
}

/**
 * Writes plaintext into a new 0600 file in a private directory.
 * @param dir the private directory
 * @param name the file name to use (its base name is kept, so editors pick the syntax)
 * @param content the plaintext
 * @returns the file's path
 * @throws IoError-like EditorError when the file can't be created
 */
export async function writePlaintextFile(
  dir: PrivateDir,
  name: string,
  content: Uint8Array,
): Promise<string> {
  const path = join(dir.path, basename(name) || "secret")
  try {
    // "wx": O_CREAT|O_EXCL, mode 0600 from the start.
    const handle = await open(path, "wx", 0o600)
    try {
      await handle.writeFile(content)
    } finally {
      await handle.close()
    }
  } catch (cause) {
    throw new EditorError(
      `can't create the temporary plaintext file: ${describeSystemError(cause)}`,
      {
        cause,
      },
    )
  }
  return path
}

/**
 * Reads a plaintext file back after editing.
 * @returns its bytes, or undefined when the editor removed it (or never created it)
 */
export async function readPlaintextFile(path: string): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(await readFile(path))
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === "ENOENT") return undefined
    throw new EditorError(`can't read the edited file back: ${describeSystemError(cause)}`, {
      cause,
    })
  }
}

/**
 * The editor command from the environment: the first non-empty variable of `variables`,
 * else `vi`.
 * @param env the environment
 * @param variables the variables to look at, in order (sops: SOPS_EDITOR, EDITOR, VISUAL)
 */
export function chooseEditor(
  env: Readonly<Record<string, string | undefined>>,
  variables: readonly string[] = ["EDITOR", "VISUAL"],
): string {
  for (const name of variables) {
    const value = env[name]?.trim()
    if (value !== undefined && value !== "") return value
  }
  return "vi"
}

/**
 * Runs the editor on a file, attached to the terminal, and waits for it.
 * @param command the editor command line (shell words, e.g. `code --wait`)
 * @param file the file to edit (passed as one argument, never through the shell's parser)
 * @param env the environment for the editor
 * @throws EditorError when it can't start or exits with a failure status
 */
export function runEditor(
  command: string,
  file: string,
  env: Readonly<Record<string, string | undefined>>,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("/bin/sh", ["-c", `${command} "$1"`, "coffer-editor", file], {
      stdio: "inherit",
      env,
    })
    child.on("error", (cause) => {
      reject(new EditorError(`can't start the editor: ${describeSystemError(cause)}`, { cause }))
    })
    child.on("close", (status, signal) => {
      if (status === 0) {
        resolve()
        return
      }
      const how = signal === null ? `exit status ${String(status)}` : `signal ${signal}`
      reject(
        new EditorError(
          `the editor ${JSON.stringify(command)} failed (${how}): nothing was changed`,
          {
            hints: ["set EDITOR to the editor you want, e.g. EDITOR=nano"],
          },
        ),
      )
    })
  })
}
