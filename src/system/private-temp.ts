/**
 * Private temporary directories for plaintext (docs/goals.md "Editing is safe";
 * docs/formats/sops.md "Commands": `edit`, `exec-file`): a fresh 0700 directory on a
 * RAM-backed file system where one exists (`$XDG_RUNTIME_DIR`, then `/dev/shm`, checked
 * against `/proc/self/mountinfo`); a disk only when `COFFER_TMPDIR` asks for it (with a
 * warning), else an error. Files inside are created 0600 with O_EXCL.
 *
 * The directory is removed on every exit path: `remove()` in a `finally`, and on SIGINT,
 * SIGTERM and SIGHUP a synchronous handler removes it (and stops the child the command is
 * waiting for) before the process exits with 128 + the signal number. So no plaintext
 * outlives the command, even when it is interrupted. A process killed with SIGKILL can't do
 * that: its directory's name carries its PID (and PID namespace), and the next coffer
 * command that makes one removes directories whose process is gone, and says so.
 */
import type { ChildProcess } from "node:child_process"
import {
  closeSync,
  constants,
  lstatSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
} from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { IoError } from "../internal/errors.js"

/** A private directory that is removed when the command ends, however it ends. */
export interface PrivateTempDir {
  /** The directory's absolute path (mode 0700). */
  readonly path: string
  /** Whether it lives on a RAM-backed file system (tmpfs, ramfs). */
  readonly onRam: boolean
  /** Removes the directory and everything in it; safe to call more than once. */
  remove(): void
  /** While the command waits for `child`, a signal also stops the child. */
  attachChild(child: ChildProcess | undefined): void
}

const RAM_FILE_SYSTEMS = new Set(["tmpfs", "ramfs"])

const live = new Set<{ remove(): void; child: ChildProcess | undefined }>()
const SIGNAL_CODES = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const
let handlersInstalled = false

function onSignal(signal: keyof typeof SIGNAL_CODES): void {
  for (const entry of live) {
    try {
      if (entry.child !== undefined && entry.child.exitCode === null) entry.child.kill("SIGTERM")
    } catch {
      // the child is already gone
    }
    entry.remove()
  }
  // Other handlers for this signal (replace-file.ts removes its temp file) run right after
  // this one in the same emit; exit once they had their turn.
  if (process.listenerCount(signal) <= 1) process.exit(SIGNAL_CODES[signal])
  setImmediate(() => process.exit(SIGNAL_CODES[signal]))
}

function installHandlers(): void {
  if (handlersInstalled) return
  handlersInstalled = true
  for (const signal of Object.keys(SIGNAL_CODES) as (keyof typeof SIGNAL_CODES)[]) {
    process.on(signal, () => {
      onSignal(signal)
    })
  }
}

/**
 * Unescapes a mountinfo path field (`\040` is a space).
 */
function unescapeMount(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) =>
    String.fromCharCode(Number.parseInt(oct, 8)),
  )
}

/**
 * The file-system type of the mount holding `dir`, from `/proc/self/mountinfo`.
 * @param dir an existing directory
 * @param mountinfo the file's text (for tests); read from /proc when absent
 * @returns the type (`tmpfs`, `ext4`...), or undefined when it cannot be told
 */
export function fileSystemTypeOf(dir: string, mountinfo?: string): string | undefined {
  let text = mountinfo
  let real = dir
  try {
    text ??= readFileSync("/proc/self/mountinfo", "utf8")
    if (mountinfo === undefined) real = realpathSync(dir)
  } catch {
    return undefined
  }
  let best: { point: string; type: string } | undefined
  for (const line of text.split("\n")) {
    // id parent major:minor root mount-point options [optional...] - fstype source super
    const fields = line.split(" ")
    const point = fields[4]
    const dash = fields.indexOf("-", 6)
    const type = dash === -1 ? undefined : fields[dash + 1]
    if (point === undefined || type === undefined) continue
    const mountPoint = unescapeMount(point)
    const inside = mountPoint === "/" || real === mountPoint || real.startsWith(`${mountPoint}/`)
    // later lines over-mount earlier ones at the same point: >= keeps the last
    if (inside && (best === undefined || mountPoint.length >= best.point.length)) {
      best = { point: mountPoint, type }
    }
  }
  return best?.type
}

function usableDirectory(dir: string | undefined): dir is string {
  if (dir === undefined || dir === "") return false
  try {
    const st = statSync(dir)
    return st.isDirectory()
  } catch {
    return false
  }
}

/** Where plaintext may go when nothing forces a place: RAM-backed file systems only. */
function ramCandidates(env: NodeJS.ProcessEnv): (string | undefined)[] {
  return [env["XDG_RUNTIME_DIR"], "/dev/shm"]
}

/**
 * Where plaintext may go: the first RAM-backed candidate, else the OS temp directory.
 * @param env the environment (for `XDG_RUNTIME_DIR`)
 * @param candidates the directories to try, in order (default `$XDG_RUNTIME_DIR`, `/dev/shm`)
 * @returns the parent directory and whether it is RAM-backed
 */
export function choosePrivateTempParent(
  env: NodeJS.ProcessEnv,
  candidates: readonly (string | undefined)[] = ramCandidates(env),
): {
  readonly parent: string
  readonly onRam: boolean
} {
  for (const candidate of candidates) {
    if (!usableDirectory(candidate)) continue
    const type = fileSystemTypeOf(candidate)
    if (type !== undefined && RAM_FILE_SYSTEMS.has(type)) return { parent: candidate, onRam: true }
  }
  return { parent: tmpdir(), onRam: false }
}

