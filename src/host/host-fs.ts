/**
 * The `HostFs` port: every effect the installer (`apply.ts`) has on the machine, and its
 * real implementation on Linux (docs/host/sops-nix-manifest.md "The install, step by step"
 * steps 4, 8-10, 13-15; docs/agenix.md "The activation").
 *
 * - Is a path a mount point, and of which filesystem type (`/proc/self/mountinfo`)?
 * - Mount a ramfs (or a tmpfs with `noswap`, retried without it on kernels that refuse
 *   the option) with `nodev,nosuid,noexec,mode=0751`, owned root:keys.
 * - Write a generation without ever following a symlink: the generation directory is
 *   created fresh (mode 0751, root:keys) by us, every file is created `O_EXCL|O_NOFOLLOW`
 *   with mode 0600, then `fchown`ed and `fchmod`ed to its final owner and mode and
 *   `fsync`ed, all before the generation becomes visible through the symlink.
 * - Switch the stable symlink atomically: a new symlink under a temporary name, then
 *   `rename` over the old one, so readers see the old generation or the new one, never
 *   nothing.
 * - Reach every place outside the secret filesystem (the mount point, the stable link,
 *   custom-path links) through `openDirectory` (`path-walk.ts`): no symlink a user could
 *   plant is followed as root, and the last step happens inside the directory that was
 *   checked. Only links coffer made are ever replaced (issue 18 items 2 and 4).
 * - Users and groups come from `/etc/passwd` and `/etc/group` (parsed here, not NSS), so a
 *   lookup is the same inside a fresh container and in tests.
 */
import { spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { constants } from "node:fs"
import type { Stats } from "node:fs"
import type { FileHandle } from "node:fs/promises"
import {
  chown,
  chmod,
  lchown,
  lstat,
  mkdir,
  open,
  readFile,
  readdir,
  readlink,
  realpath,
  rename,
  rm,
  symlink,
  unlink,
  appendFile,
  writeFile,
} from "node:fs/promises"
import { basename, dirname, join, posix } from "node:path"
import { HostFsError, LinkInTheWayError, SecretFsMountError, UnsafePathError } from "./errors.js"
import type { HeldLock, LockOptions } from "./install-lock.js"
import { acquireInstallLock } from "./install-lock.js"
import type { OpenedDirectory } from "./path-walk.js"
import { openDirectory } from "./path-walk.js"

/** An entry of the previous generation, read without following symlinks. */
export type GenerationEntry =
  | {
      readonly kind: "file"
      readonly content: Uint8Array
      readonly uid: number
      readonly gid: number
      readonly mode: number
    }
  | { readonly kind: "dir"; readonly uid: number; readonly gid: number; readonly mode: number }
  | { readonly kind: "other" }

/** What `/proc/self/mountinfo` says about a directory. */
export interface MountState {
  /** Whether the directory itself is a mount point. */
  readonly mountPoint: boolean
  /** The type of the filesystem the directory lives on (`ramfs`, `tmpfs`, `ext4`…). */
  readonly fsType: string
}

/** Users and groups by name, from `/etc/passwd` and `/etc/group`. */
export interface Accounts {
  readonly users: ReadonlyMap<string, { readonly uid: number; readonly gid: number }>
  readonly groups: ReadonlyMap<string, number>
  /** gid → the user names `/etc/group` lists as its members (supplementary groups). */
  readonly members: ReadonlyMap<number, readonly string[]>
}

/** A file read together with its status at the time it was opened (a template file). */
export interface StatedFile {
  readonly content: Uint8Array
  readonly uid: number
  readonly gid: number
  readonly mode: number
}

/** A symlink to place at a secret's custom path. */
export interface LinkPlacement {
  readonly path: string
  readonly target: string
  readonly uid: number
  readonly gid: number
  /**
   * Whether a symlink already there, pointing at `current`, is one coffer made and may be
   * replaced (anything else in the way is refused).
   */
  readonly replaceable: (current: string) => boolean
}

/** How the secret filesystem should be mounted. */
export interface SecretFsOptions {
  /** tmpfs with `noswap` instead of ramfs (sops-nix `useTmpfs`). */
  readonly useTmpfs: boolean
  /** The group that owns the mount point (the `keys` group). */
  readonly gid: number
}

/** What `ensureSecretFs` did. */
export interface SecretFsResult {
  /** The filesystem type now at the mount point. */
  readonly fsType: string
  /** Whether this run mounted it (false: it was already mounted with the wanted type). */
  readonly mounted: boolean
  /** For tmpfs: whether `noswap` was accepted. */
  readonly noswap: boolean
}

/** The result of running a program (systemctl). */
export interface ProgramResult {
  readonly status: number | null
  readonly stderr: string
}

/** Every effect the installer needs. `systemHostFs` is the real one. */
export interface HostFs {
  /** Reads a whole file (a sops or age source, an identity file). */
  readFile(path: string): Promise<Uint8Array>
  /**
   * Reads a regular file with the owner and mode it has (following symlinks: the file read
   * is the one whose status is returned).
   * @throws HostFsError when it is not a regular file or larger than `maxBytes`
   */
  readStatedFile(path: string, maxBytes: number): Promise<StatedFile>
  /** Whether anything (even a dangling symlink) exists at `path`. */
  exists(path: string): Promise<boolean>
  /** @returns the symlink's target, or undefined when `path` is not a symlink */
  readSymlink(path: string): Promise<string | undefined>
  /** @returns the mount state of an existing directory */
  mountState(path: string): Promise<MountState>
  /** Users and groups (`/etc/passwd`, `/etc/group`). */
  readAccounts(): Promise<Accounts>
  /**
   * Creates the mount point (0751) and mounts the secret filesystem on it unless it is
   * already a mount of the wanted type; then sets root:gid and mode 0751. The mount point
   * must be a real directory, in directories root owns.
   * @throws SecretFsMountError when mounting fails; UnsafePathError, HostFsError when the
   *   mount point is a symlink, not a directory, or under a directory root does not own
   */
  ensureSecretFs(mountPoint: string, options: SecretFsOptions): Promise<SecretFsResult>
  /**
   * Creates a plain directory (user mode, or `--allow-persistent`), mode 0751.
   * @throws HostFsError when it is a symlink or not a directory
   */
  ensureDirectory(path: string): Promise<void>
  /**
   * Reads a generation directory recursively without following symlinks.
   * @returns relative path → entry, or an empty map when the directory does not exist
   */
  readGeneration(dir: string): Promise<ReadonlyMap<string, GenerationEntry>>
  /** Numbered generation directories under the mount point, ascending. */
  listGenerations(mountPoint: string): Promise<number[]>
  /** Removes a generation directory (or a leftover) recursively, not following symlinks. */
  removeTree(path: string): Promise<void>
  /** Creates a fresh directory (fails if anything is there), then chowns and chmods it. */
  createDirectory(path: string, uid: number, gid: number, mode: number): Promise<void>
  /** Creates a new file (`O_EXCL|O_NOFOLLOW`), writes, chowns, chmods and fsyncs it. */
  writeNewFile(
    path: string,
    content: Uint8Array,
    uid: number,
    gid: number,
    mode: number,
  ): Promise<void>
  /** fsyncs a directory. */
  syncDirectory(path: string): Promise<void>
  /**
   * Checks that the stable symlink can be switched: nothing is there yet, or a symlink
   * into `mountPoint` (one coffer or sops-nix made).
   * @throws LinkInTheWayError naming what is there instead; UnsafePathError
   */
  checkStableLink(linkPath: string, mountPoint: string): Promise<void>
  /**
   * Points `linkPath` at `target` atomically (temporary symlink + rename), after the same
   * check as `checkStableLink`.
   */
  switchSymlink(linkPath: string, target: string, mountPoint: string): Promise<void>
  /**
   * Places a symlink owned by uid:gid at a secret's custom `path`: leaves a correct one
   * alone, replaces one coffer made, refuses anything else.
   * @returns whether a link was written (false: the right one was there)
   * @throws LinkInTheWayError naming a directory, a regular file or a foreign link in the
   *   way; UnsafePathError for an unsafe component of the path
   */
  placeSymlink(link: LinkPlacement): Promise<boolean>
  /** The links coffer placed since the secret filesystem was made (path → target). */
  readLinkRecord(mountPoint: string): Promise<ReadonlyMap<string, string>>
  /** Replaces that record. */
  writeLinkRecord(mountPoint: string, links: ReadonlyMap<string, string>): Promise<void>
  /**
   * Takes the install lock of a secret filesystem (`<mountPoint>.lock`), waiting for
   * another install up to `options.timeoutMs` (`install-lock.ts`).
   * @returns the held lock; release it when the install is over
   * @throws InstallLockedError naming the holder
   */
  lockInstall(mountPoint: string, options: LockOptions): Promise<HeldLock>
  /** The names in a directory (an empty list when it does not exist). */
  listDirectory(path: string): Promise<string[]>
  /** Appends lines to a file (the NixOS activation restart lists). */
  appendLines(path: string, lines: readonly string[]): Promise<void>
  /** Runs a program without a shell (systemctl); never given secrets. */
  runProgram(argv: readonly string[]): Promise<ProgramResult>
}

/** Where the real implementation finds things; tests may point these elsewhere. */
export interface SystemHostFsOptions {
  readonly passwdPath?: string
  readonly groupPath?: string
  readonly mountInfoPath?: string
}

/**
 * Parses `/etc/passwd` text.
 * @returns user name → uid and primary gid (malformed lines are skipped)
 */
export function parsePasswd(
  text: string,
): Map<string, { readonly uid: number; readonly gid: number }> {
  const users = new Map<string, { uid: number; gid: number }>()
  for (const line of text.split("\n")) {
    const fields = line.split(":")
    const [name, , uid, gid] = fields
    if (name === undefined || name === "" || name.startsWith("#") || fields.length < 4) continue
    const u = parseId(uid)
    const g = parseId(gid)
    if (u === undefined || g === undefined || users.has(name)) continue
    users.set(name, { uid: u, gid: g })
  }
  return users
}

/**
 * The members `/etc/group` lists for each group (its fourth field).
 * @returns gid → user names (groups without members are absent)
 */
export function parseGroupMembers(text: string): Map<number, string[]> {
  const members = new Map<number, string[]>()
  for (const line of text.split("\n")) {
    const fields = line.split(":")
    const [name, , gid, list] = fields
    if (name === undefined || name === "" || name.startsWith("#") || fields.length < 4) continue
    const g = parseId(gid)
    if (g === undefined || list === undefined || list.trim() === "") continue
    const names = list
      .split(",")
      .map((n) => n.trim())
      .filter((n) => n !== "")
    members.set(g, [...(members.get(g) ?? []), ...names])
  }
  return members
}

/**
 * Whether a user could read a file themselves, from its owner, group and mode (as the
 * kernel decides for an unprivileged process; root reads everything).
 * @param file the file's owner, group and mode
 * @param user the reader's uid and every gid they have (primary and supplementary)
 * @returns true when the read permission bit that applies to them is set
 */
export function canRead(
  file: { readonly uid: number; readonly gid: number; readonly mode: number },
  user: { readonly uid: number; readonly gids: ReadonlySet<number> },
): boolean {
  if (user.uid === 0) return true
  if (file.uid === user.uid) return (file.mode & 0o400) !== 0
  if (user.gids.has(file.gid)) return (file.mode & 0o040) !== 0
  return (file.mode & 0o004) !== 0
}

/**
 * Parses `/etc/group` text.
 * @returns group name → gid (malformed lines are skipped)
 */
export function parseGroup(text: string): Map<string, number> {
  const groups = new Map<string, number>()
  for (const line of text.split("\n")) {
    const fields = line.split(":")
    const [name, , gid] = fields
    if (name === undefined || name === "" || name.startsWith("#") || fields.length < 3) continue
    const g = parseId(gid)
    if (g === undefined || groups.has(name)) continue
    groups.set(name, g)
  }
  return groups
}

/**
 * Parses a decimal uid or gid.
 * @returns the id, or undefined when `text` is not a non-negative 32-bit decimal number
 */
export function parseId(text: string | undefined): number | undefined {
  if (text === undefined || !/^[0-9]{1,10}$/.test(text)) return undefined
  const n = Number(text)
  return n <= 0xfffffffe ? n : undefined
}

/** One line of `/proc/self/mountinfo`: the mount point and the filesystem type. */
export interface MountInfoEntry {
  readonly mountPoint: string
  readonly fsType: string
}

/**
 * Parses `/proc/self/mountinfo` (proc(5)): field 5 is the mount point (octal escapes
 * such as `\040` for a space), the field after the `-` separator is the type.
 * @returns the mounts in file order (later entries are stacked on top of earlier ones)
 */
export function parseMountInfo(text: string): MountInfoEntry[] {
  const entries: MountInfoEntry[] = []
  for (const line of text.split("\n")) {
    const fields = line.split(" ")
    const separator = fields.indexOf("-", 6)
    const mountPoint = fields[4]
    const fsType = separator === -1 ? undefined : fields[separator + 1]
    if (mountPoint === undefined || fsType === undefined) continue
    entries.push({ mountPoint: unescapeMountField(mountPoint), fsType })
  }
  return entries
}

function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) =>
    String.fromCharCode(parseInt(octal, 8)),
  )
}

