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
 * - Users and groups come from `/etc/passwd` and `/etc/group` (parsed here, not NSS), so a
 *   lookup is the same inside a fresh container and in tests.
 */
import { spawn } from "node:child_process"
import { constants } from "node:fs"
import type { Stats } from "node:fs"
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
} from "node:fs/promises"
import { dirname, join } from "node:path"
import { HostFsError } from "./errors.js"

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
  /** Reads a whole file (a sops or age source, an identity file, a template file). */
  readFile(path: string): Promise<Uint8Array>
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
   * already a mount of the wanted type; then sets root:gid and mode 0751.
   * @throws HostFsError when mounting fails
   */
  ensureSecretFs(mountPoint: string, options: SecretFsOptions): Promise<SecretFsResult>
  /** Creates a plain directory (user mode, or `--allow-persistent`), mode 0751. */
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
  /** Points `linkPath` at `target` atomically (temporary symlink + rename). */
  switchSymlink(linkPath: string, target: string): Promise<void>
  /**
   * Places a symlink owned by uid:gid at `linkPath` (a secret's custom `path`); leaves a
   * correct one alone; replaces a file or a wrong link; refuses a directory.
   */
  placeSymlink(linkPath: string, target: string, uid: number, gid: number): Promise<void>
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

function runProgram(argv: readonly string[]): Promise<ProgramResult> {
  const [program, ...args] = argv
  if (program === undefined) return Promise.resolve({ status: 127, stderr: "empty command" })
  return new Promise((resolve) => {
    const child = spawn(program, args, { stdio: ["ignore", "ignore", "pipe"] })
    const err: Buffer[] = []
    child.stderr.on("data", (d: Buffer) => err.push(d))
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

  async function mountAs(fsType: string, opts: string, mountPoint: string): Promise<ProgramResult> {
    // no secret is ever in these arguments: only the type, options and the mount point
    return runProgram(["mount", "-t", fsType, "-o", opts, "none", mountPoint])
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

  return {
    async readFile(path: string): Promise<Uint8Array> {
      return new Uint8Array(await readFile(path))
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
      return {
        users: parsePasswd(await read(passwdPath)),
        groups: parseGroup(await read(groupPath)),
      }
    },

    async ensureSecretFs(mountPoint: string, opts: SecretFsOptions): Promise<SecretFsResult> {
      await mkdir(dirname(mountPoint), { recursive: true, mode: 0o755 })
      await mkdir(mountPoint, { recursive: true, mode: 0o751 })
      const wanted = opts.useTmpfs ? "tmpfs" : "ramfs"
      const state = await mountState(mountPoint)
      let mounted = false
      let noswap = false
      if (!state.mountPoint || state.fsType !== wanted) {
        const base = "nodev,nosuid,noexec,mode=0751"
        let result: ProgramResult
        if (opts.useTmpfs) {
          // docs/host/sops-nix-manifest.md "The install, step by step", step 4: noswap
          // keeps secrets out of swap; kernels before 6.4 refuse it
          result = await mountAs("tmpfs", `${base},noswap`, mountPoint)
          noswap = result.status === 0
          if (result.status !== 0) result = await mountAs("tmpfs", base, mountPoint)
        } else {
          result = await mountAs("ramfs", base, mountPoint)
        }
        if (result.status !== 0) {
          throw new HostFsError(
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
      } else {
        noswap = false
      }
      // the mount point: root:keys 0751 (o+x so owners can open their files, sops-nix PR #97)
      await chown(mountPoint, 0, opts.gid)
      await chmod(mountPoint, 0o751)
      const after = await mountState(mountPoint)
      return { fsType: after.fsType, mounted, noswap }
    },

    async ensureDirectory(path: string): Promise<void> {
      await mkdir(dirname(path), { recursive: true, mode: 0o755 })
      await mkdir(path, { recursive: true, mode: 0o751 })
      await chmod(path, 0o751)
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

    async switchSymlink(linkPath: string, target: string): Promise<void> {
      await mkdir(dirname(linkPath), { recursive: true, mode: 0o755 })
      const temporary = `${linkPath}.coffer-new`
      const leftover = await lstatOrUndefined(temporary)
      if (leftover !== undefined) {
        if (!leftover.isSymbolicLink()) {
          throw new HostFsError(`"${temporary}" exists and is not a symlink`, {
            hints: ["remove it by hand; coffer only ever leaves a symlink there"],
          })
        }
        await unlink(temporary)
      }
      await symlink(target, temporary)
      const current = await lstatOrUndefined(linkPath)
      // docs/host/sops-nix-manifest.md "The install, step by step", step 8: something that
      // is not a symlink at the link path is removed
      if (current !== undefined && current.isDirectory()) await rm(linkPath, { recursive: true })
      await rename(temporary, linkPath)
      await this.syncDirectory(dirname(linkPath))
    },

    async placeSymlink(linkPath: string, target: string, uid: number, gid: number): Promise<void> {
      await mkdir(dirname(linkPath), { recursive: true, mode: 0o755 })
      const current = await lstatOrUndefined(linkPath)
      if (current !== undefined) {
        if (current.isSymbolicLink()) {
          const points = await readlink(linkPath)
          if (points === target && current.uid === uid && current.gid === gid) return
        } else if (current.isDirectory()) {
          throw new HostFsError(`"${linkPath}" is a directory, not a place for a secret's link`, {
            hints: ["move the directory away or choose another path for the secret"],
          })
        }
      }
      const temporary = `${linkPath}.coffer-new`
      if ((await lstatOrUndefined(temporary)) !== undefined) await unlink(temporary)
      await symlink(target, temporary)
      await lchown(temporary, uid, gid)
      await rename(temporary, linkPath)
    },

    async appendLines(path: string, lines: readonly string[]): Promise<void> {
      if (lines.length === 0) return
      await appendFile(path, lines.map((l) => `${l}\n`).join(""), { mode: 0o644 })
    },

    runProgram,
  }
}
