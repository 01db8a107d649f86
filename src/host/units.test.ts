// Tests of the generated systemd units (docs/systemd.md "The install unit", docs/systemd.md
// "Delivering secrets as credentials"). test/host/units-verify.test.ts runs
// systemd-analyze verify on the same output.
import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { parseManifest, validateManifest } from "./manifest.js"
import {
  commandLine,
  consumersOf,
  installUnitName,
  planUnits,
  usersInstallUnitName,
  type UnitPlan,
} from "./units.js"

const vectors = new URL("../../../test/vectors/host/", import.meta.url)
const opts = { cofferPath: "/usr/bin/coffer", manifestPath: "/etc/coffer/manifest.json" }

function file(plan: UnitPlan, path: string): string {
  const found = plan.files.find((f) => f.path === path)
  assert.ok(found, `no ${path} in ${plan.files.map((f) => f.path).join(", ")}`)
  return found.text
}

/** The values of `key=` lines in a unit's text. */
function values(text: string, key: string): string[] {
  return text
    .split("\n")
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1))
}

function manifest(name: string): ReturnType<typeof parseManifest> {
  return parseManifest(readFileSync(new URL(name, vectors), "utf8"), name)
}

test("the install unit follows the early-boot pattern", () => {
  const plan = planUnits(manifest("sops-nix-manifest.json"), opts)
  assert.deepEqual(plan.installUnits, [installUnitName])
  const unit = file(plan, installUnitName)
  assert.deepEqual(values(unit, "Type"), ["oneshot"])
  assert.deepEqual(values(unit, "RemainAfterExit"), ["yes"])
  assert.deepEqual(values(unit, "DefaultDependencies"), ["no"])
  // Before= the target that wants it: without it, DefaultDependencies=no drops the ordering.
  assert.deepEqual(values(unit, "WantedBy"), ["sysinit.target"])
  assert.deepEqual(values(unit, "Before"), ["sysinit.target shutdown.target"])
  assert.deepEqual(values(unit, "Conflicts"), ["shutdown.target"])
  assert.deepEqual(values(unit, "After"), [
    "local-fs.target systemd-sysusers.service userborn.service",
  ])
  assert.deepEqual(values(unit, "ExecStart"), ["/usr/bin/coffer install /etc/coffer/manifest.json"])
  assert.deepEqual(values(unit, "RequiresMountsFor"), [
    "/var/lib/sops-nix/key.txt",
    "/etc/ssh/ssh_host_ed25519_key",
    "/etc/coffer/manifest.json",
    "/nix/store/3q8w5v1cz2k0s4hx9d7pj6m0yb1rlfa2-secrets.yaml",
    "/nix/store/3q8w5v1cz2k0s4hx9d7pj6m0yb1rlfa2-wg.bin",
    "/nix/store/3q8w5v1cz2k0s4hx9d7pj6m0yb1rlfa2-api.env",
    "/nix/store/3q8w5v1cz2k0s4hx9d7pj6m0yb1rlfa2-app.conf",
  ])
  assert.ok(values(unit, "Environment").includes("SOPS_RESTART_UNITS_VIA_SYSTEMCTL=1"))
  assert.deepEqual(values(unit, "UMask"), ["0077"])
  assert.ok(!unit.includes("sysinit-reactivation"))
})

test("--nixos adds sysinit-reactivation.target; --late keeps default dependencies", () => {
  const m = manifest("sops-nix-manifest.json")
  const nixos = file(planUnits(m, { ...opts, nixos: true }), installUnitName)
  assert.deepEqual(values(nixos, "RequiredBy"), ["sysinit-reactivation.target"])
  assert.ok(values(nixos, "Before")[0]?.includes("sysinit-reactivation.target"))
  const late = file(planUnits(m, { ...opts, stage: "late" }), installUnitName)
  assert.deepEqual(values(late, "DefaultDependencies"), [])
  assert.deepEqual(values(late, "WantedBy"), ["multi-user.target"])
  assert.deepEqual(values(late, "Before"), [])
  assert.equal(values(late, "RequiresMountsFor").length, 7)
})

test("consumers get Requires= and After= the install unit", () => {
  const plan = planUnits(manifest("sops-nix-manifest.json"), opts)
  assert.deepEqual(plan.consumers, [
    "app.service",
    "nginx.service",
    "postfix.service",
    "postgresql.service",
    "systemd-networkd.service",
  ])
  const dropIn = file(plan, "postgresql.service.d/coffer-secrets.conf")
  assert.deepEqual(values(dropIn, "Requires"), [installUnitName])
  assert.deepEqual(values(dropIn, "After"), [installUnitName])
  assert.ok(!dropIn.includes("[Service]"))
  const wants = file(
    planUnits(manifest("sops-nix-manifest.json"), { ...opts, dependency: "wants" }),
    "nginx.service.d/coffer-secrets.conf",
  )
  assert.deepEqual(values(wants, "Wants"), [installUnitName])
  assert.deepEqual(values(wants, "Requires"), [])
  assert.deepEqual(values(wants, "After"), [installUnitName])
})

