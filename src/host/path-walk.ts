/**
 * Opening a directory the way systemd-tmpfiles and `chase()` with `CHASE_SAFE` do
 * (docs/host-install.md "Walking paths"), so that root's writes at a path cannot be
 * redirected by whoever owns a directory on it (issue 18 item 2):
 *
 * - the path is walked one component at a time, each opened `O_NOFOLLOW|O_DIRECTORY`
 *   relative to the directory before it (through `/proc/self/fd/N/<name>`, Node's stand-in
 *   for `openat`), so nothing is resolved twice and nothing can be swapped in between;
 * - a symlink is followed only by hand, and, when `safe`, every step must be a safe
 *   transition: from a directory (or symlink) owned by root to anything, or between things
 *   of the same owner. Going from one user's directory or symlink to something another
 *   user (root included) owns is refused, naming the component;
 * - missing directories are created (when asked) and owned by the owner of the directory
 *   they are made in, so the chain stays one owner's and the next walk finds it safe.
 *
 * Operations on entries of the opened directory go through `entry(name)`, which names the
 * entry inside that very directory whatever happens to its path afterwards.
 */
import { constants } from "node:fs"
import type { Stats } from "node:fs"
import type { FileHandle } from "node:fs/promises"
import { lstat, mkdir, open, readlink } from "node:fs/promises"
import { posix } from "node:path"
import { UnsafePathError } from "./errors.js"

/** A directory opened by `openDirectory`. */
export interface OpenedDirectory {
  /** The path as asked for (for messages). */
  readonly path: string
  /** The directory's status when it was opened. */
  readonly stat: Stats
  /**
   * @param name one path component (no `/`)
   * @returns a path that reaches `name` inside this very directory (`/proc/self/fd/N/name`)
   */
  entry(name: string): string
  /** @returns where the directory really is now (its path after symlinks) */
  realPath(): Promise<string>
  /** fsyncs the directory. */
  sync(): Promise<void>
  close(): Promise<void>
}

/** How to walk. */
export interface WalkOptions {
  /**
   * Refuse unsafe transitions (systemd's `CHASE_SAFE`). Only meaningful for a privileged
   * process: an unprivileged one can only reach what its user may.
   */
  readonly safe: boolean
  /** Create missing directories with this mode; absent: a missing one is an error. */
  readonly create?: number | undefined
  /** Refuse any directory on the way that root does not own (for the secret filesystem). */
  readonly rootOwned?: boolean | undefined
}

const DIRECTORY_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW
/** As the kernel's limit on symlinks in one lookup. */
const MAX_SYMLINKS = 40

function errnoOf(e: unknown): string | undefined {
  return e instanceof Error ? (e as NodeJS.ErrnoException).code : undefined
}

function owner(uid: number): string {
  return uid === 0 ? "root" : `uid ${String(uid)}`
}

/**
 * systemd's `unsafe_transition()`: from something root owns, anything goes; otherwise the
 * next step must have the same owner.
 */
function unsafeTransition(from: Stats, to: Stats): boolean {
  return from.uid !== 0 && from.uid !== to.uid
}

function viaProc(handle: FileHandle, name: string): string {
  return `/proc/self/fd/${String(handle.fd)}/${name}`
}

function opened(path: string, handle: FileHandle, stat: Stats): OpenedDirectory {
  return {
    path,
    stat,
    entry: (name) => viaProc(handle, name),
    realPath: () => readlink(`/proc/self/fd/${String(handle.fd)}`),
    sync: () => handle.sync(),
    close: () => handle.close(),
  }
}

/**
 * Opens the directory at `path` without following a symlink it should not follow.
 * @param path an absolute, normalised path
 * @param options whether to check transitions, create missing directories, require root
 * @returns the open directory; close it when done
 * @throws UnsafePathError naming the component that is an unsafe transition, a symlink
 *   loop, or not a directory; the errno error when a component is missing (no `create`)
 */
