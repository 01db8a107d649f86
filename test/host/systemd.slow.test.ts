/**
 * The install unit under a real systemd (issue 5 "Proof"; testing-on-this-machine.md §3d
 * recipe A): `systemd-nspawn --volatile=yes` boots the host's /usr as a container, with the
 * repository bound read-only at /opt/coffer and the test's manifest, host key, sops files
 * and unit files (from `planUnits`, as `coffer units` writes them) bound at /opt/share and
 * /etc/systemd/system. nspawn itself runs in a private mount namespace, so the tmpfs it
 * needs on /run/systemd/nspawn never shows on the host.
 *
 * Checked: the install unit runs before a consumer that reads its secret at start; running
 * the installer again with a changed secret restarts the consumer (and an unchanged one
 * does not); a consumer with `LoadCredential=` reads its private copy; a broken secret
 * leaves the install unit failed and listed by `systemctl --failed`.
 */
import { test } from "node:test"
import type { TestContext } from "node:test"
import assert from "node:assert/strict"
import { execFileSync, spawn, spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { encryptFile } from "../../src/sops/index.js"
import { sshPublicKeyToAge } from "../../src/keys/ssh-to-age.js"
import { parseManifest } from "../../src/host/manifest.js"
import { installUnitName, planUnits } from "../../src/host/units.js"
import { repoRoot } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { requireRoot, requireTool } from "../support/tools.js"

const share = "/opt/share"
const coffer = "/opt/coffer/bin/coffer"

interface Container {
  /** Runs a command in the container (all its namespaces). */
  exec(argv: readonly string[]): { status: number | null; stdout: string; stderr: string }
}

/** Boots the container; powers it off (or kills it by PID) after the test. */
async function bootContainer(t: TestContext, binds: readonly string[]): Promise<Container> {
  const machine = `coffer${randomBytes(3).toString("hex")}`
  const script = [
    "set -e",
    // private to this namespace: nspawn wants a tmpfs here (/run is on disk on this machine)
    "mount -t tmpfs tmpfs /run/systemd",
    "mkdir /run/systemd/nspawn",
    `exec systemd-nspawn --directory=/ --volatile=yes --register=no --keep-unit --private-network --console=pipe --machine=${machine} ${binds.map((b) => `--bind-ro=${b}`).join(" ")} --boot`,
  ].join("\n")
  const nspawn = spawn(
    "unshare",
    ["--mount", "--propagation", "private", "--", "sh", "-c", script],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  )
  let stderr = ""
  nspawn.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")))
  const exited = new Promise((resolve) => nspawn.once("exit", resolve))
  const pid = nspawn.pid
  if (pid === undefined) throw new Error("systemd-nspawn did not start")
  let init: number | undefined
  const exec = (
    argv: readonly string[],
  ): { status: number | null; stdout: string; stderr: string } => {
    if (init === undefined) throw new Error("the container has no init")
    const r = spawnSync("nsenter", ["-t", String(init), "-a", ...argv], {
      encoding: "utf8",
      timeout: 60_000,
    })
    return { status: r.status, stdout: r.stdout, stderr: r.stderr }
  }
  t.after(async () => {
    if (nspawn.exitCode !== null || nspawn.signalCode !== null) return
    if (init !== undefined) {
      exec(["systemctl", "poweroff"])
    }
    const done = await Promise.race([exited.then(() => true), sleep(20_000, false, { ref: false })])
    if (!done) {
      nspawn.kill("SIGKILL")
      await exited
    }
  })
  for (let i = 0; init === undefined; i++) {
    if (nspawn.exitCode !== null) throw new Error(`systemd-nspawn exited: ${stderr}`)
    if (i > 300) throw new Error(`the container's systemd did not start: ${stderr}`)
    await sleep(50)
    const r = spawnSync("pgrep", ["-P", String(pid), "-x", "systemd"], { encoding: "utf8" })
    const found = Number(r.stdout.trim().split("\n")[0])
    if (r.status === 0 && Number.isInteger(found) && found > 0) init = found
  }
  // wait for the boot to finish (degraded is fine: systemd-firstboot fails on an empty /etc)
  let running = exec(["systemctl", "is-system-running", "--wait"])
  for (let i = 0; /Failed to connect to bus/.test(running.stderr) && i < 100; i++) {
    // PID 1 is up before its bus is
    await sleep(100)
    running = exec(["systemctl", "is-system-running", "--wait"])
  }
  assert.match(running.stdout, /running|degraded/, `boot: ${running.stdout} ${running.stderr}`)
  return { exec }
}

async function waitFor(what: string, check: () => boolean, ms = 15_000): Promise<void> {
  const until = Date.now() + ms
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

test("under a real systemd: install before consumers, restart on change, credentials, failed unit", async (t) => {
  if (
    !requireRoot(t, "boots a container with systemd-nspawn") ||
    !requireTool(t, "systemd-nspawn", "systemd-container") ||
    !requireTool(t, "ssh-keygen", "openssh-client") ||
    !requireTool(t, "unshare", "util-linux")
  ) {
    return
  }
  const dir = tmpTree(t, {})
  chmodSync(dir, 0o755)
  const shareDir = join(dir, "share")
  const unitsDir = join(dir, "units")
  mkdirSync(shareDir)
  mkdirSync(unitsDir)
  execFileSync("ssh-keygen", ["-t", "ed25519", "-N", "", "-q", "-f", join(shareDir, "host_key")])
  const recipient = sshPublicKeyToAge(
    execFileSync("ssh-keygen", ["-y", "-f", join(shareDir, "host_key")], { encoding: "utf8" }),
  )
  const writeSecrets = async (app: string): Promise<void> => {
    writeFileSync(
      join(shareDir, "app.yaml"),
      await encryptFile(`app: ${app}\ncred: cred-value-1\n`, "yaml", {
        keyGroups: [{ age: [recipient], pgp: [] }],
      }),
    )
  }
  const secret = (name: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    name,
    key: name,
    sopsFile: `${share}/app.yaml`,
    format: "yaml",
    mode: "0400",
    path: `/run/secrets/${name}`,
    ...extra,
  })
  const manifest = (extra: Record<string, unknown>[]): string =>
    JSON.stringify({
      secrets: [
        secret("app", { restartUnits: ["consumer.service"] }),
        secret("cred", { credential: { name: "apikey", units: ["credconsumer.service"] } }),
        ...extra,
      ],
      ageSshKeyPaths: [`${share}/host_key`],
    })
  await writeSecrets("value-1")
  writeFileSync(join(shareDir, "manifest.json"), manifest([]))

  // the units, as `coffer units` writes them, plus the two consumers and their enablement
  const plan = planUnits(parseManifest(manifest([]), "manifest.json"), {
    cofferPath: coffer,
    manifestPath: `${share}/manifest.json`,
  })
  for (const file of plan.files) {
    mkdirSync(join(unitsDir, file.path, ".."), { recursive: true })
    writeFileSync(join(unitsDir, file.path), file.text)
  }
  writeFileSync(
    join(unitsDir, "consumer.service"),
    "[Unit]\nDescription=reads its secret at start\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh -c 'echo \"start $(cat /run/secrets/app)\" >> /run/consumer.log'\n[Install]\nWantedBy=multi-user.target\n",
  )
  writeFileSync(
    join(unitsDir, "credconsumer.service"),
    "[Unit]\nDescription=reads its credential\n[Service]\nType=oneshot\nRemainAfterExit=yes\nDynamicUser=yes\nStandardOutput=file:/run/cred.out\nExecStart=/bin/sh -c 'cat \"$CREDENTIALS_DIRECTORY/apikey\"'\n[Install]\nWantedBy=multi-user.target\n",
  )
  for (const [target, unit] of [
    ["sysinit.target.wants", installUnitName],
    ["multi-user.target.wants", "consumer.service"],
    ["multi-user.target.wants", "credconsumer.service"],
  ] as const) {
    mkdirSync(join(unitsDir, target), { recursive: true })
    symlinkSync(`../${unit}`, join(unitsDir, target, unit))
  }

  const box = await bootContainer(t, [
    `${repoRoot.replace(/\/$/, "")}:/opt/coffer`,
    `${shareDir}:${share}`,
    `${unitsDir}:/etc/systemd/system`,
  ])
  const show = (unit: string, property: string): string =>
    box.exec(["systemctl", "show", "-P", property, unit]).stdout.trim()
  const cat = (path: string): string => box.exec(["cat", path]).stdout

  // 1. boot: the installer ran first, the consumer read its secret
  assert.equal(
    show(installUnitName, "ActiveState"),
    "active",
    box.exec(["journalctl", "-u", installUnitName, "--no-pager"]).stdout,
  )
  assert.equal(show(installUnitName, "Result"), "success")
  assert.equal(show("consumer.service", "ActiveState"), "active")
  assert.equal(cat("/run/consumer.log"), "start value-1\n")
  const installDone = Number(show(installUnitName, "ExecMainExitTimestampMonotonic"))
  const consumerStart = Number(show("consumer.service", "ExecMainStartTimestampMonotonic"))
  assert.ok(
    installDone > 0 && consumerStart > installDone,
    `consumer started (${String(consumerStart)}) after the install finished (${String(installDone)})`,
  )
  assert.equal(box.exec(["readlink", "/run/secrets"]).stdout.trim(), "/run/secrets.d/1")
  assert.match(box.exec(["stat", "-f", "-c", "%T", "/run/secrets.d"]).stdout, /ramfs/)
  // 2. LoadCredential=: a DynamicUser service reads its private copy of a root-only secret
  assert.equal(show("credconsumer.service", "Result"), "success")
  assert.equal(cat("/run/cred.out"), "cred-value-1")

  // 3. re-run the installer as a switch would: unchanged → no restart; changed → restart
  const reinstall = (): ReturnType<Container["exec"]> =>
    box.exec([
      "systemd-run",
      "--wait",
      "--pipe",
      "--quiet",
      "-E",
      "SOPS_RESTART_UNITS_VIA_SYSTEMCTL=1",
      "-E",
      "HOME=/var/empty",
      coffer,
      "install",
      `${share}/manifest.json`,
    ])
  const same = reinstall()
  assert.equal(same.status, 0, same.stderr)
  await sleep(1000)
  assert.equal(cat("/run/consumer.log"), "start value-1\n", "an unchanged secret restarts nothing")
  await writeSecrets("value-2")
  const changed = reinstall()
  assert.equal(changed.status, 0, changed.stderr)
  assert.match(changed.stdout, /restarting: consumer.service/)
  await waitFor(
    "the consumer to restart",
    () => cat("/run/consumer.log") === "start value-1\nstart value-2\n",
  )

  // 4. a broken secret: the install unit fails visibly, the other secrets stay
  writeFileSync(
    join(shareDir, "manifest.json"),
    manifest([secret("broken", { key: "does/not/exist" })]),
  )
  const restart = box.exec(["systemctl", "restart", installUnitName])
  assert.notEqual(restart.status, 0)
  assert.equal(show(installUnitName, "ActiveState"), "failed")
  const failed = box.exec(["systemctl", "--failed", "--plain", "--no-legend"]).stdout
  assert.match(failed, new RegExp(installUnitName.replaceAll(".", "\\.")))
  const journal = box.exec(["journalctl", "-u", installUnitName, "--no-pager", "-o", "cat"]).stdout
  assert.match(journal, /secret "broken"/)
  assert.ok(
    !journal.includes("value-2") && !journal.includes("cred-value-1"),
    "no value in the journal",
  )
  assert.equal(cat("/run/secrets/app"), "value-2", "the other secrets are still installed")
})