/** This process's PID namespace (its inode), so a sweep leaves other containers' alone. */
function pidNamespace(): string {
  try {
    return /\[(\d+)\]/.exec(readlinkSync("/proc/self/ns/pid"))?.[1] ?? "0"
  } catch {
    return "0"
  }
}

/** `coffer-<pid namespace>-<pid>-XXXXXX`: what `createPrivateTempDir` names its directories. */
const OWN_DIRECTORY = /^coffer-(\d+)-(\d+)-[A-Za-z0-9]{6}$/

function processIsGone(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return false
  } catch (error) {
    // EPERM: it exists and belongs to someone else
    return (error as NodeJS.ErrnoException).code === "ESRCH"
  }
}

/**
 * Removes private directories that coffer processes of this user left in `parents` when
 * they were killed without a chance to clean up (`kill -9` during `edit`): a directory named
 * by `createPrivateTempDir` in this PID namespace whose process no longer exists.
 * @param parents the directories to look in
 * @param warn told about each directory removed (its path and the process that left it)
 * @returns the directories removed
 */
export function removeStalePrivateDirs(
  parents: readonly (string | undefined)[],
  warn: (message: string) => void,
): string[] {
  const namespace = pidNamespace()
  const uid = process.getuid?.()
  const removed: string[] = []
  for (const parent of new Set(parents)) {
    if (!usableDirectory(parent)) continue
    let names: string[]
    try {
      names = readdirSync(parent)
    } catch {
      continue
    }
    for (const name of names) {
      const match = OWN_DIRECTORY.exec(name)
      if (match === null || match[1] !== namespace) continue
      const pid = Number(match[2])
      if (pid === process.pid || !processIsGone(pid)) continue
      const path = join(parent, name)
      try {
        const st = lstatSync(path)
        if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) continue
        rmSync(path, { recursive: true, force: true })
      } catch {
        continue
      }
      removed.push(path)
      warn(
        `removed ${path}: plaintext left behind by coffer process ${String(pid)}, which was killed before it could clean up`,
      )
    }
  }
  return removed
}

/**
 * A writer waiting in open() for a FIFO's reader (`plaintext-file.ts` `feedFifo`) holds a
 * thread of libuv's pool, and Node's exit waits for it: opening each FIFO's read end without
 * blocking, and closing it, lets the writer go (it then gets EPIPE).
 */
function releaseFifoWriters(dir: string): void {
  try {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isFIFO()) continue
      try {
        closeSync(openSync(join(dir, entry.name), constants.O_RDONLY | constants.O_NONBLOCK))
      } catch {
        // gone already
      }
    }
  } catch {
    // the directory is gone already
  }
}

/**
 * Creates a private directory for plaintext and registers it for removal on signals.
 * Directories left by killed coffer processes are removed first (`removeStalePrivateDirs`).
 * @param env the environment (`XDG_RUNTIME_DIR`; `COFFER_TMPDIR` forces a parent, for tests
 *   and for systems whose RAM file system is elsewhere, or to accept a disk)
 * @param warn receives the warning when the forced parent is not RAM-backed, and one for
 *   each stale directory removed
 * @param candidates the RAM-backed places to try (default `$XDG_RUNTIME_DIR`, `/dev/shm`)
 * @returns the directory
 * @throws IoError when no candidate is RAM-backed and COFFER_TMPDIR is not set
 */
export function createPrivateTempDir(
  env: NodeJS.ProcessEnv,
  warn: (message: string) => void,
  candidates: readonly (string | undefined)[] = ramCandidates(env),
): PrivateTempDir {
  const forced = env["COFFER_TMPDIR"]
  const isForced = forced !== undefined && forced !== ""
  removeStalePrivateDirs([...candidates, tmpdir(), isForced ? forced : undefined], warn)
  const chosen = isForced
    ? {
        parent: forced,
        onRam: RAM_FILE_SYSTEMS.has(fileSystemTypeOf(forced) ?? ""),
      }
    : choosePrivateTempParent(env, candidates)
  if (!chosen.onRam) {
    if (!isForced) {
      throw new IoError(
        "no RAM-backed file system for the plaintext (looked at $XDG_RUNTIME_DIR and /dev/shm): coffer does not put plaintext on a disk unless asked",
        {
          hints: [
            `set COFFER_TMPDIR to a directory (${tmpdir()}, say) to use it anyway: the plaintext is removed afterwards, but a disk may keep a copy`,
          ],
        },
      )
    }
    warn(
      `${chosen.parent} (COFFER_TMPDIR) is not a RAM-backed file system: the plaintext goes to a disk while you work, and is removed afterwards`,
    )
  }
  installHandlers()
  // mkdtemp creates the directory with mode 0700
  const path = mkdtempSync(join(chosen.parent, `coffer-${pidNamespace()}-${String(process.pid)}-`))
  const entry = {
    child: undefined as ChildProcess | undefined,
    remove: (): void => {
      releaseFifoWriters(path)
      try {
        rmSync(path, { recursive: true, force: true })
      } catch {
        // best effort: nothing else to do on the way out
      }
      live.delete(entry)
    },
  }
  live.add(entry)
  return {
    path,
    onRam: chosen.onRam,
    remove: entry.remove,
    attachChild: (child) => {
      entry.child = child
    },
  }
}
