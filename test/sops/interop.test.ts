// The proof of docs/goals.md "Capabilities" for sops files: every real sops file in test/vectors/sops (sops 3.2.0 to 3.13.2, see
// its README) decrypts with `coffer decrypt` to its .expected.json plaintext, with the keys
// found the way sops finds them: age key files through SOPS_AGE_KEY_FILE, the sops-nix
// file also through its SSH ed25519 key, PGP files through the real gpg with the keys
// imported into a throwaway GNUPGHOME.
import { test } from "node:test"
import assert from "node:assert/strict"
import { copyFileSync, mkdirSync, readFileSync, readdirSync, statSync } from "node:fs"
import { dirname, join, relative } from "node:path"
import { repoRoot, runCli } from "../support/cli.js"
import { requireTool } from "../support/tools.js"
import { sopsEnv } from "./sops-env.js"

const vectors = join(repoRoot, "test/vectors/sops")

interface Expected {
  readonly format: string
  readonly data_key_recovered_via: readonly string[]
  readonly mac: string
  readonly decrypted_comments: readonly string[]
  readonly plaintext: unknown
}

function findExpected(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...findExpected(path))
    else if (name.endsWith(".expected.json")) out.push(path)
  }
  return out.sort()
}

/** The age key file of each vector folder (flux's global/ uses its own key). */
function ageKeyFile(file: string): string {
  const rel = relative(vectors, file)
  const group = rel.split("/")[0] ?? ""
  const keys: Record<string, string> = {
    "sops-nix": "age-keys.txt",
    "sops-age": "age-key.txt",
    "helm-secrets": "age-key.txt",
    "fluxcd-kustomize-controller": rel.includes("/global/") ? "age-global.txt" : "age.txt",
  }
  const key = keys[group]
  assert.ok(key !== undefined, `no age key known for ${rel}`)
  return join(vectors, group, "keys", key)
}

/** Every PGP key file of the file's vector folder. */
function pgpKeyFiles(file: string): string[] {
  const group = relative(vectors, file).split("/")[0] ?? ""
  const dir = join(vectors, group, "keys")
  return readdirSync(dir)
    .filter((n) => /\.(asc|gpg|pgp)$/.test(n))
    .map((n) => join(dir, n))
}

const expectedFiles = findExpected(vectors)

test("the vector set is all there", () => {
  assert.ok(expectedFiles.length >= 33, `only ${expectedFiles.length} vectors found`)
})

for (const expectedPath of expectedFiles) {
  const file = expectedPath.slice(0, -".expected.json".length)
  const name = relative(vectors, file)
  const expected = JSON.parse(readFileSync(expectedPath, "utf8")) as Expected
  const via = expected.data_key_recovered_via[0] ?? ""
  const isPgp = via.startsWith("pgp ")

  test(`${name} decrypts to its expected plaintext (${via.split(" ")[0] ?? "?"})`, async (t) => {
    if (isPgp && !requireTool(t, "gpg", "gnupg")) return
    const { env } = isPgp
      ? sopsEnv(t, pgpKeyFiles(file))
      : sopsEnv(t, [], { SOPS_AGE_KEY_FILE: ageKeyFile(file) })
    const args = ["decrypt", "--output-type", "json", file]
    if (expected.mac !== "verified") {
      // A file without a MAC is refused unless the MAC is explicitly ignored (sops does the same).
      const refused = await runCli(args, { env })
      assert.equal(refused.status, 1, refused.stderr)
      assert.match(refused.stderr, /^error: .*no mac/m)
      assert.equal(refused.stdout.length, 0)
      args.splice(1, 0, "--ignore-mac")
    }
    const r = await runCli(args, { env })
    assert.equal(r.status, 0, r.stderr)
    assert.deepEqual(JSON.parse(r.stdout.toString("utf8")), expected.plaintext)

    // Comments survive in formats that have them: decrypt in the file's own format.
    if (expected.decrypted_comments.length > 0 && expected.format !== "json") {
      const native = await runCli(
        ["decrypt", ...(expected.mac === "verified" ? [] : ["--ignore-mac"]), file],
        { env },
      )
      assert.equal(native.status, 0, native.stderr)
      const text = native.stdout.toString("utf8")
      for (const comment of expected.decrypted_comments) {
        assert.ok(
          text.includes(comment.trim()),
          `comment ${JSON.stringify(comment)} missing from the output`,
        )
      }
      assert.ok(!text.includes("ENC["), "an encrypted comment was left in the output")
    }
  })
}

const nix = join(vectors, "sops-nix")
const nixExpected = JSON.parse(
  readFileSync(join(nix, "secrets.yaml.expected.json"), "utf8"),
) as Expected

test("sops-nix secrets.yaml opens with the host's SSH ed25519 key (ssh-to-age recipient)", async (t) => {
  const { env } = sopsEnv(t, [], {
    SOPS_AGE_SSH_PRIVATE_KEY_FILE: join(nix, "keys/ssh-ed25519-key"),
  })
  const r = await runCli(["decrypt", "--output-type", "json", join(nix, "secrets.yaml")], { env })
  assert.equal(r.status, 0, r.stderr)
  assert.deepEqual(JSON.parse(r.stdout.toString("utf8")), nixExpected.plaintext)
})

test("sops-nix secrets.yaml opens with ~/.ssh/id_ed25519 when nothing is configured", async (t) => {
  const { env, home } = sopsEnv(t)
  mkdirSync(join(home, ".ssh"), { mode: 0o700 })
  copyFileSync(join(nix, "keys/ssh-ed25519-key"), join(home, ".ssh/id_ed25519"))
  const r = await runCli(["decrypt", "--output-type", "json", join(nix, "secrets.yaml")], { env })
  assert.equal(r.status, 0, r.stderr)
  assert.deepEqual(JSON.parse(r.stdout.toString("utf8")), nixExpected.plaintext)
})

test("sops-nix secrets.yaml opens with the default keys.txt and with SOPS_AGE_KEY", async (t) => {
  const keyText = readFileSync(join(nix, "keys/age-keys.txt"), "utf8")
  const { env, home } = sopsEnv(t)
  const keysTxt = join(home, ".config/sops/age/keys.txt")
  mkdirSync(dirname(keysTxt), { recursive: true })
  copyFileSync(join(nix, "keys/age-keys.txt"), keysTxt)
  const viaDefault = await runCli(["decrypt", "--output-type", "json", join(nix, "secrets.yaml")], {
    env,
  })
  assert.equal(viaDefault.status, 0, viaDefault.stderr)
  assert.deepEqual(JSON.parse(viaDefault.stdout.toString("utf8")), nixExpected.plaintext)

  const { env: env2 } = sopsEnv(t, [], { SOPS_AGE_KEY: keyText })
  const viaEnv = await runCli(["decrypt", "--output-type", "json", join(nix, "secrets.yaml")], {
    env: env2,
  })
  assert.equal(viaEnv.status, 0, viaEnv.stderr)
  assert.deepEqual(JSON.parse(viaEnv.stdout.toString("utf8")), nixExpected.plaintext)
})

test("sops-nix secrets.yaml (age and PGP in one group) also opens through gpg alone", async (t) => {
  if (!requireTool(t, "gpg", "gnupg")) return
  const { env } = sopsEnv(t, [join(nix, "keys/key.asc")])
  const r = await runCli(["decrypt", "--output-type", "json", join(nix, "secrets.yaml")], { env })
  assert.equal(r.status, 0, r.stderr)
  assert.deepEqual(JSON.parse(r.stdout.toString("utf8")), nixExpected.plaintext)
})
