/**
 * The lock that keeps two installs of one secret filesystem from interleaving (issue 17
 * "Host install"; docs/host-install.md "One install at a time"): a boot-time unit and a
 * manual run, or two activations, take turns.
 *
 * The lock is a file beside the mount point (`/run/secrets.d.lock`), created `O_EXCL`,
 * holding who took it: PID, the process's start time (from `/proc/PID/stat`, so a reused
 * PID is not mistaken for the holder), the command line and when. A second install waits,
 * saying who holds it, up to a timeout. A lock whose holder is gone (killed with SIGKILL)
 * is stale: the next install removes it and says so. Taking a stale lock over is safe
 * against a third install doing the same at once: the stale file is renamed away first,
 * and put back if what was renamed turns out to be someone else's fresh lock.
 */
import { randomBytes } from "node:crypto"
import { constants } from "node:fs"
import { link, open, readFile, rename, stat, unlink } from "node:fs/promises"
import { setTimeout as sleep } from "node:timers/promises"
import { InstallLockedError } from "./errors.js"

/** Who holds a lock, as written in the lock file. */
export interface LockHolder {
  readonly pid: number
  /** The holder's start time in clock ticks since boot (`/proc/PID/stat` field 22). */
  readonly startTime: string
  /** The holder's command line (no secrets: coffer's arguments are paths and flags). */
  readonly command: string
  /** When it took the lock (ISO 8601). */
  readonly since: string
}

/** How to wait for a lock. */
export interface LockOptions {
  /** How long to wait for a live holder, in milliseconds. */
  readonly timeoutMs: number
  /** Told once when the lock is busy and waiting starts, and when a stale lock is removed. */
  readonly note: (line: string) => void
  /** Poll interval (ms); default 100. */
  readonly pollMs?: number
}

/** Where a lock file is. */
export interface LockLocation {
  /** Its path, for messages (`/run/secrets.d.lock`). */
  readonly display: string
  /** Its name in its directory. */
  readonly name: string
  /** A path that reaches `name` in the lock's directory (`OpenedDirectory.entry`). */
  entry(name: string): string
}

/** A held lock. */
export interface HeldLock {
  /** Releases it (removes the file if it is still this process's). */
  release(): Promise<void>
}

/**
 * The start time field of a `/proc/PID/stat` line (after the command in parentheses, which
 * may itself contain spaces and parentheses).
 * @returns field 22, or undefined for a malformed line
 */
export function startTimeOfStat(line: string): string | undefined {
  const end = line.lastIndexOf(")")
  if (end === -1) return undefined
  // fields after the command start at field 3 (state)
  const rest = line.slice(end + 2).split(" ")
  return rest[22 - 3]
}

async function startTimeOf(pid: number): Promise<string | undefined> {
  try {
    return startTimeOfStat(await readFile(`/proc/${String(pid)}/stat`, "utf8"))
  } catch {
    return undefined
  }
}

/**
 * Parses a lock file's text.
 * @returns the holder, or undefined when the text is not a complete record
 */
export function parseLockHolder(text: string): LockHolder | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockHolder> | null
    if (
      value === null ||
      typeof value.pid !== "number" ||
      typeof value.startTime !== "string" ||
      typeof value.command !== "string" ||
      typeof value.since !== "string"
    ) {
      return undefined
    }
    return {
      pid: value.pid,
      startTime: value.startTime,
      command: value.command,
      since: value.since,
    }
  } catch {
    return undefined
  }
}

/** @returns "PID 1234 (coffer install /etc/coffer/manifest.json)" */
export function describeHolder(holder: LockHolder): string {
  return `PID ${String(holder.pid)} (${holder.command})`
}

/** A lock file being written by its holder may be empty for a moment: that long. */
const WRITING_GRACE_MS = 5_000

type Probe =
  | { readonly state: "free" }
  | { readonly state: "live"; readonly holder: LockHolder | undefined; readonly text: string }
  | { readonly state: "stale"; readonly holder: LockHolder | undefined; readonly text: string }

