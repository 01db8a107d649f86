/**
 * The manifest's host keys end to end (issue 19 "Host keys"; src/host/keys.ts), as root on
 * a real ramfs in a private mount namespace, through `bin/coffer install`:
 *
 * - `ageKeyFile`: a source encrypted to an age identity file's recipient, with no SSH host
 *   key at all, installs; a missing key file stops the install, naming it, and the live
 *   generation stays as it was;
 * - `gnupgHome`: a PGP-encrypted file written by the real sops (a vector) installs with
 *   that keyring's real gpg key;
 * - PGP with Shamir: the real sops splits the data key between a PGP group and an age group
 *   (threshold 2); the install opens it with the real gpg key and the host's SSH key, and
 *   with only one of them the secret fails and keeps its content (issue 19 "PGP with
 *   Shamir").
 */
import { test } from "node:test"
import type { TestContext } from "node:test"
import assert from "node:assert/strict"
import { chmodSync, readFileSync, readlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { binPath, repoRoot, runCli, runCommand } from "../support/cli.js"
import type { RunResult } from "../support/cli.js"
import { gpgHome } from "../support/gpg.js"
import { privateNamespace } from "../support/namespace.js"
import type { Namespace } from "../support/namespace.js"
import { tmpTree } from "../support/tmp.js"
import { requirePeer } from "../support/peers.js"
import { requireTool } from "../support/tools.js"
import { hostKey, requireInstallTools, secretEntry, sopsFile } from "./fixtures.js"

interface KeyHost {
  readonly root: string
  readonly ns: Namespace
  readonly link: string
  install(manifest: Record<string, unknown>): Promise<RunResult>
  /** What the live generation holds for `name` (through the stable link). */
  live(name: string): string
}

async function keyHost(t: TestContext): Promise<KeyHost> {
  const root = tmpTree(t, {})
  chmodSync(root, 0o755)
  const ns = await privateNamespace(t)
  const mount = `${root}/run/secrets.d`
  const link = `${root}/run/secrets`
  const manifestPath = join(root, "manifest.json")
  return {
    root,
    ns,
    link,
    install: (manifest) => {
      writeFileSync(
        manifestPath,
        JSON.stringify({ secretsMountPoint: mount, symlinkPath: link, ...manifest }),
      )
      return ns.node([binPath(), "install", manifestPath])
    },
    live: (name) => readFileSync(ns.inside(`${readlinkSync(ns.inside(link))}/${name}`), "utf8"),
  }
}

test("ageKeyFile: an age identity file alone opens the sources; a missing one stops the install", async (t) => {
  if (!requireInstallTools(t)) return
  const h = await keyHost(t)
  const keyFile = join(h.root, "key.txt")
  const keygen = await runCli(["age-keygen", "-o", keyFile])
  assert.equal(keygen.status, 0, keygen.stderr)
  const recipient = /^Public key: (age1\S+)$/m.exec(keygen.stderr)?.[1]
  assert.ok(recipient !== undefined, keygen.stderr)
  const source = join(h.root, "s.yaml")
  await sopsFile(source, "yaml", "db: from-the-key-file\n", recipient)
  const secrets = [secretEntry("db", source, h.link)]

  const r = await h.install({ secrets, ageKeyFile: keyFile, ageSshKeyPaths: [] })
  assert.equal(r.status, 0, r.stderr)
  assert.match(
    r.stdout.toString(),
    new RegExp(`imported age key file "${keyFile}" \\(1 identity\\)`),
  )
  assert.equal(h.live("db"), "from-the-key-file")
  const live = readlinkSync(h.ns.inside(h.link))

  const missing = join(h.root, "none.txt")
  await sopsFile(source, "yaml", "db: newer\n", recipient)
  const gone = await h.install({ secrets, ageKeyFile: missing, ageSshKeyPaths: [] })
  assert.equal(gone.status, 1)
  assert.match(gone.stderr, new RegExp(`^error: .*"${missing}"`, "m"))
  assert.equal(readlinkSync(h.ns.inside(h.link)), live, "the live generation stays")
  assert.equal(h.live("db"), "from-the-key-file")
})

test("gnupgHome: a file the real sops encrypted to a PGP key installs with that keyring", async (t) => {
  if (!requireInstallTools(t) || !requireTool(t, "gpg", "gnupg")) return
  const vectors = join(repoRoot, "test", "vectors", "sops", "getsops-sops")
  const expected = JSON.parse(
    readFileSync(join(vectors, "example.yaml.expected.json"), "utf8"),
  ) as {
    plaintext: { myapp1: string; app2: { db: { password: string } } }
  }
  const home = gpgHome(t, [join(vectors, "keys", "sops_functional_tests_key.asc")])
  const h = await keyHost(t)
  const source = join(vectors, "example.yaml")
  const r = await h.install({
    secrets: [
      secretEntry("myapp1", source, h.link),
      secretEntry("db_password", source, h.link, { key: "app2/db/password" }),
    ],
    gnupgHome: home,
    ageSshKeyPaths: [],
  })
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout.toString(), new RegExp(`using GnuPG home "${home}"`))
  assert.equal(h.live("myapp1"), expected.plaintext.myapp1)
  assert.equal(h.live("db_password"), expected.plaintext.app2.db.password)
  for (const value of [expected.plaintext.myapp1, expected.plaintext.app2.db.password])
    assert.ok(!r.stderr.includes(value) && !r.stdout.toString().includes(value))
})

test("PGP and age key groups with a Shamir threshold of 2: the install needs the real gpg key and the host key", async (t) => {
  if (!requireInstallTools(t) || !requireTool(t, "gpg", "gnupg")) return
  const sops = requirePeer(t, "sops")
  if (sops === null) return
  const vectors = join(repoRoot, "test", "vectors", "sops", "getsops-sops")
  const fingerprint = "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"
  const home = gpgHome(t, [join(vectors, "keys", "sops_functional_tests_key.asc")])
  const h = await keyHost(t)
  const key = hostKey(h.root)
  const source = join(h.root, "shared.yaml")
  writeFileSync(
    join(h.root, ".sops.yaml"),
    `creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - pgp: [${fingerprint}]\n      - age: [${key.ageRecipient}]\n`,
  )
  writeFileSync(source, "token: needs-both-groups\n")
  const encrypted = await runCommand(sops, ["-e", "-i", source], {
    cwd: h.root,
    env: { GNUPGHOME: home },
  })
  assert.equal(encrypted.status, 0, encrypted.stderr)
  const text = readFileSync(source, "utf8")
  assert.match(text, /shamir_threshold: 2/)
  assert.match(text, new RegExp(`fp: ${fingerprint}`))
  const secrets = [secretEntry("token", source, h.link)]

  const both = await h.install({ secrets, gnupgHome: home, ageSshKeyPaths: [key.path] })
  assert.equal(both.status, 0, both.stderr)
  assert.equal(h.live("token"), "needs-both-groups")

  // one group's key alone is one share of two: the secret fails, named, and stays as it was
  const emptyHome = gpgHome(t)
  const one = await h.install({ secrets, gnupgHome: emptyHome, ageSshKeyPaths: [key.path] })
  assert.equal(one.status, 1)
  assert.match(one.stderr, /^error: .*secret "token"/m)
  assert.ok(!one.stderr.includes("needs-both-groups"))
  assert.equal(h.live("token"), "needs-both-groups")
})
