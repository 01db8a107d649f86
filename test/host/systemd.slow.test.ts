/**
 * The install unit under a real systemd (issue 5 "Proof"; docs/testing.md
 * "A real systemd as PID 1"): `systemd-nspawn --volatile=yes` boots the host's /usr as a container, with the
 * repository bound read-only at /opt/coffer and the test's manifest, host key, sops files
 * and unit files (from `planUnits`, as `coffer units` writes them) bound at /opt/share and
 * /etc/systemd/system. nspawn itself runs in a private mount namespace, so the tmpfs it
 * needs on /run/systemd/nspawn never shows on the host.
 *
 * Checked: the install unit runs before a consumer that reads its secret at start; running
 * the installer again with a changed secret restarts the consumer, and so does a changed
 * owner; an unchanged one restarts nothing (checked once systemd's job queue is empty: the
 * installer queues its jobs with --no-block); a changed `reloadUnits` secret reloads its
 * unit (ExecReload=) and restarts nothing; a unit systemctl can't restart is a warning, not
 * a failure; with /run/nixos the units go to NixOS's restart and reload lists instead; a
 * consumer with `LoadCredential=` reads its private copy; a broken secret leaves the
 * install unit failed and listed by `systemctl --failed` (issue 19 "Restarts and reloads").
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { execFileSync } from "node:child_process"
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { encryptFile } from "../../src/sops/index.js"
import { sshPublicKeyToAge } from "../../src/keys/ssh-to-age.js"
import { parseManifest } from "../../src/host/manifest.js"
import { installUnitName, planUnits } from "../../src/host/units.js"
import { repoRoot } from "../support/cli.js"
import { bootContainer, waitFor, type Container } from "../support/container.js"
import { tmpTree } from "../support/tmp.js"
import { requireRoot, requireTool } from "../support/tools.js"

const share = "/opt/share"
const coffer = "/opt/coffer/bin/coffer"

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
  const writeSecrets = async (app: string, reload = "reload-1", gone = "gone-1"): Promise<void> => {
    writeFileSync(
      join(shareDir, "app.yaml"),
      await encryptFile(`app: ${app}\ncred: cred-value-1\nrl: ${reload}\ngone: ${gone}\n`, "yaml", {
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
  const manifest = (extra: Record<string, unknown>[], appOwner = "root"): string =>
    JSON.stringify({
      secrets: [
        secret("app", { restartUnits: ["consumer.service"], owner: appOwner }),
        secret("cred", { credential: { name: "apikey", units: ["credconsumer.service"] } }),
        secret("rl", { reloadUnits: ["reloader.service"] }),
        secret("gone", { restartUnits: ["missing.service"] }),
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
  writeFileSync(
    join(unitsDir, "reloader.service"),
    "[Unit]\nDescription=reloads on a changed secret\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh -c 'echo start >> /run/reloader.log'\nExecReload=/bin/sh -c 'echo \"reload $(cat /run/secrets/rl)\" >> /run/reloader.log'\n[Install]\nWantedBy=multi-user.target\n",
  )
  for (const [target, unit] of [
    ["sysinit.target.wants", installUnitName],
    ["multi-user.target.wants", "consumer.service"],
    ["multi-user.target.wants", "reloader.service"],
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
  const reinstall = (viaSystemctl = true): ReturnType<Container["exec"]> =>
    box.exec([
      "systemd-run",
      "--wait",
      "--pipe",
      "--quiet",
      ...(viaSystemctl ? ["-E", "SOPS_RESTART_UNITS_VIA_SYSTEMCTL=1"] : []),
      "-E",
      "HOME=/var/empty",
      coffer,
      "install",
      `${share}/manifest.json`,
    ])
  // the installer queues its restarts with --no-block: they are done once no job is left
  const jobsDone = (): Promise<void> =>
    waitFor("systemd's job queue to empty", () => {
      const jobs = box.exec(["systemctl", "list-jobs", "--no-legend", "--plain"]).stdout
      return jobs.trim() === ""
    })
  const invocation = (unit: string): string => show(unit, "InvocationID")
  const consumerRun = invocation("consumer.service")
  const reloaderRun = invocation("reloader.service")
  assert.match(consumerRun, /^[0-9a-f]{32}$/)
  const same = reinstall()
  assert.equal(same.status, 0, same.stderr)
  assert.doesNotMatch(same.stdout, /restarting|reloading/)
  await jobsDone()
  assert.equal(invocation("consumer.service"), consumerRun, "an unchanged secret restarts nothing")
  assert.equal(cat("/run/consumer.log"), "start value-1\n")
  await writeSecrets("value-2")
  const changed = reinstall()
  assert.equal(changed.status, 0, changed.stderr)
  assert.match(changed.stdout, /restarting: consumer.service\n/)
  await waitFor(
    "the consumer to restart",
    () => cat("/run/consumer.log") === "start value-1\nstart value-2\n",
  )
  assert.notEqual(invocation("consumer.service"), consumerRun)
  assert.equal(cat("/run/reloader.log"), "start\n", "an unrelated unit is left alone")

  // 3b. the same value with another owner is a change too: the consumer restarts
  writeFileSync(join(shareDir, "manifest.json"), manifest([], "nobody"))
  const afterValue = invocation("consumer.service")
  const owner = reinstall()
  assert.equal(owner.status, 0, owner.stderr)
  assert.match(owner.stdout, /restarting: consumer.service\n/)
  await waitFor("the consumer to restart for its owner", () =>
    cat("/run/consumer.log").endsWith("start value-2\nstart value-2\n"),
  )
  assert.notEqual(invocation("consumer.service"), afterValue)
  assert.equal(box.exec(["stat", "-L", "-c", "%U", "/run/secrets/app"]).stdout.trim(), "nobody")

  // 3c. reloadUnits: the unit is reloaded (ExecReload=), not restarted
  const beforeReload = invocation("consumer.service")
  await writeSecrets("value-2", "reload-2")
  const reload = reinstall()
  assert.equal(reload.status, 0, reload.stderr)
  assert.match(reload.stdout, /reloading: reloader.service\n/)
  assert.doesNotMatch(reload.stdout, /restarting/)
  await waitFor("the reload", () => cat("/run/reloader.log") === "start\nreload reload-2\n")
  await jobsDone()
  assert.equal(invocation("reloader.service"), reloaderRun, "a reload is not a restart")
  assert.equal(invocation("consumer.service"), beforeReload)

  // 3d. a unit systemctl can't restart: a warning naming it; the install still succeeds
  await writeSecrets("value-2", "reload-2", "gone-2")
  const missing = reinstall()
  assert.equal(missing.status, 0, missing.stderr)
  assert.match(
    missing.stderr,
    /warning: systemctl try-restart missing\.service failed: .*missing\.service/,
  )
  assert.equal(cat("/run/secrets/gone"), "gone-2")

  // 3e. under NixOS (/run/nixos, no SOPS_RESTART_UNITS_VIA_SYSTEMCTL) the units go to the
  // activation's restart and reload lists, and nothing is restarted now
  box.exec(["mkdir", "/run/nixos"])
  const beforeLists = invocation("consumer.service")
  await writeSecrets("value-3", "reload-3", "gone-2")
  const nixos = reinstall(false)
  assert.equal(nixos.status, 0, nixos.stderr)
  assert.equal(cat("/run/nixos/activation-restart-list"), "consumer.service\n")
  assert.equal(cat("/run/nixos/activation-reload-list"), "reloader.service\n")
  await jobsDone()
  assert.equal(invocation("consumer.service"), beforeLists, "NixOS restarts it, not coffer")
  assert.equal(cat("/run/reloader.log"), "start\nreload reload-2\n")
  assert.equal(cat("/run/secrets/app"), "value-3")
  box.exec(["rm", "-r", "/run/nixos"])

  // 4. a broken secret: the install unit fails visibly, the other secrets stay
  writeFileSync(
    join(shareDir, "manifest.json"),
    manifest([secret("broken", { key: "does/not/exist" })], "nobody"),
  )
  const restart = box.exec(["systemctl", "restart", installUnitName])
  assert.notEqual(restart.status, 0)
  assert.equal(show(installUnitName, "ActiveState"), "failed")
  const failed = box.exec(["systemctl", "--failed", "--plain", "--no-legend"]).stdout
  assert.match(failed, new RegExp(installUnitName.replaceAll(".", "\\.")))
  const journal = box.exec(["journalctl", "-u", installUnitName, "--no-pager", "-o", "cat"]).stdout
  assert.match(journal, /secret "broken"/)
  assert.ok(
    !journal.includes("value-3") && !journal.includes("cred-value-1"),
    "no value in the journal",
  )
  assert.equal(cat("/run/secrets/app"), "value-3", "the other secrets are still installed")
})