export async function openDirectory(path: string, options: WalkOptions): Promise<OpenedDirectory> {
  let handle = await open("/", DIRECTORY_FLAGS)
  try {
    let previous = await handle.stat()
    /** The path walked so far, as the caller would spell it (for messages). */
    let walked = "/"
    /** The symlink the current components came from, if any (for messages). */
    let through: { readonly path: string; readonly target: string } | undefined
    const todo = path.split("/").filter((c) => c !== "" && c !== ".")
    let symlinks = 0

    const step = async (next: FileHandle, nextStat: Stats, nextPath: string): Promise<void> => {
      if (options.safe && unsafeTransition(previous, nextStat)) {
        await next.close()
        throw unsafe(previous, nextStat, walked, nextPath, through)
      }
      if (options.rootOwned === true && nextStat.uid !== 0) {
        await next.close()
        throw new UnsafePathError(
          `"${nextPath}" is owned by ${owner(nextStat.uid)}, not root: the secret filesystem must sit in directories only root can change`,
          { hints: ["choose a secretsMountPoint and symlinkPath under directories root owns"] },
        )
      }
      await handle.close()
      handle = next
      previous = nextStat
      walked = nextPath
    }

    while (todo.length > 0) {
      const name = todo.shift() as string
      if (name === "..") {
        const parent = await open(viaProc(handle, ".."), DIRECTORY_FLAGS)
        await step(parent, await parent.stat(), posix.dirname(walked))
        continue
      }
      const child = viaProc(handle, name)
      const childPath = posix.join(walked, name)
      let next: FileHandle
      try {
        next = await open(child, DIRECTORY_FLAGS)
      } catch (e) {
        const code = errnoOf(e)
        if (code === "ENOENT" && options.create !== undefined) {
          await createDirectory(handle, previous, name, options.create)
          todo.unshift(name)
          continue
        }
        if (code !== "ENOTDIR") throw e
        const st = await lstat(child)
        if (st.isDirectory()) {
          todo.unshift(name) // it was swapped for a directory meanwhile: open that
          continue
        }
        if (!st.isSymbolicLink()) {
          throw new UnsafePathError(`"${childPath}" is not a directory`, {
            hints: [`"${path}" needs "${childPath}" to be a directory`],
          })
        }
        if (++symlinks > MAX_SYMLINKS) {
          throw new UnsafePathError(`"${path}" has too many levels of symlinks`)
        }
        if (options.safe && unsafeTransition(previous, st)) {
          throw unsafe(previous, st, walked, childPath, through)
        }
        const target = await readlink(child)
        // the symlink's own status is where the next step comes from (as chase() does)
        previous = st
        through = { path: childPath, target }
        todo.unshift(...target.split("/").filter((c) => c !== "" && c !== "."))
        if (target.startsWith("/")) {
          const root = await open("/", DIRECTORY_FLAGS)
          await step(root, await root.stat(), "/")
        }
        continue
      }
      await step(next, await next.stat(), childPath)
    }
    return opened(path, handle, previous)
  } catch (e) {
    await handle.close().catch(() => undefined)
    throw e
  }
}

async function createDirectory(
  parent: FileHandle,
  parentStat: Stats,
  name: string,
  mode: number,
): Promise<void> {
  try {
    await mkdir(viaProc(parent, name), { mode: 0o700 })
  } catch (e) {
    if (errnoOf(e) === "EEXIST") return // made meanwhile: the caller opens whatever is there
    throw e
  }
  // through the open directory, never through a path. In a user's directory, what coffer
  // makes is that user's, so the next walk stays on one owner's directories. The mode is
  // set explicitly: the install unit's UMask=0077 would otherwise hide the links below.
  const made = await open(viaProc(parent, name), DIRECTORY_FLAGS)
  try {
    if (parentStat.uid !== 0) await made.chown(parentStat.uid, parentStat.gid)
    await made.chmod(mode)
  } finally {
    await made.close()
  }
}

function unsafe(
  from: Stats,
  to: Stats,
  fromPath: string,
  toPath: string,
  through: { readonly path: string; readonly target: string } | undefined,
): UnsafePathError {
  const hints = [
    "as root, coffer does not go from one user's directory or symlink to something another user owns: that user could redirect the write",
    "use the real directory in the path, or give the link and its directory to root",
  ]
  if (from.isSymbolicLink() && through !== undefined) {
    return new UnsafePathError(
      `"${through.path}" is a symlink owned by ${owner(from.uid)} to "${through.target}": refusing to follow it, as "${toPath}" belongs to ${owner(to.uid)}`,
      { hints },
    )
  }
  const what = to.isSymbolicLink() ? "a symlink" : "a directory"
  return new UnsafePathError(
    `"${toPath}" is ${what} owned by ${owner(to.uid)} inside "${fromPath}", which ${owner(from.uid)} owns: refusing to go on`,
    { hints },
  )
}
