/**
 * One install of a secret filesystem at a time (issue 17 "Host install"), as root on a real
 * ramfs in a private mount namespace: a second install waits for the first, naming it, and
 * gives up after `--lock-timeout` with a message that names the holder; an install killed
 * with SIGKILL leaves a lock and a temporary keyring (with its gpg-agent) behind, and the
 * next install removes both and says so.
 *
 * The first install is `install-driver.js` paused inside its lock (`COFFER_TEST_PAUSE_AT`);
 * the others are the real `bin/coffer`.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import {
  copyFileSync,
  existsSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  writeFileSync,
} from "node:fs"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { binPath, repoRoot } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { privateNamespace } from "../support/namespace.js"
import { requireTool } from "../support/tools.js"
import {
  filesUnder,
  hostKey,
  processesMentioning,
  requireInstallTools,
  secretEntry,
  sopsFile,
  startInNamespace,
  stopAfter,
} from "./fixtures.js"

const driver = join(repoRoot, "dist", "test", "host", "install-driver.js")

async function waitFor(what: string, check: () => boolean, ms = 30_000): Promise<void> {
  const until = Date.now() + ms
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

test("two installs take turns: the second waits, naming the first; a third gives up after --lock-timeout", async (t) => {
  if (!requireInstallTools(t)) return
  const root = tmpTree(t, {})
  const ns = await privateNamespace(t)
  const key = hostKey(root)
  const source = join(root, "s.yaml")
  await sopsFile(source, "yaml", "a: value-a\nb: value-b\n", key.ageRecipient)
  const mount = `${root}/run/secrets.d`
  const link = `${root}/run/secrets`
  const manifest = join(root, "manifest.json")
  writeFileSync(
    manifest,
    JSON.stringify({
      secrets: ["a", "b"].map((n) => secretEntry(n, source, link)),
      secretsMountPoint: mount,
      symlinkPath: link,
      keepGenerations: 0,
      ageSshKeyPaths: [key.path],
    }),
  )
  const gate = join(root, "go-on")

  // A takes the lock and stops inside it
  const first = startInNamespace(ns, [driver, manifest], { COFFER_TEST_PAUSE_AT: `locked=${gate}` })
  stopAfter(t, first)
  await waitFor("the first install to hold the lock", () => existsSync(`${gate}.reached`))
  const holder = readFileSync(`${gate}.reached`, "utf8")
  const lock = JSON.parse(readFileSync(`${mount}.lock`, "utf8")) as { pid: number; command: string }
  assert.equal(String(lock.pid), holder)
  assert.match(lock.command, /install-driver\.js/)

  // C gives up after one second, naming A
  const third = startInNamespace(ns, [binPath(), "install", "--lock-timeout", "1", manifest])
  stopAfter(t, third)
  assert.equal(await third.exited, 1, third.stderr)
  assert.match(
    third.stderr,
    new RegExp(
      `error: "${mount}" is being installed by PID ${holder} \\(.*install-driver\\.js .*\\) since \\S+; waited 1 s`,
    ),
  )
  assert.match(
    third.stderr,
    /hint: run again when it has finished, or wait longer with --lock-timeout/,
  )
  assert.ok(!existsSync(ns.inside(link)), "the third install changed nothing")

  // B waits, saying for whom
  const second = startInNamespace(ns, [binPath(), "install", manifest])
  stopAfter(t, second)
  await waitFor("the second install to wait", () =>
    second.stderr.includes(`waiting for PID ${holder}`),
  )
  await sleep(300)
  assert.equal(second.child.exitCode, null, "the second install is still waiting")
  assert.ok(!existsSync(ns.inside(link)), "nothing was installed while the first held the lock")

  // A goes on and finishes; only then does B install
  writeFileSync(gate, "")
  assert.equal(await first.exited, 0, first.stderr)
  assert.equal(readlinkSync(ns.inside(link)), `${mount}/1`)
  assert.equal(await second.exited, 0, second.stderr)
  assert.match(second.stdout, /installed generation 2/)
  assert.equal(readlinkSync(ns.inside(link)), `${mount}/2`)
  for (const generation of ["1", "2"]) {
    assert.deepEqual(filesUnder(ns.inside(`${mount}/${generation}`)), ["a", "b"])
  }
  assert.ok(!existsSync(`${mount}.lock`), "the lock is released")
})

test("a SIGKILL inside the install leaves its lock and temporary keyring; the next install removes both, stopping the keyring's gpg-agent", async (t) => {
  if (!requireInstallTools(t)) return
  if (!requireTool(t, "gpg", "gnupg") || !requireTool(t, "gpgconf", "gnupg")) return
  const root = tmpTree(t, {})
  const ns = await privateNamespace(t)
  const vectors = join(repoRoot, "test/vectors/sops/sops-nix")
  const rsaKey = join(root, "ssh_host_rsa_key")
  copyFileSync(join(vectors, "keys/ssh-key"), rsaKey)
  const mount = `${root}/run/secrets.d`
  const link = `${root}/run/secrets`
  const manifest = join(root, "manifest.json")
  writeFileSync(
    manifest,
    JSON.stringify({
      secrets: [secretEntry("test_key", join(vectors, "secrets.yaml"), link)],
      secretsMountPoint: mount,
      symlinkPath: link,
      sshKeyPaths: [rsaKey],
    }),
  )
  const killed = await ns.node([driver, manifest], { COFFER_TEST_CRASH_AT: "keys-loaded" })
  assert.equal(killed.signal, "SIGKILL", killed.stderr)
  const keyrings = readdirSync(ns.inside(mount)).filter((n) => n.startsWith(".gnupg-"))
  assert.equal(keyrings.length, 1, "the killed install left its keyring")
  const keyring = `${mount}/${keyrings[0] ?? ""}`
  assert.ok(existsSync(`${mount}.lock`), "and its lock")
  t.after(() => {
    // never leave an agent behind, whatever happened
    for (const line of processesMentioning(keyring)) {
      process.kill(Number(line.split(":")[0]), "SIGKILL")
    }
  })
  const killedPid = (JSON.parse(readFileSync(`${mount}.lock`, "utf8")) as { pid: number }).pid

  const next = await ns.node([binPath(), "install", manifest])
  assert.equal(next.status, 0, next.stderr)
  assert.match(
    next.stderr,
    new RegExp(
      `warning: removed a stale lock "${mount}.lock" of PID ${String(killedPid)} \\(.*\\), which is no longer running`,
    ),
  )
  assert.match(
    next.stderr,
    new RegExp(
      `warning: removed the temporary keyring "${keyring}" an interrupted install left behind`,
    ),
  )
  assert.deepEqual(
    readdirSync(ns.inside(mount)).filter((n) => n.startsWith(".gnupg-")),
    [],
    "no keyring is left (the second one, of this install, is gone too)",
  )
  assert.deepEqual(processesMentioning(keyring), [], "the killed install's gpg-agent was stopped")
  assert.ok(!existsSync(`${mount}.lock`))
  assert.equal(readlinkSync(ns.inside(link)), `${mount}/1`)
})
