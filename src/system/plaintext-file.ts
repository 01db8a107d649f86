/**
 * Handing plaintext to another program through a private directory (sops's `exec-file`;
 * docs/formats/sops.md "Commands"): a regular file created 0600 with O_EXCL, or a FIFO
 * (mode 0600) that holds nothing on disk and can be read once. Both go into a directory from
 * `private-temp.ts`, which removes them on every exit path.
 */
import { spawnSync } from "node:child_process"
import { closeSync, constants, openSync, writeFileSync } from "node:fs"
import { open } from "node:fs/promises"
import { IoError } from "../internal/errors.js"

/**
 * Writes plaintext into a new regular file: mode 0600, failing (never following) when
 * something is already at `path`.
 * @param path the file, inside a private directory
 * @param plaintext the bytes
 * @throws the system error when the file can't be created or written
 */
export function writeNewPrivateFile(path: string, plaintext: Uint8Array): void {
  writeFileSync(path, plaintext, { mode: 0o600, flag: "wx" })
}

/**
 * Creates a FIFO with mode 0600 (`mkfifo -m 600`).
 * @param path the FIFO, inside a private directory
 * @param dir that directory, for the message
 * @throws IoError when it can't be created
 */
export function createFifo(path: string, dir: string): void {
  const made = spawnSync("mkfifo", ["-m", "600", path], {
    stdio: ["ignore", "ignore", "pipe"],
    encoding: "utf8",
  })
  if (made.status !== 0) {
    throw new IoError(`can't create a FIFO in ${dir}: ${made.stderr.trim() || "mkfifo failed"}`, {
      hints: ["use --no-fifo to pass a regular file instead"],
    })
  }
}

/**
 * Writes the plaintext into the FIFO once a reader opens it; errors (no reader, a reader
 * that stopped reading) are ignored.
 * @returns when the writer is done (see `finishFifo` for a reader that never came)
 */
export async function feedFifo(path: string, plaintext: Uint8Array): Promise<void> {
  try {
    const handle = await open(path, "w")
    try {
      await handle.writeFile(plaintext)
    } finally {
      await handle.close()
    }
  } catch {
    // the command never read it, or stopped reading (EPIPE): nothing to do
  }
}

/**
 * Ends `feedFifo` once the command that was meant to read the FIFO has exited. A writer that
 * no reader ever came for waits in open() on a thread of libuv's pool; opening the read end
 * (without blocking) and closing it lets that open() return, and the write then fails with
 * EPIPE. That writer may not have reached open() yet when the command exits (the pool's
 * threads are late under load), so the read end is opened again every few milliseconds
 * until the writer is done. Without this, the open() would block the thread forever, and
 * with it the process's exit (Node waits for the pool's threads).
 * @param path the FIFO
 * @param writing what `feedFifo` returned
 */
export async function finishFifo(path: string, writing: Promise<void>): Promise<void> {
  let done = false
  const finished = writing.then(() => {
    done = true
  })
  while (!done) {
    unblockFifo(path)
    await Promise.race([
      finished,
      new Promise<void>((resolve) => {
        setTimeout(resolve, 5)
      }),
    ])
  }
}

/**
 * Opens the FIFO's read end without blocking and closes it again: a writer waiting in
 * open() gets its reader, then EPIPE.
 * @param path the FIFO (already removed: nothing happens)
 */
export function unblockFifo(path: string): void {
  try {
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK)
    closeSync(fd)
  } catch {
    // already gone
  }
}
