/**
 * What the root install tests share: throwaway users and groups (removed after the test,
 * also when it fails), ed25519 host keys made by `ssh-keygen`, sops files encrypted to
 * them, and small readers for what an install left on the disk.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import { randomBytes } from "node:crypto"
import { lstatSync, readFileSync, readdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import type { TestContext } from "node:test"
import { generateX25519Identity } from "../../src/age/x25519.js"
import { sshPublicKeyToAge } from "../../src/keys/ssh-to-age.js"
import { encryptFile } from "../../src/sops/index.js"
import type { Namespace } from "../support/namespace.js"
import { requireRoot, requireTool } from "../support/tools.js"

/** A system user and its primary group. */
export interface Accounts {
  readonly user: string
  readonly group: string
  readonly uid: number
  readonly gid: number
}

/** A system user and its group with random names, removed after the test. */
export function createAccounts(t: TestContext): Accounts {
  const suffix = randomBytes(3).toString("hex")
  const group = `cftg${suffix}`
  const user = `cftu${suffix}`
  t.after(() => {
    spawnSync("userdel", [user], { stdio: "ignore" })
    spawnSync("groupdel", [group], { stdio: "ignore" })
  })
  execFileSync("groupadd", ["--system", group])
  execFileSync("useradd", [
    "--system",
    "--no-create-home",
    "--shell",
    "/usr/sbin/nologin",
    "-g",
    group,
    user,
  ])
  const uid = Number(execFileSync("id", ["-u", user], { encoding: "utf8" }).trim())
  const gid = Number(execFileSync("id", ["-g", user], { encoding: "utf8" }).trim())
  return { user, group, uid, gid }
}

/** The gid the installer gives generations: `keys`, else `nogroup`, else 0. */
export function keysGid(): number {
  for (const name of ["keys", "nogroup"]) {
    const r = spawnSync("getent", ["group", name], { encoding: "utf8" })
    if (r.status === 0) return Number(r.stdout.split(":")[2])
  }
  return 0
}

/** An ed25519 host key made by ssh-keygen. */
export interface HostKey {
  readonly path: string
  /** The native `ssh-ed25519 AAAA…` recipient. */
  readonly sshRecipient: string
  /** Its ssh-to-age `age1…` recipient. */
  readonly ageRecipient: string
}

/** Makes an ed25519 host key in `dir`. */
export function hostKey(dir: string, name = "ssh_host_ed25519_key"): HostKey {
  const path = join(dir, name)
  execFileSync("ssh-keygen", ["-t", "ed25519", "-N", "", "-q", "-C", "test-host", "-f", path])
  const sshRecipient = readFileSync(`${path}.pub`, "utf8").trim()
  return { path, sshRecipient, ageRecipient: sshPublicKeyToAge(sshRecipient) }
}

/** Writes a sops file of `text` encrypted to one age recipient. */
export async function sopsFile(
  path: string,
  format: "yaml" | "json",
  text: string,
  recipient: string,
): Promise<void> {
  writeFileSync(
    path,
    await encryptFile(text, format, { keyGroups: [{ age: [recipient], pgp: [] }] }),
  )
}

/** A recipient nobody on the host holds the identity of. */
export function otherRecipient(): string {
  return generateX25519Identity().toRecipient().encode()
}

/** The permission bits of a path, not following a link. */
export function modeOf(path: string): number {
  return lstatSync(path).mode & 0o7777
}

/** Every file under a directory (relative paths, sorted), not following links. */
export function filesUnder(dir: string, prefix = ""): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    const st = lstatSync(path)
    if (st.isDirectory()) out.push(...filesUnder(path, `${prefix}${name}/`))
    else out.push(`${prefix}${name}`)
  }
  return out.sort()
}

/** The tools every root install test needs; false (skipped) or a throw under CI. */
export function requireInstallTools(t: TestContext): boolean {
  return (
    requireRoot(t, "mounts a ramfs and chowns to test users") &&
    requireTool(t, "unshare", "util-linux") &&
    requireTool(t, "nsenter", "util-linux") &&
    requireTool(t, "ssh-keygen", "openssh-client") &&
    requireTool(t, "useradd", "passwd") &&
    requireTool(t, "age", "age")
  )
}

/** A manifest secret entry with sops-nix's defaults; `extra` overrides. */
export function secretEntry(
  name: string,
  sopsFilePath: string,
  symlinkPath: string,
  extra: Readonly<Record<string, unknown>> = {},
): Record<string, unknown> {
  return {
    name,
    key: name,
    path: `${symlinkPath}/${name}`,
    format: "yaml",
    mode: "0400",
    owner: null,
    uid: 0,
    group: null,
    gid: 0,
    sopsFile: sopsFilePath,
    restartUnits: [],
    reloadUnits: [],
    neededForUsers: false,
    ...extra,
  }
}

/** A process in a namespace whose output is collected as it comes. */
export interface Running {
  readonly child: ChildProcess
  stdout: string
  stderr: string
  /** Its exit status (null when killed by a signal). */
  readonly exited: Promise<number | null>
}

/** Starts node with `args` in the namespace, collecting its output. */
export function startInNamespace(
  ns: Namespace,
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Running {
  const child = spawn(
    "nsenter",
    ["--target", String(ns.pid), "--mount", "--", process.execPath, ...args],
    { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] },
  )
  const running: Running = {
    child,
    stdout: "",
    stderr: "",
    exited: new Promise((resolve) => {
      child.once("close", (code) => {
        resolve(code)
      })
    }),
  }
  child.stdout.on("data", (d: Buffer) => (running.stdout += d.toString("utf8")))
  child.stderr.on("data", (d: Buffer) => (running.stderr += d.toString("utf8")))
  return running
}

/** Kills (by PID) a child still running when the test ends. */
export function stopAfter(t: TestContext, running: Running): void {
  t.after(async () => {
    if (running.child.exitCode === null && running.child.signalCode === null) {
      running.child.kill("SIGKILL")
      await running.exited
    }
  })
}

/** "PID: command line" of running (not zombie) processes that mention `text` (a gpg-agent). */
export function processesMentioning(text: string): string[] {
  const found: string[] = []
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, "utf8").replaceAll("\0", " ")
      const stat = readFileSync(`/proc/${name}/stat`, "utf8")
      if (cmdline.includes(text) && !stat.includes(") Z ")) found.push(`${name}: ${cmdline}`)
    } catch {
      // gone meanwhile
    }
  }
  return found
}
