/**
 * Kill the installer at every step (issue 19 "Kill at every step", issue 17 "Host
 * install"), as root on a real ramfs in a private mount namespace:
 *
 * - between the named steps of the sequence, through `install-driver.js` (its step hook
 *   SIGKILLs the process);
 * - inside the operations themselves, through the real `bin/coffer` under `strace`, whose
 *   syscall tampering delivers SIGKILL as the process enters one chosen system call: a
 *   write into a generation file, its chown or fsync, the temporary stable link, the rename
 *   that switches it, the directory fsync after it, a custom-path link's rename, an unlink
 *   of the prune, and the lock file's write. `UV_THREADPOOL_SIZE=1` puts every
 *   file operation on one thread, so "the Nth rename" is the same rename on every run (strace
 *   counts per thread). Each kill is checked in strace's log: the process died inside the
 *   named system call, before it returned.
 *
 * After every kill the stable link is on a complete generation of one version, never older
 * than the last complete one; the next install clears what the kill left (lock, temporary
 * links, unpublished generations, a temporary keyring with its gpg-agent).
 */
import { test } from "node:test"
import type { TestContext } from "node:test"
import assert from "node:assert/strict"
import { copyFileSync, existsSync, readFileSync, readdirSync, readlinkSync, rmSync } from "node:fs"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { placeholderFor } from "../../src/host/template.js"
import { binPath, repoRoot, runCommand } from "../support/cli.js"
import type { RunResult } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { privateNamespace } from "../support/namespace.js"
import type { Namespace } from "../support/namespace.js"
import { requireTool } from "../support/tools.js"
import {
  filesUnder,
  hostKey,
  processesMentioning,
  requireInstallTools,
  secretEntry,
  sopsFile,
} from "./fixtures.js"

const driver = join(repoRoot, "dist", "test", "host", "install-driver.js")

/** A host with a manifest of four secrets, a template and a custom-path link. */
interface KillHost {
  readonly root: string
  readonly ns: Namespace
  readonly mount: string
  readonly link: string
  readonly manifest: string
  /** The custom path of s2. */
  readonly custom: string
  /** Encrypts version k of the source. */
  writeVersion(k: number): Promise<void>
  /** Checks the live generation is complete, of one version, not older than the last. */
  assertLiveComplete(what: string): number
  /** The generation the stable link points at. */
  liveGeneration(): number
}

const names = ["s1", "s2", "nested/s3", "nested/deeper/s4"]
const expectedFiles = [...names, "rendered/all.conf"].sort()

async function killHost(t: TestContext): Promise<KillHost> {
  const root = tmpTree(t, {})
  const ns = await privateNamespace(t)
  const key = hostKey(root)
  const source = join(root, "e.yaml")
  const mount = `${root}/run/secrets.d`
  const link = `${root}/run/secrets`
  const custom = `${root}/etc/app/s2`
  const manifest = join(root, "manifest.json")
  writeFileSync(
    manifest,
    JSON.stringify({
      secrets: names.map((name) =>
        secretEntry(name, source, link, name === "s2" ? { path: custom } : {}),
      ),
      templates: [
        {
          name: "all.conf",
          content: names.map((n) => placeholderFor(n)).join(" "),
          path: `${link}/rendered/all.conf`,
          mode: "0400",
        },
      ],
      placeholderBySecretName: Object.fromEntries(names.map((n) => [n, placeholderFor(n)])),
      secretsMountPoint: mount,
      symlinkPath: link,
      keepGenerations: 2,
      ageSshKeyPaths: [key.path],
    }),
  )
  let lastComplete = 0
  const liveGeneration = (): number => Number(readlinkSync(ns.inside(link)).split("/").pop())
  return {
    root,
    ns,
    mount,
    link,
    manifest,
    custom,
    writeVersion: (k) =>
      sopsFile(
        source,
        "yaml",
        `s1: v${String(k)}-s1\ns2: v${String(k)}-s2\nnested:\n  s3: v${String(k)}-s3\n  deeper:\n    s4: v${String(k)}-s4\n`,
        key.ageRecipient,
      ),
    liveGeneration,
    assertLiveComplete: (what) => {
      const dir = ns.inside(readlinkSync(ns.inside(link)))
      assert.deepEqual(filesUnder(dir), expectedFiles, `${what}: the live generation is complete`)
      // every file, the template included, comes from one version of the source
      const versions = new Set(
        expectedFiles.flatMap((f) =>
          readFileSync(join(dir, f), "utf8")
            .split(" ")
            .map((token) => token.split("-")[0] ?? ""),
        ),
      )
      assert.equal(versions.size, 1, `${what}: mixed versions ${[...versions].join(" ")}`)
      const k = Number([...versions][0]?.slice(1))
      assert.ok(
        k >= lastComplete,
        `${what}: went back from v${String(lastComplete)} to v${String(k)}`,
      )
      lastComplete = k
      return k
    },
  }
}