/**
 * The mount state of a directory given the mount table.
 * @param path an absolute, symlink-free path
 * @returns whether it is a mount point and the type of the filesystem it lives on
 */
export function mountStateOf(entries: readonly MountInfoEntry[], path: string): MountState {
  let best: MountInfoEntry | undefined
  for (const entry of entries) {
    const m = entry.mountPoint
    const inside = m === "/" || path === m || path.startsWith(m.endsWith("/") ? m : `${m}/`)
    // the last entry among the longest matches is the one on top
    if (inside && (best === undefined || m.length >= best.mountPoint.length)) best = entry
  }
  return {
    mountPoint: best !== undefined && best.mountPoint === path,
    fsType: best?.fsType ?? "unknown",
  }
}

/** The file in the mount point that records the custom-path links coffer placed. */
export const LINK_RECORD = ".coffer-links.json"

/**
 * Parses the link record; a damaged one counts as empty (it only ever widens what may be
 * replaced, so losing it is safe).
 * @returns link path → the target coffer gave it
 */
export function parseLinkRecord(text: string): Map<string, string> {
  const out = new Map<string, string>()
  try {
    const value: unknown = JSON.parse(text)
    if (typeof value !== "object" || value === null) return out
    const links = (value as { links?: unknown }).links
    if (typeof links !== "object" || links === null) return out
    for (const [path, target] of Object.entries(links)) {
      if (typeof target === "string") out.set(path, target)
    }
  } catch {
    // damaged: empty
  }
  return out
}