async function probe(path: string): Promise<Probe> {
  let text: string
  let mtimeMs: number
  try {
    text = await readFile(path, "utf8")
    mtimeMs = (await stat(path)).mtimeMs
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { state: "free" }
    throw e
  }
  const holder = parseLockHolder(text)
  if (holder === undefined) {
    // just created, not written yet; or left half-written by a crash long ago
    const young = Date.now() - mtimeMs < WRITING_GRACE_MS
    return { state: young ? "live" : "stale", holder, text }
  }
  const alive = (await startTimeOf(holder.pid)) === holder.startTime
  return { state: alive ? "live" : "stale", holder, text }
}

/**
 * Takes the lock at `location`, waiting for a live holder up to `timeoutMs`.
 * @param location the lock file (`<secretsMountPoint>.lock`)
 * @param what what is locked, for messages (the mount point)
 * @returns the held lock; release it when the install is over
 * @throws InstallLockedError naming the holder when the wait times out
 */
export async function acquireInstallLock(
  location: LockLocation,
  what: string,
  options: LockOptions,
): Promise<HeldLock> {
  const path = location.entry(location.name)
  const shown = location.display
  const me: LockHolder = {
    pid: process.pid,
    startTime: (await startTimeOf(process.pid)) ?? "",
    command: process.argv.slice(1).join(" "),
    since: new Date().toISOString(),
  }
  const text = `${JSON.stringify(me)}\n`
  const deadline = Date.now() + options.timeoutMs
  let told = false
  for (;;) {
    try {
      const handle = await open(
        path,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        0o644,
      )
      try {
        await handle.writeFile(text)
      } finally {
        await handle.close()
      }
      return { release: () => releaseIfMine(path, text) }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
    }
    const found = await probe(path)
    if (found.state === "free") continue
    if (found.state === "stale") {
      if (await removeStale(location, found.text)) {
        options.note(
          found.holder === undefined
            ? `removed a stale lock "${shown}" (unreadable, left by an interrupted install)`
            : `removed a stale lock "${shown}" of ${describeHolder(found.holder)}, which is no longer running`,
        )
      }
      continue
    }
    if (Date.now() >= deadline) {
      const who = found.holder === undefined ? "another install" : describeHolder(found.holder)
      throw new InstallLockedError(
        `"${what}" is being installed by ${who}${found.holder === undefined ? "" : ` since ${found.holder.since}`}; waited ${seconds(options.timeoutMs)}`,
        {
          hints: [
            "run again when it has finished, or wait longer with --lock-timeout SECONDS",
            `if that process is not a coffer install, remove "${shown}"`,
          ],
        },
      )
    }
    if (!told) {
      told = true
      options.note(
        found.holder === undefined
          ? `waiting for another install of "${what}" to finish (lock "${shown}")`
          : `waiting for ${describeHolder(found.holder)}, installing "${what}" since ${found.holder.since}`,
      )
    }
    await sleep(Math.min(options.pollMs ?? 100, Math.max(1, deadline - Date.now())))
  }
}

/**
 * Removes a stale lock file whose text is `staleText`, never someone else's fresh one.
 * @returns whether the stale lock was removed by this call
 */
async function removeStale(location: LockLocation, staleText: string): Promise<boolean> {
  const path = location.entry(location.name)
  const aside = location.entry(`${location.name}.stale-${randomBytes(6).toString("hex")}`)
  try {
    await rename(path, aside)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false // someone else did
    throw e
  }
  const moved = await readFile(aside, "utf8").catch(() => "")
  if (moved !== staleText) {
    // between the probe and the rename another install took the lock: give it back
    await link(aside, path).catch(() => undefined)
  }
  await unlink(aside).catch(() => undefined)
  return moved === staleText
}

async function releaseIfMine(path: string, text: string): Promise<void> {
  const now = await readFile(path, "utf8").catch(() => undefined)
  if (now === text) await unlink(path).catch(() => undefined)
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${String(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`
}