/** What the next clean install must leave: no lock, no temporary link, pruned, linked. */
function assertTidy(h: KillHost, r: RunResult): void {
  assert.equal(r.status, 0, r.stderr)
  assert.ok(!existsSync(`${h.mount}.lock`), "no lock is left")
  for (const dir of [`${h.root}/run`, `${h.root}/etc/app`]) {
    const temporary = readdirSync(dir).filter((n) => n.includes(".coffer-"))
    assert.deepEqual(temporary, [], `no temporary link is left in ${dir}`)
  }
  const generations = readdirSync(h.ns.inside(h.mount)).filter((n) => /^\d+$/.test(n))
  assert.ok(generations.length <= 2, `pruned to keepGenerations (${generations.join(" ")})`)
  assert.ok(
    generations.every((g) => Number(g) <= h.liveGeneration()),
    `no unpublished generation is left (${generations.join(" ")})`,
  )
  assert.equal(readlinkSync(h.custom), `${h.link}/s2`)
}

test("a kill at every step between operations leaves the symlink on a complete generation", async (t) => {
  if (!requireInstallTools(t)) return
  const h = await killHost(t)
  await h.writeVersion(1)
  const initial = await h.ns.node([driver, h.manifest])
  assert.equal(initial.status, 0, initial.stderr)
  h.assertLiveComplete("initial install")

  const steps = [
    "validated",
    "locked",
    "keys-loaded",
    "decrypted",
    "mounted",
    "generation-created",
    "file-written:1",
    "file-written:3",
    "file-written:5",
    "generation-written",
    "switched",
    "linked",
    "pruned",
    "units-notified",
  ]
  let k = 1
  for (const step of steps) {
    k += 1
    await h.writeVersion(k)
    const r = await h.ns.node([driver, h.manifest], { COFFER_TEST_CRASH_AT: step })
    assert.equal(r.signal, "SIGKILL", `killed at ${step}: ${r.stderr}`)
    h.assertLiveComplete(`killed at ${step}`)
  }
  k += 1
  await h.writeVersion(k)
  const final = await h.ns.node([binPath(), "install", h.manifest])
  assertTidy(h, final)
  assert.equal(h.assertLiveComplete("final install"), k)
})

/** Where a kill through strace goes: one system call, chosen by path or by count. */
interface KillPoint {
  readonly what: string
  readonly syscall: "write" | "fchown" | "fsync" | "symlink" | "rename" | "unlink" | "openat"
  /** Only calls on these paths count (strace -P; fds are matched by their path). */
  readonly paths?: (gen: number) => readonly string[]
  /** The Nth such call of the file-operation thread (default 1). */
  readonly nth?: number
  /** What the killed call looks like in strace's log. */
  readonly call: (gen: number) => RegExp
  /** Whether the stable link is on the new generation after the kill. */
  readonly switched: boolean
  /** Prepares the host just before the run. */
  readonly before?: () => void
}

/** Runs `bin/coffer install` under strace, killed as it enters the chosen call. */
async function installKilledAt(
  h: KillHost,
  point: KillPoint,
  gen: number,
  log: string,
  extraRenames: number,
): Promise<RunResult> {
  const nth = (point.nth ?? 1) + (point.syscall === "rename" ? extraRenames : 0)
  return runCommand(
    "nsenter",
    [
      "--target",
      String(h.ns.pid),
      "--mount",
      "--",
      "strace",
      "-f",
      "-qq",
      "-y",
      // detach from programs started by coffer (gpg, gpg-agent): only coffer is killed
      "-b",
      "execve",
      "-o",
      log,
      ...(point.paths?.(gen) ?? []).flatMap((p) => ["-P", p]),
      "-e",
      `trace=${point.syscall}`,
      "-e",
      `inject=${point.syscall}:signal=SIGKILL:when=${String(nth)}`,
      process.execPath,
      binPath(),
      "install",
      h.manifest,
    ],
    { timeoutMs: 60_000, env: { UV_THREADPOOL_SIZE: "1" } },
  )
}

/**
 * The call the process was killed in: a line of strace's log for `syscall` that never
 * returned (`= ?`, on its own line or on its `<... resumed>` line), followed by the kill.
 */
