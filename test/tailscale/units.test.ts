/**
 * `coffer-tailscale.service` as `coffer units` writes it (docs/tailscale.md "The unit"):
 * its ordering, its hardening, no key anywhere in it, the restart wiring of its key secret,
 * and `systemd-analyze verify` with no output at all. The booted-systemd test is
 * systemd.slow.test.ts beside this file.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { spawnSync } from "node:child_process"
import { copyFileSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { parseManifest } from "../../src/host/manifest.js"
import { planUnits, installUnitName, usersInstallUnitName } from "../../src/host/units.js"
import { binPath, runCli } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { requireTool } from "../support/tools.js"

const vector = new URL("../../../test/vectors/tailscale/manifest.json", import.meta.url)
const opts = { cofferPath: "/usr/bin/coffer", manifestPath: "/etc/coffer/manifest.json" }

function lines(text: string, key: string): string[] {
  return text
    .split("\n")
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1))
}

test("coffer-tailscale.service: after tailscaled and the install unit, hardened, no key", () => {
  const manifest = parseManifest(readFileSync(vector, "utf8"), "manifest.json")
  const plan = planUnits(manifest, opts)
  assert.equal(plan.tailscaleUnit, "coffer-tailscale.service")
  assert.ok(!plan.consumers.includes("coffer-tailscale.service"))
  assert.deepEqual(
    plan.files.map((f) => f.path),
    [installUnitName, "coffer-tailscale.service", "postgresql.service.d/coffer-secrets.conf"],
  )
  const unit = plan.files.find((f) => f.path === "coffer-tailscale.service")?.text ?? ""
  assert.deepEqual(lines(unit, "Wants"), ["tailscaled.service", "network-online.target"])
  assert.deepEqual(lines(unit, "After"), [
    `tailscaled.service ${installUnitName}`,
    "network-online.target",
  ])
  assert.deepEqual(lines(unit, "Requires"), [installUnitName])
  assert.deepEqual(lines(unit, "Type"), ["oneshot"])
  assert.deepEqual(lines(unit, "RemainAfterExit"), ["yes"])
  assert.deepEqual(lines(unit, "ExecStart"), [
    "/usr/bin/coffer tailscale up --manifest /etc/coffer/manifest.json",
  ])
  assert.deepEqual(lines(unit, "TimeoutStartSec"), ["120s"])
  assert.deepEqual(lines(unit, "RestartPreventExitStatus"), ["2 5 6"])
  assert.deepEqual(lines(unit, "NoNewPrivileges"), ["yes"])
  assert.deepEqual(lines(unit, "ProtectSystem"), ["strict"])
  // the only environment is where a minted key's private directory goes
  assert.deepEqual(lines(unit, "Environment"), ["COFFER_TMPDIR=%t/coffer-tailscale"])
  assert.deepEqual(lines(unit, "WantedBy"), ["multi-user.target"])
  assert.match(unit, /It is not Before=\n# network-online.target/)
  // the key secret restarts it when it changes
  assert.deepEqual(manifest.secrets[0]?.restartUnits, ["coffer-tailscale.service"])
})

test("a control server on this host needs no network-online.target; a users-phase key orders after its unit", () => {
  const raw = JSON.parse(readFileSync(vector, "utf8")) as {
    tailscale: Record<string, unknown>
    secrets: Record<string, unknown>[]
  }
  raw.tailscale["loginServer"] = "http://127.0.0.1:8080"
  const first = raw.secrets[0]
  if (first !== undefined) first["neededForUsers"] = true
  const plan = planUnits(parseManifest(JSON.stringify(raw), "m.json"), opts)
  const unit = plan.files.find((f) => f.path === "coffer-tailscale.service")?.text ?? ""
  assert.ok(!unit.includes("Wants=network-online.target"))
  assert.match(unit, /# The control server is on this host/)
  assert.deepEqual(lines(unit, "Requires"), [usersInstallUnitName])
})

test("systemd-analyze verify: coffer-tailscale.service, with no output", async (t) => {
  if (!requireTool(t, "systemd-analyze", "systemd")) return
  const dir = tmpTree(t)
  const manifestPath = join(dir, "manifest.json")
  copyFileSync(vector, manifestPath)
  const out = join(dir, "units")
  const r = await runCli(["units", manifestPath, "--out", out, "--coffer", binPath("coffer")])
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stderr, /enable coffer-install-secrets\.service and coffer-tailscale\.service/)
  assert.ok(readdirSync(out).includes("coffer-tailscale.service"))
  const v = spawnSync(
    "systemd-analyze",
    ["verify", "--man=no", join(out, "coffer-tailscale.service")],
    {
      cwd: out,
      encoding: "utf8",
      env: { ...process.env, SYSTEMD_LOG_COLOR: "0", SYSTEMD_PAGER: "" },
    },
  )
  assert.equal(`${v.stdout}${v.stderr}`, "")
  assert.equal(v.status, 0)
})