test("the users phase: its own unit before sysusers and userborn, its consumers follow it", () => {
  const plan = planUnits(manifest("coffer-manifest.json"), opts)
  assert.deepEqual(plan.installUnits, [usersInstallUnitName, installUnitName])
  const users = file(plan, usersInstallUnitName)
  assert.deepEqual(values(users, "Before"), [
    "systemd-sysusers.service userborn.service sysinit.target shutdown.target",
  ])
  assert.deepEqual(values(users, "WantedBy"), [
    "sysinit.target systemd-sysusers.service userborn.service",
  ])
  assert.deepEqual(values(users, "ExecStart"), [
    "/usr/bin/coffer install --phase users --ignore-passwd /etc/coffer/manifest.json",
  ])
  assert.deepEqual(values(users, "RequiresMountsFor"), [
    "/etc/ssh/ssh_host_ed25519_key",
    "/etc/coffer/manifest.json",
    "/etc/coffer/secrets/app.yaml",
  ])
  const regular = file(plan, installUnitName)
  assert.ok(values(regular, "After")[0]?.endsWith(usersInstallUnitName))
  assert.deepEqual(values(regular, "ExecStart"), [
    "/usr/bin/coffer install --phase regular /etc/coffer/manifest.json",
  ])
  const getty = file(plan, "getty@tty1.service.d/coffer-secrets.conf")
  assert.deepEqual(values(getty, "Requires"), [usersInstallUnitName])
  // A users manifest on its own makes only the users unit.
  const alone = planUnits(manifest("sops-nix-users-manifest.json"), opts)
  assert.deepEqual(alone.installUnits, [usersInstallUnitName])
})

test("credentials become LoadCredential= lines on the stable path", () => {
  const plan = planUnits(manifest("coffer-manifest.json"), opts)
  const ts = file(plan, "tailscaled-autoconnect.service.d/coffer-secrets.conf")
  assert.deepEqual(values(ts, "LoadCredential"), [
    "tailscale-authkey:/run/secrets/tailscale-authkey",
  ])
  assert.deepEqual(values(ts, "Environment"), ["TS_AUTHKEY_FILE=%d/tailscale-authkey"])
  assert.deepEqual(values(ts, "Requires"), [installUnitName])
  const grafana = file(plan, "grafana.service.d/coffer-secrets.conf")
  assert.deepEqual(values(grafana, "LoadCredential"), ["grafana_admin:/run/secrets/grafana/admin"])
  assert.deepEqual(values(grafana, "Environment"), [])
})

test("a unit that consumes several secrets gets one drop-in listing all", () => {
  const m = validateManifest(
    {
      ageKeyFile: "/k",
      secrets: [
        {
          name: "a",
          sopsFile: "/f",
          restartUnits: ["x.service"],
          credential: { units: ["x.service"] },
        },
        { name: "b", sopsFile: "/f", credential: { units: ["x.service"], name: "bee" } },
        { name: "u", sopsFile: "/f", neededForUsers: true, reloadUnits: ["x.service"] },
      ],
      templates: [{ name: "t.conf", content: "x", credential: { units: ["x.service"] } }],
      placeholderBySecretName: { a: "<A>", b: "<B>", u: "<U>" },
    },
    "t",
  )
  const consumers = consumersOf(m)
  assert.equal(consumers.length, 1)
  assert.deepEqual(consumers[0]?.installUnits, [installUnitName, usersInstallUnitName].sort())
  const text = file(planUnits(m, opts), "x.service.d/coffer-secrets.conf")
  assert.deepEqual(values(text, "LoadCredential"), [
    "a:/run/secrets/a",
    "bee:/run/secrets/b",
    "rendered_t.conf:/run/secrets/rendered/t.conf",
  ])
})

test("an install unit named as a consumer gets no drop-in (no self-dependency)", () => {
  const m = validateManifest(
    { ageKeyFile: "/k", secrets: [{ name: "a", sopsFile: "/f", restartUnits: [installUnitName] }] },
    "t",
  )
  assert.deepEqual(planUnits(m, opts).consumers, [])
})

test("command lines and paths are quoted and escaped for systemd", () => {
  assert.equal(
    commandLine(["/usr/bin/coffer", "install", "/etc/m.json"]),
    "/usr/bin/coffer install /etc/m.json",
  )
  assert.equal(
    commandLine(["/opt/my tools/coffer", "a%b", "$HOME", 'q"']),
    '"/opt/my tools/coffer" a%%b $$HOME "q\\""',
  )
  const m = validateManifest({ ageKeyFile: "/keys/100% key.txt", secrets: [] }, "t")
  const unit = file(
    planUnits(m, { cofferPath: "/usr/bin/coffer", manifestPath: "/etc/m%.json" }),
    installUnitName,
  )
  assert.deepEqual(values(unit, "RequiresMountsFor"), ['"/keys/100%% key.txt"', "/etc/m%%.json"])
  assert.deepEqual(values(unit, "ExecStart"), ["/usr/bin/coffer install /etc/m%%.json"])
})