function killedCall(logText: string, syscall: string): string | undefined {
  const lines = logText.split("\n")
  if (!lines.some((l) => l.endsWith("+++ killed by SIGKILL +++"))) return undefined
  for (const [i, line] of lines.entries()) {
    // strace pads the PID column ("812   write(" and "20998 write(")
    const m = new RegExp(`^(\\d+)\\s+${syscall}\\(`).exec(line)
    if (m === null) continue
    if (line.endsWith("= ?")) return line
    if (line.endsWith("<unfinished ...>")) {
      const resumed = lines
        .slice(i + 1)
        .find((l) => new RegExp(`^${m[1] ?? ""}\\s+<\\.\\.\\. ${syscall} resumed>`).test(l))
      if (resumed?.endsWith("= ?") === true) {
        // the call as one line: its start, then the rest from the resumed line
        return `${line.slice(0, -" <unfinished ...>".length)}${resumed.replace(/^\d+\s+<\.\.\. \w+ resumed>/, "")}`
      }
    }
  }
  return undefined
}

test("kills inside writes, renames and the symlink switch of bin/coffer install (strace) each interrupt it, and leave the symlink on a complete generation", async (t) => {
  if (!requireInstallTools(t) || !requireTool(t, "strace", "strace")) return
  const h = await killHost(t)
  const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
  const lock = `${h.mount}.lock`
  const file = (gen: number, name: string): string => `${h.mount}/${String(gen)}/${name}`
  const points: KillPoint[] = [
    {
      what: "writing the lock file",
      syscall: "write",
      paths: () => [lock],
      call: () => new RegExp(`write\\(\\d+<${esc(lock)}>`),
      switched: false,
    },
    ...["s1", "nested/deeper/s4", "rendered/all.conf"].map((name): KillPoint => ({
      what: `writing ${name} of the new generation`,
      syscall: "write",
      paths: (gen) => [file(gen, name)],
      call: (gen) => new RegExp(`write\\(\\d+<${esc(file(gen, name))}>`),
      switched: false,
    })),
    {
      what: "owning nested/s3 (written, not yet owned)",
      syscall: "fchown",
      paths: (gen) => [file(gen, "nested/s3")],
      call: (gen) => new RegExp(`fchown\\(\\d+<${esc(file(gen, "nested/s3"))}>`),
      switched: false,
    },
    {
      what: "syncing s2 (written and owned, not yet synced)",
      syscall: "fsync",
      paths: (gen) => [file(gen, "s2")],
      call: (gen) => new RegExp(`fsync\\(\\d+<${esc(file(gen, "s2"))}>`),
      switched: false,
    },
    {
      what: "syncing the new generation's directory",
      syscall: "fsync",
      paths: (gen) => [`${h.mount}/${String(gen)}`],
      call: (gen) => new RegExp(`fsync\\(\\d+<${esc(`${h.mount}/${String(gen)}`)}>`),
      switched: false,
    },
    {
      what: "making the temporary stable link",
      syscall: "symlink",
      call: (gen) =>
        new RegExp(`symlink\\("${esc(`${h.mount}/${String(gen)}`)}", ".*/\\.secrets\\.coffer-`),
      switched: false,
    },
    {
      what: "renaming the temporary link over the stable link (the switch)",
      syscall: "rename",
      call: () => /rename\(".*\/\.secrets\.coffer-[0-9a-f]+", ".*\/secrets"\)/,
      switched: false,
    },
    {
      what: "syncing the stable link's directory after the switch",
      syscall: "fsync",
      paths: () => [`${h.root}/run`],
      call: () => new RegExp(`fsync\\(\\d+<${esc(`${h.root}/run`)}>`),
      switched: true,
    },
    {
      what: "renaming a custom-path link into place",
      syscall: "rename",
      nth: 2,
      // as on a host where the link was lost: coffer makes it again
      before: () => {
        rmSync(h.custom)
      },
      call: () => /rename\(".*\/\.s2\.coffer-[0-9a-f]+", ".*\/s2"\)/,
      switched: true,
    },
    {
      what: "removing a file of a pruned generation",
      syscall: "unlink",
      paths: (gen) => [file(gen - 2, "s1")],
      call: (gen) => new RegExp(`unlink\\("${esc(file(gen - 2, "s1"))}"\\)`),
      switched: true,
    },
  ]

  let k = 1
  await h.writeVersion(k)
  const initial = await h.ns.node([binPath(), "install", h.manifest])
  assert.equal(initial.status, 0, initial.stderr)
  h.assertLiveComplete("initial install")
  let landed = 0
  for (const [i, point] of points.entries()) {
    // the prune kill needs two older generations: a clean install first
    if (point.syscall === "unlink") {
      k += 1
      await h.writeVersion(k)
      const clean = await h.ns.node([binPath(), "install", h.manifest])
      assert.equal(clean.status, 0, clean.stderr)
    }
    k += 1
    await h.writeVersion(k)
    const before = h.liveGeneration()
    const gen = before + 1
    point.before?.()
    // a lock a kill left is renamed aside when it is taken over: one more rename
    const extraRenames = existsSync(lock) ? 1 : 0
    const log = join(h.root, `strace-${String(i)}.log`)
    const r = await installKilledAt(h, point, gen, log, extraRenames)
    const logText = readFileSync(log, "utf8")
    assert.ok(
      r.signal === "SIGKILL" || r.status === 128 + 9,
      `${point.what}: the install was killed (${String(r.status)} ${String(r.signal)}): ${r.stderr}`,
    )
    const call = killedCall(logText, point.syscall)
    assert.ok(call !== undefined, `${point.what}: a ${point.syscall} was interrupted:\n${logText}`)
    assert.match(call, point.call(gen), `${point.what}: killed inside the right call`)
    landed += 1
    assert.equal(
      h.liveGeneration(),
      point.switched ? gen : before,
      `${point.what}: the stable link is on the ${point.switched ? "new" : "previous"} generation`,
    )
    const v = h.assertLiveComplete(`killed ${point.what}`)
    assert.equal(v, point.switched ? k : v, `${point.what}: the new generation holds v${String(k)}`)
  }
  assert.equal(landed, points.length)
  t.diagnostic(`${String(landed)} of ${String(points.length)} kills landed inside the named call`)

  // the next clean install removes what the kills left, and says so
  k += 1
  await h.writeVersion(k)
  const final = await h.ns.node([binPath(), "install", h.manifest])
  assertTidy(h, final)
  assert.match(final.stderr, /removed a stale lock/)
  assert.equal(h.assertLiveComplete("final install"), k)
})

