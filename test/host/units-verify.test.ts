// Every unit `coffer units` writes passes `systemd-analyze verify` with no output at all
// (docs/testing.md "systemd-analyze verify": unknown keys are only warnings, so stderr must be empty).
// Consumers are test units of our own (ExecStart=/usr/bin/true) with coffer's drop-ins
// beside them; a negative control shows drop-ins there are really read.
import { test, type TestContext } from "node:test"
import assert from "node:assert/strict"
import { spawnSync } from "node:child_process"
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { binPath, runCli } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { requireTool } from "../support/tools.js"

const vectors = new URL("../../../test/vectors/host/", import.meta.url)

function verify(dir: string, unit: string): { status: number | null; stderr: string } {
  const r = spawnSync("systemd-analyze", ["verify", "--man=no", join(dir, unit)], {
    cwd: dir,
    encoding: "utf8",
    env: { ...process.env, SYSTEMD_LOG_COLOR: "0", SYSTEMD_PAGER: "" },
  })
  return { status: r.status, stderr: `${r.stdout}${r.stderr}` }
}

/** A plain consumer service: it only has to exist and be valid. */
function consumerUnit(name: string): string {
  return `[Unit]\nDescription=test consumer ${name}\n\n[Service]\nType=oneshot\nExecStart=/usr/bin/true\n`
}

async function generate(
  t: TestContext,
  manifestName: string,
  extra: readonly string[] = [],
): Promise<string> {
  const dir = tmpTree(t)
  const manifestPath = join(dir, "manifest.json")
  copyFileSync(new URL(manifestName, vectors), manifestPath)
  const out = join(dir, "units")
  const r = await runCli([
    "units",
    manifestPath,
    "--out",
    out,
    "--coffer",
    binPath("coffer"),
    ...extra,
  ])
  assert.equal(r.stderr.startsWith("wrote "), true, r.stderr)
  assert.equal(r.status, 0, r.stderr)
  // One consumer unit per drop-in directory.
  for (const entry of readdirSync(out)) {
    if (!entry.endsWith(".d")) continue
    const unit = entry.slice(0, -2)
    if (!existsSync(join(out, unit))) writeFileSync(join(out, unit), consumerUnit(unit))
  }
  return out
}

function verifyAll(dir: string): void {
  const units = readdirSync(dir).filter((f) => f.endsWith(".service"))
  assert.ok(units.length > 0)
  for (const unit of units) {
    const r = verify(dir, unit)
    assert.equal(r.stderr, "", `${unit}: ${r.stderr}`)
    assert.equal(r.status, 0, unit)
  }
}

for (const [manifest, flags] of [
  ["sops-nix-manifest.json", []],
  ["sops-nix-manifest.json", ["--nixos"]],
  ["sops-nix-manifest.json", ["--late", "--wants"]],
  ["sops-nix-users-manifest.json", []],
  ["coffer-manifest.json", []],
] as const) {
  test(`systemd-analyze verify: ${manifest} ${flags.join(" ")}`.trim(), async (t) => {
    if (!requireTool(t, "systemd-analyze", "systemd")) return
    const dir = await generate(t, manifest, flags)
    verifyAll(dir)
  })
}

test("the generated files are the ones expected, drop-ins included", async (t) => {
  if (!requireTool(t, "systemd-analyze", "systemd")) return
  const dir = await generate(t, "coffer-manifest.json")
  assert.deepEqual(readdirSync(dir).sort(), [
    "coffer-install-secrets-for-users.service",
    "coffer-install-secrets.service",
    "getty@tty1.service",
    "getty@tty1.service.d",
    "grafana.service",
    "grafana.service.d",
    "postgresql.service",
    "postgresql.service.d",
    "tailscaled-autoconnect.service",
    "tailscaled-autoconnect.service.d",
  ])
  assert.deepEqual(readdirSync(join(dir, "grafana.service.d")), ["coffer-secrets.conf"])
})

test("negative controls: verify reads the drop-ins and catches a missing install unit", async (t) => {
  if (!requireTool(t, "systemd-analyze", "systemd")) return
  const dir = await generate(t, "sops-nix-manifest.json")
  // A bad key in a drop-in beside a consumer shows up, so drop-ins there are read...
  mkdirSync(join(dir, "app.service.d"), { recursive: true })
  writeFileSync(join(dir, "app.service.d", "zz-bad.conf"), "[Unit]\nAftr=nothing.service\n")
  const bad = verify(dir, "app.service")
  assert.match(bad.stderr, /Unknown key( name)? 'Aftr'/)
  // ...and a consumer whose Requires= target is missing fails verification.
  const lonely = tmpTree(t, {
    "postgresql.service": consumerUnit("postgresql.service"),
  })
  mkdirSync(join(lonely, "postgresql.service.d"))
  copyFileSync(
    join(dir, "postgresql.service.d", "coffer-secrets.conf"),
    join(lonely, "postgresql.service.d", "coffer-secrets.conf"),
  )
  const missing = verify(lonely, "postgresql.service")
  assert.notEqual(missing.status, 0)
  assert.match(missing.stderr, /coffer-install-secrets\.service/)
})

test("coffer units: usage errors and --print", async (t) => {
  const dir = tmpTree(t)
  const manifestPath = join(dir, "m.json")
  copyFileSync(new URL("coffer-manifest.json", vectors), manifestPath)
  const noOut = await runCli(["units", manifestPath])
  assert.equal(noOut.status, 2)
  assert.match(noOut.stderr, /^error: give exactly one of --out DIR and --print/)
  const printed = await runCli([
    "units",
    "--print",
    manifestPath,
    "--coffer",
    "/usr/bin/coffer",
    "--manifest-path",
    "/etc/coffer/m.json",
  ])
  assert.equal(printed.status, 0, printed.stderr)
  const text = printed.stdout.toString("utf8")
  assert.match(text, /^# coffer-install-secrets-for-users\.service\n\[Unit\]/)
  assert.match(
    text,
    /\nExecStart=\/usr\/bin\/coffer install --phase regular \/etc\/coffer\/m\.json\n/,
  )
  assert.match(text, /\nLoadCredential=tailscale-authkey:\/run\/secrets\/tailscale-authkey\n/)
  const relative = await runCli(["units", manifestPath, "--print", "--coffer", "coffer"])
  assert.equal(relative.status, 2)
  assert.match(relative.stderr, /--coffer "coffer" is not an absolute path/)
  writeFileSync(join(dir, "bad.json"), JSON.stringify({ secrets: [{ name: "../x" }] }))
  const bad = await runCli(["units", join(dir, "bad.json"), "--print"])
  assert.equal(bad.status, 1)
  assert.match(
    bad.stderr,
    /^error: manifest ".*bad\.json" has 2 problems: secret "\.\.\/x": name contains a "\.\." segment/,
  )
  assert.equal(bad.stdout.length, 0)
})
