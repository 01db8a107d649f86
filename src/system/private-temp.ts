/**
 * Private temporary directories for plaintext (docs/goals.md "Editing is safe";
 * docs/formats/sops.md "Commands": `edit`, `exec-file`): a fresh 0700 directory on a
 * RAM-backed file system where one exists (`$XDG_RUNTIME_DIR`, then `/dev/shm`, checked
 * against `/proc/self/mountinfo`), else the OS temp directory with a warning. Files inside
 * are created 0600 with O_EXCL.
 *
 * The directory is removed on every exit path: `remove()` in a `finally`, and on SIGINT,
 * SIGTERM and SIGHUP a synchronous handler removes it (and stops the child the command is
 * waiting for) before the process exits with 128 + the signal number. So no plaintext
 * outlives the command, even when it is interrupted.
 */
import type { ChildProcess } from "node:child_process"
import {
  closeSync,
  constants,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  statSync,
} from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

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

/**
 * Where plaintext may go: the first RAM-backed candidate, else the OS temp directory.
 * @param env the environment (for `XDG_RUNTIME_DIR`)
 * @returns the parent directory and whether it is RAM-backed
 */
export function choosePrivateTempParent(env: NodeJS.ProcessEnv): {
  readonly parent: string
  readonly onRam: boolean
} {
  for (const candidate of [env["XDG_RUNTIME_DIR"], "/dev/shm"]) {
    if (!usableDirectory(candidate)) continue
    const type = fileSystemTypeOf(candidate)
    if (type !== undefined && RAM_FILE_SYSTEMS.has(type)) return { parent: candidate, onRam: true }
  }
  return { parent: tmpdir(), onRam: false }
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
 * @param env the environment (`XDG_RUNTIME_DIR`; `COFFER_TMPDIR` forces a parent, for tests
 *   and for systems whose RAM file system is elsewhere)
 * @param warn receives the warning when no RAM-backed file system was found
 * @returns the directory
 */
export function createPrivateTempDir(
  env: NodeJS.ProcessEnv,
  warn: (message: string) => void,
): PrivateTempDir {
  const forced = env["COFFER_TMPDIR"]
  const chosen =
    forced !== undefined && forced !== ""
      ? {
          parent: forced,
          onRam: RAM_FILE_SYSTEMS.has(fileSystemTypeOf(forced) ?? ""),
        }
      : choosePrivateTempParent(env)
  if (!chosen.onRam) {
    warn(
      `no RAM-backed file system found (XDG_RUNTIME_DIR, /dev/shm): the plaintext goes to ${chosen.parent} while you work, and is removed afterwards`,
    )
  }
  installHandlers()
  // mkdtemp creates the directory with mode 0700
  const path = mkdtempSync(join(chosen.parent, "coffer-"))
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