/** @returns the record's text */
export function formatLinkRecord(links: ReadonlyMap<string, string>): string {
  return `${JSON.stringify({ version: 1, links: Object.fromEntries(links) }, null, 2)}\n`
}

/** Filesystem types that live in memory only. */
export const MEMORY_FS_TYPES: ReadonlySet<string> = new Set(["ramfs", "tmpfs"])

function isErrno(e: unknown, code: string): boolean {
  return e instanceof Error && (e as NodeJS.ErrnoException).code === code
}

function describe(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code
    return code === undefined ? e.message : code.toLowerCase()
  }
  return String(e)
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path)
  } catch (e) {
    if (isErrno(e, "ENOENT")) return undefined
    throw e
  }
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return "a directory"
  if (st.isFile()) return "a regular file"
  if (st.isSymbolicLink()) return "a symlink"
  if (st.isFIFO()) return "a named pipe"
  if (st.isSocket()) return "a socket"
  return "a device"
}

function isInsideDirectory(path: string, dir: string): boolean {
  const base = dir.endsWith("/") ? dir : `${dir}/`
  return path === dir || path.startsWith(base)
}

/** A temporary name beside `name` in its directory; random, so it never meets a file. */
function temporaryName(name: string): string {
  return `.${name}.coffer-${randomBytes(6).toString("hex")}`
}

/** Names `temporaryName` gave for `name`: leftovers of a killed run. */
function isTemporaryNameOf(entry: string, name: string): boolean {
  const prefix = `.${name}.coffer-`
  return entry.startsWith(prefix) && /^[0-9a-f]{12}$/.test(entry.slice(prefix.length))
}

/**
 * Removes symlinks a killed run left under temporary names for `name` (only symlinks: a
 * temporary name holds nothing else, and anything else is not coffer's).
 */
async function removeTemporaryLinks(dir: OpenedDirectory, name: string): Promise<void> {
  for (const entry of await readdir(dir.entry("."))) {
    if (!isTemporaryNameOf(entry, name)) continue
    const st = await lstat(dir.entry(entry)).catch(() => undefined)
    if (st?.isSymbolicLink() === true) await unlink(dir.entry(entry)).catch(() => undefined)
  }
}

