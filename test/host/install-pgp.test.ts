/**
 * `coffer install` with `sshKeyPaths` (docs/host/sops-nix-manifest.md "The install, step by step": GPG from SSH) for real: as
 * root, on a real ramfs in a private mount namespace (as in install.test.ts), the RSA SSH
 * key of sops-nix's test assets is turned into its OpenPGP key in a temporary keyring under
 * the mount point, which opens sops-nix's own `secrets.yaml` (its second PGP recipient).
 * Afterwards the keyring and its gpg-agent are gone.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { copyFileSync, readFileSync, readdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { repoRoot } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { privateNamespace } from "../support/namespace.js"
import { requireRoot, requireTool } from "../support/tools.js"
import { processesMentioning } from "./fixtures.js"

const driver = join(repoRoot, "dist", "test", "host", "install-driver.js")
const vectors = join(repoRoot, "test/vectors/sops/sops-nix")
const fingerprint = "2504791468B153B8A3963CC97BA53D1919C5DFD4"

test("sshKeyPaths: an RSA host key becomes a PGP key in a temporary keyring that opens sops-nix's secrets.yaml, and the keyring is gone after", async (t) => {
  if (!requireRoot(t, "mounts a ramfs in a private mount namespace")) return
  for (const [tool, pkg] of [
    ["unshare", "util-linux"],
    ["nsenter", "util-linux"],
    ["gpg", "gnupg"],
    ["gpgconf", "gnupg"],
  ] as const) {
    if (!requireTool(t, tool, pkg)) return
  }
  const root = tmpTree(t, {})
  const ns = await privateNamespace(t)
  const hostKey = join(root, "ssh_host_rsa_key")
  copyFileSync(join(vectors, "keys/ssh-key"), hostKey)
  const ed25519Key = join(root, "ssh_host_ed25519_key")
  copyFileSync(join(vectors, "keys/ssh-ed25519-key"), ed25519Key)
  const mount = `${root}/run/secrets.d`
  const manifestPath = join(root, "manifest.json")
  const sopsFile = join(vectors, "secrets.yaml")
  writeFileSync(
    manifestPath,
    JSON.stringify({
      secrets: [
        {
          name: "test_key",
          key: "test_key",
          sopsFile,
          mode: "0400",
          path: `${root}/run/secrets/test_key`,
        },
        {
          name: "nested",
          key: "nested/test/file",
          sopsFile,
          mode: "0400",
          path: `${root}/run/secrets/nested`,
        },
        {
          name: "absent",
          key: "no_such_key",
          sopsFile,
          mode: "0400",
          path: `${root}/run/secrets/absent`,
        },
      ],
      secretsMountPoint: mount,
      symlinkPath: `${root}/run/secrets`,
      // the only key source: age keys (ageSshKeyPaths, ageKeyFile) are left out on purpose
      sshKeyPaths: [hostKey, ed25519Key, join(root, "missing_rsa_key")],
      logging: { keyImport: true, secretChanges: false },
    }),
  )
  const expected = JSON.parse(
    readFileSync(join(vectors, "secrets.yaml.expected.json"), "utf8"),
  ) as { plaintext: { test_key: string; nested: { test: { file: string } } } }

  const result = await ns.node([driver, manifestPath])
  // "absent" names a key the file does not have: the install is incomplete, the rest is there
  assert.equal(result.status, 1, result.stderr)
  assert.match(result.stderr, /secret "absent"/)
  assert.match(
    result.stdout.toString("utf8"),
    new RegExp(`imported "${hostKey}" as PGP key ${fingerprint}`),
  )
  assert.match(result.stderr, /warning: SSH key ".*ssh_host_ed25519_key" is ssh-ed25519, not RSA/)
  assert.match(result.stderr, /warning: cannot read SSH key ".*missing_rsa_key"/)
  const inside = (path: string): string => ns.inside(path)
  assert.equal(readFileSync(inside(`${mount}/1/test_key`), "utf8"), expected.plaintext.test_key)
  assert.equal(
    readFileSync(inside(`${mount}/1/nested`), "utf8"),
    expected.plaintext.nested.test.file,
  )
  const mountinfo = readFileSync(`/proc/${String(ns.pid)}/mountinfo`, "utf8").split("\n")
  assert.match(mountinfo.find((l) => l.split(" ")[4] === mount) ?? "", / - ramfs /)

  // the keyring (secret keys) is removed, and its gpg-agent stopped
  assert.deepEqual(
    readdirSync(inside(mount)).filter((n) => !/^\d+$/.test(n)),
    [],
    "nothing but generations is left in the mount point",
  )
  assert.deepEqual(processesMentioning(`${mount}/.gnupg-`), [])
})
