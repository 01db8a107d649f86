/**
 * Replacing a file atomically (docs/conventions.md "Pure core, effects at the edges":
 * `io.replaceFile`; docs/goals.md "Capabilities": "replacement is atomic and keeps the file mode").
 *
 * The new content goes to a temp file in the same directory (so the rename stays on one
 * file system), created exclusively with mode 0600 so no one else can read it while it is
 * written, flushed to disk, given the original file's mode (and owner, when we may), then
 * renamed over the original (over the file a symbolic link points to, keeping the link,
 * unless the content is plaintext). Readers see the old file or the new one, never a mix. On any
 * failure, or on Ctrl-C, the temp file is removed: no plaintext is left behind.
 */
import { randomBytes } from "node:crypto"
import { closeSync, fsyncSync, openSync, unlinkSync } from "node:fs"
import { chmod, chown, lstat, open, realpath, rename, stat, unlink } from "node:fs/promises"
import { basename, dirname, join } from "node:path"
import { IoError } from "../internal/errors.js"
import { describeSystemError } from "./system-error.js"

const pendingTemps = new Set<string>()
let signalHandlerInstalled = false

function installSignalHandler(): void {
  if (signalHandlerInstalled) return
  signalHandlerInstalled = true
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      for (const temp of pendingTemps) {
        try {
          unlinkSync(temp)
        } catch {
          // already gone
        }
      }
      process.exit(signal === "SIGINT" ? 130 : signal === "SIGTERM" ? 143 : 129)
    })
  }
}

/** How `replaceFile` treats what is at the path already. */
export interface ReplaceOptions {
  /**
   * The content is plaintext (`decrypt --output`): the file is 0600 whatever mode an existing
   * one had (its owner is kept), and a symbolic link at the path is refused rather than
   * replaced by a file or written through.
   */
  readonly plaintext?: boolean
}

/**
 * Writes `content` to `path` atomically, keeping the mode (and owner) of the file it
 * replaces; a new file gets mode 0600 unless `newFileMode` says otherwise.
 * @param path the file to replace (or create)
 * @param content the new bytes
 * @param newFileMode the mode when `path` does not exist yet
 * @param options `plaintext`: always 0600, never over a symbolic link
 * @throws IoError naming the path when anything fails (the original is then untouched)
 */
export async function replaceFile(
  path: string,
  content: Uint8Array | string,
  newFileMode = 0o600,
  options: ReplaceOptions = {},
): Promise<void> {
  let mode = newFileMode
  let owner: { uid: number; gid: number } | undefined
  let target = path
  try {
    if (options.plaintext === true && (await lstat(path)).isSymbolicLink()) {
      throw new IoError(
        `${JSON.stringify(path)} is a symbolic link: coffer does not write plaintext through it or replace it`,
        {
          hints: [
            "give the path of the file it points to, or remove the link first",
            "the link and its target were left unchanged",
          ],
        },
      )
    }
    // An encrypted file reached through a symbolic link (a dotfiles checkout, say) is
    // replaced where the link points, and the link stays: sops writes through it too
    // (os.Create follows links), only not atomically.
    if (options.plaintext !== true && (await lstat(path)).isSymbolicLink()) {
      target = await realpath(path)
    }
    const st = await stat(target)
    if (!st.isFile()) throw new IoError(`${JSON.stringify(path)} is not a regular file`)
    mode = options.plaintext === true ? 0o600 : st.mode & 0o7777
    owner = { uid: st.uid, gid: st.gid }
  } catch (e) {
    if (e instanceof IoError) throw e
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new IoError(`can't replace ${JSON.stringify(path)}: ${describeSystemError(e)}`, {
        cause: e,
      })
    }
  }
  const temp = join(
    dirname(target),
    `.${basename(target)}.coffer-${randomBytes(6).toString("hex")}.tmp`,
  )
  installSignalHandler()
  pendingTemps.add(temp)
  try {
    // "wx": O_CREAT|O_EXCL, never following a planted symlink; 0600 while the content is written.
    const handle = await open(temp, "wx", 0o600)
    try {
      await handle.writeFile(content)
      await handle.sync()
    } finally {
      await handle.close()
    }
    if (owner !== undefined && process.getuid?.() === 0) await chown(temp, owner.uid, owner.gid)
    await chmod(temp, mode)
    await rename(temp, target)
    pendingTemps.delete(temp)
    syncDirectory(dirname(target))
  } catch (e) {
    await unlink(temp).catch(() => undefined)
    pendingTemps.delete(temp)
    throw new IoError(`can't write ${JSON.stringify(path)}: ${describeSystemError(e)}`, {
      cause: e,
      hints: ["the original file was left unchanged"],
    })
  }
}

/** Makes the rename durable; best effort (some file systems refuse fsync on directories). */
function syncDirectory(dir: string): void {
  let fd: number | undefined
  try {
    fd = openSync(dir, "r")
    fsyncSync(fd)
  } catch {
    // not fatal: the rename itself is already atomic
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}