/**
 * Makes a symlink to `target` under a temporary name in `dir`, lets `prepare` adjust it,
 * then renames it over `name`: one atomic replacement, inside the directory that was
 * checked.
 */
async function renameNewLink(
  dir: OpenedDirectory,
  name: string,
  target: string,
  prepare: (temporary: string) => Promise<void>,
): Promise<void> {
  await removeTemporaryLinks(dir, name)
  const temporary = dir.entry(temporaryName(name))
  await symlink(target, temporary)
  try {
    await prepare(temporary)
    await rename(temporary, dir.entry(name))
  } catch (e) {
    await unlink(temporary).catch(() => undefined)
    throw e
  }
}

/** Whether this process may change what others own (then paths are walked safely). */
function privileged(): boolean {
  return process.geteuid?.() === 0
}

/**
 * What is at the stable symlink's place, refused unless it is nothing or a symlink into
 * the mount point.
 * @throws LinkInTheWayError naming it
 */
async function checkStableEntry(
  dir: OpenedDirectory,
  linkPath: string,
  mountPoint: string,
): Promise<void> {
  const current = await lstatOrUndefined(dir.entry(basename(linkPath)))
  if (current === undefined) return
  const hints = [
    "nothing was changed; move it away, or choose another symlinkPath",
    `coffer replaces only a symlink into secretsMountPoint "${mountPoint}"`,
  ]
  if (!current.isSymbolicLink()) {
    throw new LinkInTheWayError(
      `symlinkPath "${linkPath}" is ${kindOf(current)}, not a link coffer made`,
      { hints },
    )
  }
  const target = await readlink(dir.entry(basename(linkPath)))
  if (!isInsideDirectory(posix.normalize(target), mountPoint) || target === mountPoint) {
    throw new LinkInTheWayError(
      `symlinkPath "${linkPath}" is a symlink to "${target}", not to a generation in "${mountPoint}"`,
      { hints },
    )
  }
}

function runProgram(argv: readonly string[], extraFd?: number): Promise<ProgramResult> {
  const [program, ...args] = argv
  if (program === undefined) return Promise.resolve({ status: 127, stderr: "empty command" })
  return new Promise((resolve) => {
    const child = spawn(program, args, {
      stdio:
        extraFd === undefined
          ? ["ignore", "ignore", "pipe"]
          : ["ignore", "ignore", "pipe", extraFd],
    })
    const err: Buffer[] = []
    child.stderr?.on("data", (d: Buffer) => err.push(d))
    child.on("error", (e) => {
      resolve({ status: 127, stderr: describe(e) })
    })
    child.on("close", (status) => {
      resolve({ status, stderr: Buffer.concat(err).toString("utf8").trim() })
    })
  })
}

/**
 * The real host: `node:fs`, `/proc/self/mountinfo`, `mount(8)`, `/etc/passwd`.
 * @param options alternative locations of the account and mount tables
 * @returns the port
 */
