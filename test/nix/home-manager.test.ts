/**
 * The home-manager modules (nix/home-manager): sops-nix's user-level options give the
 * manifest sops-nix's home-manager module writes (test/vectors/nix/home-alice.manifest.json,
 * recorded from sops-nix itself), agenix's give agenix's $XDG_RUNTIME_DIR layout as `%r`
 * paths, both run from the user services of the same names, and every option the two
 * upstream modules declare exists.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { expandRuntimeDir, parseManifest } from "../../src/host/manifest.js"
import { evalModules, repoPath, requireNix, root, testNixDir } from "./nix.js"

const homeModules = repoPath("nix/home-manager")
const alice = repoPath("test/nix/examples/home-alice.nix")
const hm = { kind: "home-manager" } as const

test("sops-nix's home-manager example: the manifest sops-nix writes, in user mode", (t) => {
  if (!requireNix(t)) return
  const got = evalModules(
    [homeModules, alice],
    "r: r.manifests // { failed = r.failedAssertions; }",
    hm,
  ) as {
    sops: unknown
    failed: string[]
  }
  assert.deepEqual(got.failed, [])
  const expected = JSON.parse(
    readFileSync(join(root, "test", "vectors", "nix", "home-alice.manifest.json"), "utf8"),
  ) as unknown
  assert.deepStrictEqual(got.sops, expected)
  const manifest = expandRuntimeDir(parseManifest(JSON.stringify(got.sops), "m"), "/run/user/1000")
  assert.equal(manifest.userMode, true)
  assert.equal(manifest.secretsMountPoint, "/run/user/1000/secrets.d")
})

test("agenix's home-manager options: $XDG_RUNTIME_DIR/agenix as %r, no owners", (t) => {
  if (!requireNix(t)) return
  const got = evalModules([homeModules, alice], "r: r.manifests.age", hm) as Record<string, unknown>
  assert.equal(got["symlinkPath"], "%r/agenix")
  assert.equal(got["secretsMountPoint"], "%r/agenix.d")
  assert.equal(got["userMode"], true)
  assert.deepEqual(got["ageSshKeyPaths"], [
    "/home/alice/.ssh/id_ed25519",
    "/home/alice/.ssh/id_rsa",
  ])
  const manifest = expandRuntimeDir(parseManifest(JSON.stringify(got), "m"), "/run/user/1000")
  assert.deepEqual(
    manifest.secrets.map((s) => [s.name, s.path, s.defaultPath, s.owner, s.mode.toString(8)]),
    [
      ["aws", "/home/alice/.aws/credentials", "/run/user/1000/agenix/aws", null, "600"],
      ["npmrc", "/run/user/1000/agenix/npmrc", "/run/user/1000/agenix/npmrc", null, "400"],
    ],
  )
})

test("the user services sops-nix.service and agenix.service, restarted on a switch", (t) => {
  if (!requireNix(t)) return
  const got = evalModules(
    [homeModules, alice],
    `r: { services = r.config.systemd.user.services; activation = r.config.home.activation;
          manifest = r.config.sops.manifestFile.name; }`,
    hm,
  ) as {
    services: Record<
      string,
      { Service: { ExecStart: string; Type: string }; Install: { WantedBy: string[] } }
    >
    activation: Record<string, string>
    manifest: string
  }
  assert.deepEqual(Object.keys(got.services).sort(), ["agenix", "sops-nix"])
  for (const service of Object.values(got.services)) {
    assert.equal(service.Service.Type, "oneshot")
    assert.deepEqual(service.Install.WantedBy, ["default.target"])
  }
  assert.match(
    got.services["agenix"]?.Service.ExecStart ?? "",
    /\/bin\/coffer install --ignore-passwd \/nix\/store\/\S+-agenix-manifest\.json$/,
  )
  assert.equal(got.manifest, "manifest.json")
  for (const unit of ["sops-nix", "agenix"]) {
    assert.match(
      got.activation[unit] ?? "",
      new RegExp(`systemctl --user restart ${unit}\\.service`),
    )
  }
})

test("agenix's age.package (rage, a wrapper) is not run: coffer installs, and a warning says so", (t) => {
  if (!requireNix(t)) return
  const select =
    "r: { exec = r.config.systemd.user.services.agenix.Service.ExecStart; warnings = r.warnings; }"
  const rage = `{ age.package = { type = "derivation"; name = "rage-0.11.1"; outPath = "/nix/store/00000000000000000000000000000000-rage-0.11.1"; }; }`
  const got = evalModules([homeModules, alice, rage], select, hm) as {
    exec: string
    warnings: string[]
  }
  assert.match(got.exec, /^\/nix\/store\/0{32}-coffer\/bin\/coffer install --ignore-passwd /)
  assert.deepEqual(got.warnings, [
    `age.package = "rage-0.11.1" is agenix's age package, which coffer does not run: coffer decrypts the age files by itself (pkgs.coffer). Remove age.package, or set it to coffer.`,
  ])
  // a coffer package given there is the one that runs, without a warning
  const own = `{ age.package = { type = "derivation"; name = "coffer-0.2.0"; outPath = "/nix/store/11111111111111111111111111111111-coffer-0.2.0"; }; }`
  const mine = evalModules([homeModules, alice, own], select, hm) as typeof got
  assert.match(mine.exec, /^\/nix\/store\/1{32}-coffer-0\.2\.0\/bin\/coffer install /)
  assert.deepEqual(mine.warnings, [])
})

test("home-manager: sops.age.generateKey without sops.age.keyFile is refused, naming both", (t) => {
  if (!requireNix(t)) return
  const failed = evalModules(
    [
      homeModules,
      alice,
      '{ lib, ... }: { sops.age.generateKey = true; sops.age.keyFile = lib.mkForce null; sops.age.sshKeyPaths = [ "/k" ]; }',
    ],
    "r: r.failedAssertions",
    hm,
  )
  assert.deepEqual(failed, [
    `sops.age.generateKey = true needs sops.age.keyFile, the file the key is made in (for example sops.age.keyFile = "/var/lib/sops-nix/key.txt";)`,
  ])
})

test("every option of sops-nix's and agenix's home-manager modules exists", (t) => {
  if (!requireNix(t)) return
  const upstream = JSON.parse(readFileSync(join(testNixDir, "upstream-options.json"), "utf8")) as {
    "home-manager": Record<string, { options: string[]; commit: string }>
  }
  const ours = new Set(evalModules([homeModules], "r: r.options", hm) as string[])
  for (const [tree, list] of Object.entries(upstream["home-manager"])) {
    assert.ok(list.options.length > 5, tree)
    assert.deepEqual(
      list.options.filter((name) => !ours.has(name)),
      [],
      `${tree} (upstream ${list.commit})`,
    )
  }
})
