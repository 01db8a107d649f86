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
 * @returns when the writer is done (see `unblockFifo` for a reader that never came)
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
 * If no reader ever opened the FIFO, `feedFifo`'s writer is still waiting in open():
 * opening the read end (without blocking) and closing it lets the writer finish (it then
 * gets EPIPE).
 */
export function unblockFifo(path: string): void {
  try {
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK)
    closeSync(fd)
  } catch {
    // already gone
  }
}