export function systemHostFs(options: SystemHostFsOptions = {}): HostFs {
  const passwdPath = options.passwdPath ?? "/etc/passwd"
  const groupPath = options.groupPath ?? "/etc/group"
  const mountInfoPath = options.mountInfoPath ?? "/proc/self/mountinfo"

  async function mountState(path: string): Promise<MountState> {
    const real = await realpath(path)
    const text = await readFile(mountInfoPath, "utf8")
    return mountStateOf(parseMountInfo(text), real)
  }

  /**
   * Mounts on the directory open as `fd`: mount(8) gets it as its fd 3 and mounts on
   * `/proc/self/fd/3` without canonicalising, so the kernel mounts on that very directory.
   */
  async function mountAs(fsType: string, opts: string, fd: number): Promise<ProgramResult> {
    // no secret is ever in these arguments: only the type, options and the mount point
    return runProgram(
      ["mount", "--no-canonicalize", "-t", fsType, "-o", opts, "none", "/proc/self/fd/3"],
      fd,
    )
  }

  /**
   * The mount point's directory: its parents walked safely (root's only, when privileged),
   * the mount point itself created when missing and refused when it is a symlink or not a
   * directory.
   */
  async function openMountPoint(
    mountPoint: string,
  ): Promise<{ parent: OpenedDirectory; name: string }> {
    const safe = privileged()
    const parent = await openDirectory(dirname(mountPoint), {
      safe,
      create: 0o755,
      rootOwned: safe,
    })
    const name = basename(mountPoint)
    try {
      const st = await lstatOrUndefined(parent.entry(name))
      if (st === undefined) {
        await mkdir(parent.entry(name), { mode: 0o700 }).catch((e: unknown) => {
          if (!isErrno(e, "EEXIST")) throw e
        })
      } else if (st.isSymbolicLink()) {
        throw new UnsafePathError(
          `secretsMountPoint "${mountPoint}" is a symlink to "${await readlink(parent.entry(name))}": coffer mounts only on a real directory`,
          { hints: ["remove the link, or set secretsMountPoint to the directory it points at"] },
        )
      } else if (!st.isDirectory()) {
        throw new UnsafePathError(
          `secretsMountPoint "${mountPoint}" is ${kindOf(st)}, not a directory`,
          { hints: ["move it away, or choose another secretsMountPoint"] },
        )
      } else if (safe && st.uid !== 0) {
        throw new UnsafePathError(
          `secretsMountPoint "${mountPoint}" is owned by uid ${String(st.uid)}, not root`,
          { hints: ["the secret filesystem is mounted only on a directory root owns"] },
        )
      }
      return { parent, name }
    } catch (e) {
      await parent.close()
      throw e
    }
  }

  /** Opens the mount point itself (never through a symlink). */
  async function openEntryDirectory(parent: OpenedDirectory, name: string) {
    try {
      return await open(
        parent.entry(name),
        constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW,
      )
    } catch (e) {
      throw new UnsafePathError(
        `"${join(parent.path, name)}" is no longer a directory: ${describe(e)}`,
        { cause: e },
      )
    }
  }

  async function readTree(
    root: string,
    rel: string,
    out: Map<string, GenerationEntry>,
  ): Promise<void> {
    const dir = rel === "" ? root : join(root, rel)
    for (const name of await readdir(dir)) {
      const childRel = rel === "" ? name : `${rel}/${name}`
      const path = join(root, childRel)
      const st = await lstat(path)
      if (st.isDirectory()) {
        out.set(childRel, { kind: "dir", uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 })
        await readTree(root, childRel, out)
      } else if (st.isFile()) {
        // O_NOFOLLOW: the entry was a file a moment ago; never follow a link swapped in
        const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW)
        try {
          const content = new Uint8Array(await handle.readFile())
          out.set(childRel, {
            kind: "file",
            content,
            uid: st.uid,
            gid: st.gid,
            mode: st.mode & 0o7777,
          })
        } finally {
          await handle.close()
        }
      } else {
        out.set(childRel, { kind: "other" })
      }
    }
  }

  async function mountSecretFs(
    parent: OpenedDirectory,
    name: string,
    mountPoint: string,
    opts: SecretFsOptions,
  ): Promise<SecretFsResult> {
    const wanted = opts.useTmpfs ? "tmpfs" : "ramfs"
    const stateOf = async (dir: FileHandle): Promise<MountState> => {
      const real = await readlink(`/proc/self/fd/${String(dir.fd)}`)
      return mountStateOf(parseMountInfo(await readFile(mountInfoPath, "utf8")), real)
    }
    let mounted = false
    let noswap = false
    const under = await openEntryDirectory(parent, name)
    try {
      const state = await stateOf(under)
      if (!state.mountPoint || state.fsType !== wanted) {
        const base = "nodev,nosuid,noexec,mode=0751"
        let result: ProgramResult
        if (opts.useTmpfs) {
          // docs/host/sops-nix-manifest.md "The install, step by step", step 4: noswap
          // keeps secrets out of swap; kernels before 6.4 refuse it
          result = await mountAs("tmpfs", `${base},noswap`, under.fd)
          noswap = result.status === 0
          if (result.status !== 0) result = await mountAs("tmpfs", base, under.fd)
        } else {
          result = await mountAs("ramfs", base, under.fd)
        }
        if (result.status !== 0) {
          throw new SecretFsMountError(
            `could not mount a ${wanted} on "${mountPoint}": ${result.stderr || `mount exited with status ${String(result.status)}`}`,
            {
              hints: [
                "the installer must run as root (or with CAP_SYS_ADMIN) to mount the secret filesystem",
                "--allow-persistent writes to the directory as it is, which may put plaintext on disk",
              ],
            },
          )
        }
        mounted = true
      }
    } finally {
      await under.close()
    }
    // the mounted filesystem's root, reached again through the checked parent: root:keys
    // 0751 (o+x so owners can open their files, sops-nix PR #97)
    const top = await openEntryDirectory(parent, name)
    try {
      await top.chown(0, opts.gid)
      await top.chmod(0o751)
      const after = await stateOf(top)
      return { fsType: after.fsType, mounted, noswap }
    } finally {
      await top.close()
    }
  }

  return {
    async readFile(path: string): Promise<Uint8Array> {
      return new Uint8Array(await readFile(path))
    },

    async readStatedFile(path: string, maxBytes: number): Promise<StatedFile> {
      // O_NONBLOCK: a named pipe must not hang the install before fstat says what it is
      const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK)
      try {
        const st = await handle.stat()
        if (!st.isFile()) {
          throw new HostFsError(`"${path}" is ${kindOf(st)}, not a regular file`)
        }
        if (st.size > maxBytes) {
          throw new HostFsError(
            `"${path}" is ${String(st.size)} bytes, more than the ${String(maxBytes)} allowed`,
          )
        }
        const content = new Uint8Array(await handle.readFile())
        return { content, uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 }
      } finally {
        await handle.close()
      }
    },

    async exists(path: string): Promise<boolean> {
      return (await lstatOrUndefined(path)) !== undefined
    },

    async readSymlink(path: string): Promise<string | undefined> {
      try {
        return await readlink(path)
      } catch (e) {
        if (isErrno(e, "ENOENT") || isErrno(e, "EINVAL")) return undefined
        throw e
      }
    },

    mountState,

    async readAccounts(): Promise<Accounts> {
      const read = async (path: string): Promise<string> => {
        try {
          return await readFile(path, "utf8")
        } catch (e) {
          if (isErrno(e, "ENOENT")) return ""
          throw e
        }
      }
      const groupText = await read(groupPath)
      return {
        users: parsePasswd(await read(passwdPath)),
        groups: parseGroup(groupText),
        members: parseGroupMembers(groupText),
      }
    },

    async ensureSecretFs(mountPoint: string, opts: SecretFsOptions): Promise<SecretFsResult> {
      const { parent, name } = await openMountPoint(mountPoint)
      try {
        return await mountSecretFs(parent, name, mountPoint, opts)
      } finally {
        await parent.close()
      }
    },

    async ensureDirectory(path: string): Promise<void> {
      const { parent, name } = await openMountPoint(path)
      try {
        const dir = await openEntryDirectory(parent, name)
        try {
          await dir.chmod(0o751)
        } finally {
          await dir.close()
        }
      } finally {
        await parent.close()
      }
    },
    async readGeneration(dir: string): Promise<ReadonlyMap<string, GenerationEntry>> {
      const out = new Map<string, GenerationEntry>()
      const st = await lstatOrUndefined(dir)
      if (st === undefined || !st.isDirectory()) return out
      await readTree(dir, "", out)
      return out
    },

    async listGenerations(mountPoint: string): Promise<number[]> {
      let names: string[]
      try {
        names = await readdir(mountPoint)
      } catch (e) {
        if (isErrno(e, "ENOENT")) return []
        throw e
      }
      return names
        .filter((n) => /^[1-9][0-9]{0,8}$/.test(n))
        .map(Number)
        .sort((a, b) => a - b)
    },

    async removeTree(path: string): Promise<void> {
      // fs.rm removes symlinks themselves and never descends through them
      await rm(path, { recursive: true, force: true })
    },

    async createDirectory(path: string, uid: number, gid: number, mode: number): Promise<void> {
      // mkdir fails with EEXIST if anything (a symlink included) is already there
      await mkdir(path, { mode: 0o700 })
      await chown(path, uid, gid)
      await chmod(path, mode)
    },

    async writeNewFile(
      path: string,
      content: Uint8Array,
      uid: number,
      gid: number,
      mode: number,
    ): Promise<void> {
      // O_EXCL|O_NOFOLLOW: never open something that is already there, link or not; 0600
      // while the content goes in, the final owner and mode before anyone can see it
      const handle = await open(
        path,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        0o600,
      )
      try {
        await handle.writeFile(content)
        await handle.chown(uid, gid)
        // chmod after chown: chown clears set-id bits
        await handle.chmod(mode)
        await handle.sync()
      } finally {
        await handle.close()
      }
    },

    async syncDirectory(path: string): Promise<void> {
      const handle = await open(path, constants.O_RDONLY | constants.O_DIRECTORY)
      try {
        await handle.sync()
      } finally {
        await handle.close()
      }
    },

    async checkStableLink(linkPath: string, mountPoint: string): Promise<void> {
      const dir = await openDirectory(dirname(linkPath), { safe: privileged() }).catch(
        (e: unknown) => {
          if (isErrno(e, "ENOENT")) return undefined // made when the link is switched
          throw e
        },
      )
      if (dir === undefined) return
      try {
        await checkStableEntry(dir, linkPath, mountPoint)
      } finally {
        await dir.close()
      }
    },

    async switchSymlink(linkPath: string, target: string, mountPoint: string): Promise<void> {
      const dir = await openDirectory(dirname(linkPath), { safe: privileged(), create: 0o755 })
      try {
        await checkStableEntry(dir, linkPath, mountPoint)
        await renameNewLink(dir, basename(linkPath), target, () => Promise.resolve())
        await dir.sync()
      } finally {
        await dir.close()
      }
    },

    async placeSymlink(link: LinkPlacement): Promise<boolean> {
      const dir = await openDirectory(dirname(link.path), { safe: privileged(), create: 0o755 })
      try {
        const name = basename(link.path)
        const current = await lstatOrUndefined(dir.entry(name))
        if (current !== undefined) {
          if (current.isSymbolicLink()) {
            const points = await readlink(dir.entry(name))
            if (points === link.target && current.uid === link.uid && current.gid === link.gid) {
              return false
            }
            if (points !== link.target && !link.replaceable(points)) {
              throw new LinkInTheWayError(
                `"${link.path}" is a symlink to "${points}" that coffer did not make`,
              )
            }
          } else if (current.isFile()) {
            throw new LinkInTheWayError(`"${link.path}" is a regular file coffer did not make`)
          } else {
            throw new LinkInTheWayError(`"${link.path}" is ${kindOf(current)}`)
          }
        }
        await renameNewLink(dir, name, link.target, (temporary) =>
          lchown(temporary, link.uid, link.gid),
        )
        return true
      } finally {
        await dir.close()
      }
    },

    async readLinkRecord(mountPoint: string): Promise<ReadonlyMap<string, string>> {
      let text: string
      try {
        text = await readFile(join(mountPoint, LINK_RECORD), "utf8")
      } catch (e) {
        if (isErrno(e, "ENOENT")) return new Map()
        throw e
      }
      return parseLinkRecord(text)
    },

    async writeLinkRecord(mountPoint: string, links: ReadonlyMap<string, string>): Promise<void> {
      const temporary = join(mountPoint, temporaryName(LINK_RECORD))
      await writeFile(temporary, formatLinkRecord(links), { mode: 0o600, flag: "wx" })
      await rename(temporary, join(mountPoint, LINK_RECORD))
    },

    async lockInstall(mountPoint: string, options: LockOptions): Promise<HeldLock> {
      const safe = privileged()
      const dir = await openDirectory(dirname(mountPoint), {
        safe,
        create: 0o755,
        rootOwned: safe,
      })
      try {
        const held = await acquireInstallLock(
          {
            display: `${mountPoint}.lock`,
            name: `${basename(mountPoint)}.lock`,
            entry: (name) => dir.entry(name),
          },
          mountPoint,
          options,
        )
        return {
          release: async () => {
            try {
              await held.release()
            } finally {
              await dir.close()
            }
          },
        }
      } catch (e) {
        await dir.close()
        throw e
      }
    },

    async listDirectory(path: string): Promise<string[]> {
      try {
        return await readdir(path)
      } catch (e) {
        if (isErrno(e, "ENOENT")) return []
        throw e
      }
    },

    async appendLines(path: string, lines: readonly string[]): Promise<void> {
      if (lines.length === 0) return
      await appendFile(path, lines.map((l) => `${l}\n`).join(""), { mode: 0o644 })
    },

    runProgram,
  }
}
