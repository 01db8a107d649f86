// `coffer decrypt` (docs/formats/sops.md "Commands"): output formats, --extract, -i, --output, and the
// errors people hit: no key (where coffer looked), a tampered value (its path), a MAC
// mismatch, a file that is not a sops file.
import { test } from "node:test"
import assert from "node:assert/strict"
import {
  chmodSync,
  copyFileSync,
  lstatSync,
  readFileSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs"
import { join } from "node:path"
import { repoRoot, runCli } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { sopsEnv } from "../sops/sops-env.js"
import { requireTool } from "../support/tools.js"
import { generateX25519Identity } from "../../src/age/x25519.js"

const vectors = join(repoRoot, "test/vectors/sops")
const ageYaml = join(vectors, "sops-age/secret.enc.yaml")
const ageEnv = join(vectors, "sops-age/secret.enc.env")
const ageKey = join(vectors, "sops-age/keys/age-key.txt")
const helmAge = join(vectors, "helm-secrets/secrets.age.yaml")
const helmKey = join(vectors, "helm-secrets/keys/age-key.txt")

test("decrypts to standard output in the file's format", async (t) => {
  const { env } = sopsEnv(t, [], { SOPS_AGE_KEY_FILE: ageKey })
  const r = await runCli(["decrypt", ageYaml], { env })
  assert.equal(r.status, 0, r.stderr)
  const text = r.stdout.toString("utf8")
  assert.match(text, /^secret: this is a secret$/m)
  assert.match(text, /^int: 7$/m)
  assert.match(text, /^boolean: true$/m)
  assert.doesNotMatch(text, /ENC\[|^sops:/m)
})

test("--output-type json and --input-type", async (t) => {
  const { env } = sopsEnv(t, [], { SOPS_AGE_KEY_FILE: ageKey })
  const r = await runCli(["decrypt", "--output-type", "json", ageEnv], { env })
  assert.equal(r.status, 0, r.stderr)
  const expected = (
    JSON.parse(readFileSync(`${ageEnv}.expected.json`, "utf8")) as { plaintext: unknown }
  ).plaintext
  assert.deepEqual(JSON.parse(r.stdout.toString("utf8")), expected)
  // The same file under a name without a suffix needs --input-type.
  const dir = tmpTree(t, { secrets: readFileSync(ageEnv) })
  const typed = await runCli(
    ["decrypt", "--input-type", "dotenv", "--output-type", "json", join(dir, "secrets")],
    { env },
  )
  assert.equal(typed.status, 0, typed.stderr)
  assert.deepEqual(JSON.parse(typed.stdout.toString("utf8")), expected)
})

test("--extract prints a string raw, a number as text, a subtree in the format", async (t) => {
  const { env } = sopsEnv(t, [], { SOPS_AGE_KEY_FILE: ageKey })
  const str = await runCli(["decrypt", "--extract", '["complex"]["value"]', ageYaml], { env })
  assert.equal(str.status, 0, str.stderr)
  assert.equal(str.stdout.toString("utf8"), "this is a secret")
  const item = await runCli(["decrypt", ageYaml, "--extract", `['complex']['array'][1]`], { env })
  assert.equal(item.stdout.toString("utf8"), "two")
  const num = await runCli(["decrypt", "--extract", '["int"]', ageYaml], { env })
  assert.equal(num.stdout.toString("utf8"), "7\n")
  const sub = await runCli(
    ["decrypt", "--extract", '["complex"]', "--output-type", "json", ageYaml],
    { env },
  )
  assert.equal(sub.status, 0, sub.stderr)
  assert.deepEqual(JSON.parse(sub.stdout.toString("utf8")), {
    value: "this is a secret",
    array: ["one", "two", "three"],
  })
  const list = await runCli(["decrypt", "--extract", '["complex"]["array"]', ageYaml], { env })
  assert.equal(list.stdout.toString("utf8"), "- one\n- two\n- three\n")
})

test("--extract of a missing key is a data error (1) naming it; a malformed path is usage (2)", async (t) => {
  const { env } = sopsEnv(t, [], { SOPS_AGE_KEY_FILE: ageKey })
  const r = await runCli(["decrypt", "--extract", '["complex"]["nope"]', ageYaml], { env })
  assert.equal(r.status, 1)
  assert.match(r.stderr, /^error: can't extract \["complex"\]\["nope"\]/m)
  const bad = await runCli(["decrypt", "--extract", "complex.value", ageYaml], { env })
  assert.equal(bad.status, 2)
  assert.match(bad.stderr, /invalid tree path/)
})

test("real sops binary files decrypt to their exact bytes (stdout, --output, -i)", async (t) => {
  const cases: readonly { file: string; pgp?: string[]; age?: string }[] = [
    {
      file: join(vectors, "getsops-sops/example.txt"),
      pgp: [join(vectors, "getsops-sops/keys/sops_functional_tests_key.asc")],
    },
    {
      file: join(vectors, "helm-secrets/secrets.trailing-newline.raw"),
      pgp: ["private.gpg", "private2.gpg"].map((n) => join(vectors, "helm-secrets/keys", n)),
    },
    {
      file: join(vectors, "fluxcd-kustomize-controller/files/file.txt"),
      age: join(vectors, "fluxcd-kustomize-controller/keys/age.txt"),
    },
  ]
  for (const c of cases) {
    const expected = JSON.parse(readFileSync(`${c.file}.expected.json`, "utf8")) as {
      plaintext: { data: string }
    }
    const bytes = Buffer.from(expected.plaintext.data, "utf8")
    await t.test(c.file.slice(vectors.length + 1), async (t) => {
      if (c.pgp !== undefined && !requireTool(t, "gpg", "gnupg")) return
      const { env } =
        c.age === undefined ? sopsEnv(t, c.pgp ?? []) : sopsEnv(t, [], { SOPS_AGE_KEY_FILE: c.age })
      const r = await runCli(["decrypt", c.file], { env })
      assert.equal(r.status, 0, r.stderr)
      assert.ok(r.stdout.equals(bytes), r.stdout.toString("utf8"))
      const dir = tmpTree(t)
      const out = join(dir, "plain")
      const toFile = await runCli(["decrypt", "--output", out, c.file], { env })
      assert.equal(toFile.status, 0, toFile.stderr)
      assert.ok(readFileSync(out).equals(bytes))
      const inPlace = join(dir, "copy")
      copyFileSync(c.file, inPlace)
      const replaced = await runCli(["decrypt", "-i", inPlace], { env })
      assert.equal(replaced.status, 0, replaced.stderr)
      assert.ok(readFileSync(inPlace).equals(bytes))
      const json = await runCli(["decrypt", "--output-type", "json", c.file], { env })
      assert.deepEqual(JSON.parse(json.stdout.toString("utf8")), expected.plaintext)
    })
  }
})

test("a binary file that is not UTF-8 shows as a string with U+FFFD in --output-type json", async (t) => {
  const identity = generateX25519Identity()
  const dir = tmpTree(t, {
    "key.txt": `${identity.encode()}\n`,
    "b.bin": new Uint8Array([0x61, 0xff, 0x00]),
  })
  const { env } = sopsEnv(t, [], { SOPS_AGE_KEY_FILE: join(dir, "key.txt") })
  const enc = await runCli(
    [
      "encrypt",
      "--age",
      identity.toRecipient().encode(),
      "--output",
      join(dir, "b.enc"),
      join(dir, "b.bin"),
    ],
    { env },
  )
  assert.equal(enc.status, 0, enc.stderr)
  const json = await runCli(
    ["decrypt", "--input-type", "binary", "--output-type", "json", join(dir, "b.enc")],
    { env },
  )
  assert.equal(json.status, 0, json.stderr)
  assert.deepEqual(JSON.parse(json.stdout.toString("utf8")), { data: "a\ufffd\u0000" })
  const raw = await runCli(["decrypt", "--extract", '["data"]', join(dir, "b.enc")], { env })
  assert.equal(raw.status, 0, raw.stderr)
  assert.ok(raw.stdout.equals(Buffer.from([0x61, 0xff, 0x00])))
})

test("--extract list indices count comments, as sops does", async (t) => {
  const identity = generateX25519Identity()
  const dir = tmpTree(t, {
    "key.txt": `${identity.encode()}\n`,
    "l.yaml": "list:\n    # first comes a comment\n    - a\n    - b\n",
  })
  const { env } = sopsEnv(t, [], { SOPS_AGE_KEY_FILE: join(dir, "key.txt") })
  const enc = await runCli(
    ["encrypt", "--age", identity.toRecipient().encode(), "-i", join(dir, "l.yaml")],
    { env },
  )
  assert.equal(enc.status, 0, enc.stderr)
  const first = await runCli(["decrypt", "--extract", '["list"][1]', join(dir, "l.yaml")], { env })
  assert.equal(first.status, 0, first.stderr)
  assert.equal(first.stdout.toString("utf8"), "a")
  const comment = await runCli(["decrypt", "--extract", '["list"][0]', join(dir, "l.yaml")], {
    env,
  })
  assert.equal(comment.status, 1)
  assert.match(comment.stderr, /^error: can't extract \["list"\]\[0\]: it is a comment$/m)
})

test("-i replaces the file atomically and keeps its mode", async (t) => {
  const { env } = sopsEnv(t, [], { SOPS_AGE_KEY_FILE: helmKey })
  const dir = tmpTree(t)
  const file = join(dir, "secrets.yaml")
  copyFileSync(helmAge, file)
  chmodSync(file, 0o640)
  const r = await runCli(["decrypt", "-i", file], { env })
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.length, 0)
  const text = readFileSync(file, "utf8")
  assert.match(text, /^ {4}port: 92$/m)
  assert.doesNotMatch(text, /ENC\[|sops:/)
  assert.equal(statSync(file).mode & 0o777, 0o640)
  assert.deepEqual(readdirSync(dir), ["secrets.yaml"])
})

test("-i leaves the file untouched when decryption fails", async (t) => {
  const { env } = sopsEnv(t)
  const dir = tmpTree(t)
  const file = join(dir, "secrets.yaml")
  copyFileSync(helmAge, file)
  const r = await runCli(["decrypt", "-i", file], { env })
  assert.equal(r.status, 1)
  assert.deepEqual(readFileSync(file), readFileSync(helmAge))
  assert.deepEqual(readdirSync(dir), ["secrets.yaml"])
})

test("--output writes a new 0600 file", async (t) => {
  const { env } = sopsEnv(t, [], { SOPS_AGE_KEY_FILE: ageKey })
  const dir = tmpTree(t)
  const out = join(dir, "plain.yaml")
  const r = await runCli(["decrypt", "--output", out, ageYaml], { env })
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.length, 0)
  assert.match(readFileSync(out, "utf8"), /^secret: this is a secret$/m)
  assert.equal(statSync(out).mode & 0o777, 0o600)
})

test("--output makes an existing file 0600 and refuses a symbolic link (issue 18 item 8)", async (t) => {
  const { env } = sopsEnv(t, [], { SOPS_AGE_KEY_FILE: ageKey })
  const dir = tmpTree(t)
  const out = join(dir, "plain.yaml")
  writeFileSync(out, "old\n", { mode: 0o644 })
  chmodSync(out, 0o644)
  const r = await runCli(["decrypt", "--output", out, ageYaml], { env })
  assert.equal(r.status, 0, r.stderr)
  assert.match(readFileSync(out, "utf8"), /^secret: this is a secret$/m)
  assert.equal(statSync(out).mode & 0o777, 0o600)

  const target = join(dir, "target.txt")
  writeFileSync(target, "kept\n", { mode: 0o644 })
  const link = join(dir, "link.yaml")
  symlinkSync(target, link)
  const refused = await runCli(["decrypt", "--output", link, ageYaml], { env })
  assert.equal(refused.status, 1)
  assert.match(
    refused.stderr,
    /^error: ".*link\.yaml" is a symbolic link: coffer does not write plaintext through it or replace it$/m,
  )
  assert.ok(lstatSync(link).isSymbolicLink())
  assert.equal(readFileSync(target, "utf8"), "kept\n")
  assert.deepEqual(readdirSync(dir).sort(), ["link.yaml", "plain.yaml", "target.txt"])
})

test("no key: the error lists the file's recipients and every place looked at", async (t) => {
  const { env, home } = sopsEnv(t)
  const r = await runCli(["decrypt", ageYaml], { env })
  assert.equal(r.status, 1)
  assert.equal(r.stdout.length, 0)
  assert.match(r.stderr, /^error: /m)
  assert.match(r.stderr, /age1je6kjhzuhdjy3fqptpttxjh5k8q46vygzlgtpuq3030c947pc5tqz9dqvr/)
  assert.match(r.stderr, /^hint: .*SOPS_AGE_KEY_FILE: not set$/m)
  assert.ok(
    r.stderr.includes(`default key file (${home}/.config/sops/age/keys.txt): file does not exist`),
    r.stderr,
  )
  assert.match(r.stderr, /~\/\.ssh\/id_ed25519 \(.*\): file does not exist/)
})

test("a wrong SOPS_AGE_KEY_FILE is named in the error", async (t) => {
  const { env } = sopsEnv(t, [], { SOPS_AGE_KEY_FILE: "/nonexistent/keys.txt" })
  const r = await runCli(["decrypt", ageYaml], { env })
  assert.equal(r.status, 1)
  assert.match(
    r.stderr,
    /SOPS_AGE_KEY_FILE \(\/nonexistent\/keys\.txt\): failed: file does not exist/,
  )
})

test("a value moved to another key fails authentication, naming its path", async (t) => {
  const { env } = sopsEnv(t, [], { SOPS_AGE_KEY_FILE: ageKey })
  const text = readFileSync(ageYaml, "utf8")
  const secret = /^secret: (ENC\[.*\])$/m.exec(text)?.[1]
  const value = /^ {2}value: (ENC\[.*\])$/m.exec(text)?.[1]
  assert.ok(secret !== undefined && value !== undefined)
  // Swap two encrypted strings: each is authentic, but bound to the other path.
  const swapped = text.replace(secret, "SWAP").replace(value, secret).replace("SWAP", value)
  const dir = tmpTree(t, { "secret.yaml": swapped })
  const r = await runCli(["decrypt", join(dir, "secret.yaml")], { env })
  assert.equal(r.status, 1)
  assert.equal(r.stdout.length, 0)
  // the first value read is "secret" (its path, not the file's name, which also says secret)
  assert.match(r.stderr, /^error: value at secret failed authentication$/m)
  assert.doesNotMatch(r.stderr, /this is a secret/)
})

test("a deleted value is a MAC mismatch; --ignore-mac decrypts the rest", async (t) => {
  const { env } = sopsEnv(t, [], { SOPS_AGE_KEY_FILE: ageKey })
  const text = readFileSync(ageYaml, "utf8").replace(/^string: .*\n/m, "")
  const dir = tmpTree(t, { "secret.yaml": text })
  const r = await runCli(["decrypt", join(dir, "secret.yaml")], { env })
  assert.equal(r.status, 1)
  assert.match(r.stderr, /^error: mac mismatch/m)
  assert.match(r.stderr, /^hint: --ignore-mac/m)
  assert.equal(r.stdout.length, 0)
  const ignored = await runCli(["decrypt", "--ignore-mac", join(dir, "secret.yaml")], { env })
  assert.equal(ignored.status, 0, ignored.stderr)
  assert.match(ignored.stdout.toString("utf8"), /^secret: this is a secret$/m)
})

test("a file that is not a sops file is refused", async (t) => {
  const { env } = sopsEnv(t, [], { SOPS_AGE_KEY_FILE: ageKey })
  const dir = tmpTree(t, { "plain.yaml": "a: 1\n" })
  const r = await runCli(["decrypt", join(dir, "plain.yaml")], { env })
  assert.equal(r.status, 1)
  assert.match(r.stderr, /^error: .*sops/m)
})

test("usage errors: no file, two files, -i with --output", async (t) => {
  const { env } = sopsEnv(t)
  const none = await runCli(["decrypt"], { env })
  assert.equal(none.status, 2)
  assert.match(none.stderr, /needs a FILE/)
  const two = await runCli(["decrypt", "a.yaml", "b.yaml"], { env })
  assert.equal(two.status, 2)
  const both = await runCli(["decrypt", "-i", "--output", "x", ageYaml], { env })
  assert.equal(both.status, 2)
  const missing = await runCli(["decrypt", "/nonexistent/x.yaml"], { env })
  assert.equal(missing.status, 1)
  assert.match(missing.stderr, /can't read "\/nonexistent\/x\.yaml": no such file or directory/)
})

test("--help shows usage and examples", async () => {
  const r = await runCli(["decrypt", "--help"])
  assert.equal(r.status, 0)
  const text = r.stdout.toString("utf8")
  assert.match(text, /^Usage:/)
  assert.match(text, /Examples:/)
  assert.match(text, /--extract/)
})

test("a dotenv file round-trips to dotenv", async (t) => {
  const { env } = sopsEnv(t, [], { SOPS_AGE_KEY_FILE: ageKey })
  const r = await runCli(["decrypt", ageEnv], { env })
  assert.equal(r.status, 0, r.stderr)
  const expected = (
    JSON.parse(readFileSync(`${ageEnv}.expected.json`, "utf8")) as {
      plaintext: Record<string, string>
    }
  ).plaintext
  const lines = Object.entries(expected).map(([k, v]) => `${k}=${v}`)
  assert.equal(r.stdout.toString("utf8"), lines.join("\n") + "\n")
})

test("a PGP file without a usable gpg says how to get one", async (t) => {
  const { env } = sopsEnv(t, [], { SOPS_GPG_EXEC: "no-such-gpg-program" })
  const r = await runCli(["decrypt", join(vectors, "getsops-sops/example.json")], { env })
  assert.equal(r.status, 1)
  assert.match(
    r.stderr,
    /pgp FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4 \(gpg program "no-such-gpg-program" not found\)/,
  )
  assert.match(r.stderr, /^hint: install GnuPG/m)
})
