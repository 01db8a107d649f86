/**
 * The build-time check of the sops manifest, run as Nix would run it: the `checkPhase` that
 * nixosModules.sops gives the manifest's derivation, run by bash with `$out` the manifest
 * the module wrote, with the real `coffer install --check-mode=…` of this repository (as
 * sops-nix's `sops-install-secrets -check-mode=sopsfile`, docs/host/sops-nix-manifest.md "Checks at build time"). A key
 * that is not in its sops file, and a file that is not a sops file, fail the build with a
 * message naming the secret and the file; without validateSopsFiles only the manifest is
 * checked, as in sops-nix.
 *
 * Nix paths are given store paths without being copied (`--readonly-mode`), so the test
 * points each store path of the manifest back at the file it was made from.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { spawnSync } from "node:child_process"
import { writeFileSync } from "node:fs"
import { basename, join } from "node:path"
import { tmpTree } from "../support/tmp.js"
import { requireTool } from "../support/tools.js"
import { evalModules, repoPath, requireNix, root } from "./nix.js"

const secretsDir = join(root, "test", "vectors", "nix", "secrets")

interface Checked {
  status: number | null
  stderr: string
}

/**
 * Evaluates nixosModules.sops with the sops-store example and `extra`, then runs the
 * manifest's checkPhase on the manifest.
 * @param files where the files named in the manifest really are, by base name
 */
function check(dir: string, extra: string, files: Readonly<Record<string, string>>): Checked {
  const got = evalModules(
    [
      repoPath("nix/modules/sops.nix"),
      repoPath("test/nix/examples/sops-store.nix"),
      `{ sops.validationPackage = { type = "derivation"; name = "coffer"; outPath = "${root}"; }; }`,
      extra,
    ],
    "r: { m = r.manifests.sops; check = r.config.system.build.sops-nix-manifest.checkPhase; }",
  ) as { m: { secrets: { sopsFile: string }[] }; check: string }
  for (const s of got.m.secrets) {
    const name = basename(s.sopsFile).replace(/^[0-9a-z]{32}-/, "")
    const real = files[name]
    assert.ok(real !== undefined, `no file for ${s.sopsFile}`)
    s.sopsFile = real
  }
  const out = join(dir, "manifest.json")
  writeFileSync(out, JSON.stringify(got.m))
  const r = spawnSync("bash", ["-e", "-c", got.check], {
    cwd: dir,
    env: { ...process.env, out },
    encoding: "utf8",
  })
  return { status: r.status, stderr: r.stderr }
}

test("the manifest's build-time check: keys and sops files checked, naming the secret and the file", (t) => {
  if (!requireNix(t) || !requireTool(t, "bash", "bash")) return
  const dir = tmpTree(t, { "plain.yaml": "token: not-encrypted\n" })
  const files = {
    "dao.yaml": join(secretsDir, "dao.yaml"),
    "wg.bin": join(secretsDir, "wg.bin"),
    "plain.yaml": join(dir, "plain.yaml"),
  }
  const plain = `(/. + ${JSON.stringify(join(dir, "plain.yaml"))})`

  // the example: every key is in its file
  const ok = check(dir, "{ }", files)
  assert.equal(ok.status, 0, ok.stderr)

  // a key that is not in the file
  const missing = check(dir, `{ sops.secrets.smtp-password.key = "smtp/password"; }`, files)
  assert.equal(missing.status, 1)
  assert.match(
    missing.stderr,
    new RegExp(
      `secret "smtp-password": the key "smtp/password" cannot be found in "${files["dao.yaml"]}"`,
    ),
  )

  // a file that is not a sops file
  const notSops = check(dir, `{ sops.secrets.api-token.sopsFile = ${plain}; }`, files)
  assert.equal(notSops.status, 1)
  assert.match(
    notSops.stderr,
    new RegExp(`secret "api-token": "${files["plain.yaml"]}": no sops metadata found`),
  )
  assert.ok(!notSops.stderr.includes("not-encrypted"), "the file's content is not shown")

  // without validateSopsFiles, the manifest alone is checked (as sops-nix's -check-mode=manifest)
  const unchecked = check(
    dir,
    `{ sops.validateSopsFiles = false; sops.secrets.smtp-password.key = "smtp/password"; }`,
    files,
  )
  assert.equal(unchecked.status, 0, unchecked.stderr)
})