test("a SIGKILL of bin/coffer while it decrypts with a temporary keyring: the next install removes the keyring and stops its gpg-agent", async (t) => {
  if (!requireInstallTools(t) || !requireTool(t, "strace", "strace")) return
  if (!requireTool(t, "gpg", "gnupg") || !requireTool(t, "gpgconf", "gnupg")) return
  const root = tmpTree(t, {})
  const ns = await privateNamespace(t)
  const vectors = join(repoRoot, "test/vectors/sops/sops-nix")
  const rsaKey = join(root, "ssh_host_rsa_key")
  copyFileSync(join(vectors, "keys/ssh-key"), rsaKey)
  const source = join(root, "secrets.yaml")
  copyFileSync(join(vectors, "secrets.yaml"), source)
  const mount = `${root}/run/secrets.d`
  const link = `${root}/run/secrets`
  const manifest = join(root, "manifest.json")
  writeFileSync(
    manifest,
    JSON.stringify({
      secrets: [secretEntry("test_key", source, link)],
      secretsMountPoint: mount,
      symlinkPath: link,
      sshKeyPaths: [rsaKey],
    }),
  )
  t.after(() => {
    // never leave an agent behind, whatever happened
    for (const line of processesMentioning(mount)) {
      process.kill(Number(line.split(":")[0]), "SIGKILL")
    }
  })
  const log = join(root, "strace.log")
  // killed as the source is opened: the keyring is made and its secret key imported
  const killed = await installKilledAt(
    { ns, manifest } as KillHost,
    {
      what: "opening the source",
      syscall: "openat",
      paths: () => [source],
      call: () => new RegExp(`openat\\(.*"${source}"`),
      switched: false,
    },
    1,
    log,
    0,
  )
  assert.ok(killed.signal === "SIGKILL" || killed.status === 137, killed.stderr)
  const call = killedCall(readFileSync(log, "utf8"), "openat")
  assert.ok(call?.includes(`"${source}"`), readFileSync(log, "utf8"))
  const keyrings = readdirSync(ns.inside(mount)).filter((n) => n.startsWith(".gnupg-"))
  assert.equal(keyrings.length, 1, "the killed install left its keyring")
  const keyring = `${mount}/${keyrings[0] ?? ""}`

  const next = await ns.node([binPath(), "install", manifest])
  assert.equal(next.status, 0, next.stderr)
  assert.match(
    next.stderr,
    new RegExp(`removed the temporary keyring "${keyring}" an interrupted install left behind`),
  )
  assert.match(next.stderr, /removed a stale lock/)
  assert.deepEqual(
    readdirSync(ns.inside(mount)).filter((n) => n.startsWith(".gnupg-")),
    [],
    "no keyring is left",
  )
  assert.deepEqual(processesMentioning(keyring), [], "its gpg-agent was stopped")
  // the stable link points at the generation on the namespace's ramfs: follow it there
  const live = ns.inside(`${readlinkSync(ns.inside(link))}/test_key`)
  assert.ok(readFileSync(live, "utf8").length > 0, "the secret is installed")
})
