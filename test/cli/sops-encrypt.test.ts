// `coffer encrypt` (docs/formats/sops.md "Which values are encrypted", "Data key and master keys", "Commands"): keys from --age (SSH public keys too) and
// --pgp, selectors, -i, refusing encrypted files, and round trips through `coffer decrypt`,
// Debian's `age` (the data key is a plain age file) and gpg.
import { test } from "node:test"
import assert from "node:assert/strict"
import { spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { chmodSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { repoRoot, runCli } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { requireTool } from "../support/tools.js"
import { sopsEnv } from "../sops/sops-env.js"
import { generateX25519Identity } from "../../src/age/x25519.js"

const vectors = join(repoRoot, "test/vectors/sops")
const nixKeys = join(vectors, "sops-nix/keys")
const pgpKey = join(vectors, "getsops-sops/keys/sops_functional_tests_key.asc")
const pgpFingerprint = "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"

const yamlPlain = `# database settings
db:
    user: admin
    password: hunter2
    port: 5432
    ratio: 0.5
    enabled: true
hosts:
    - a.example
    - b.example
public_unencrypted: visible
`

function newKey(t: Parameters<typeof tmpTree>[0]): { recipient: string; keyFile: string } {
  const identity = generateX25519Identity()
  const dir = tmpTree(t, { "key.txt": `${identity.encode()}\n` })
  return { recipient: identity.toRecipient().encode(), keyFile: join(dir, "key.txt") }
}

test("encrypts YAML to an age recipient and decrypts back to the same document", async (t) => {
  const key = newKey(t)
  const dir = tmpTree(t, { "app.yaml": yamlPlain })
  const { env } = sopsEnv(t)
  const enc = await runCli(["encrypt", "--age", key.recipient, join(dir, "app.yaml")], { env })
  assert.equal(enc.status, 0, enc.stderr)
  const text = enc.stdout.toString("utf8")
  assert.match(text, /^ {4}password: ENC\[AES256_GCM,data:[^,]+,iv:[^,]+,tag:[^,]+,type:str\]$/m)
  assert.match(text, /^ {4}port: ENC\[.*type:int\]$/m)
  assert.match(text, /^public_unencrypted: visible$/m)
  assert.match(text, /^#ENC\[.*type:comment\]$/m)
  assert.match(text, new RegExp(`recipient: ${key.recipient}`))
  assert.match(text, /^ {4}unencrypted_suffix: _unencrypted$/m)
  assert.doesNotMatch(text, /hunter2|admin/)
  const encrypted = join(dir, "app.enc.yaml")
  writeFileSync(encrypted, text)

  const dec = await runCli(["decrypt", encrypted], {
    env: { ...env, SOPS_AGE_KEY_FILE: key.keyFile },
  })
  assert.equal(dec.status, 0, dec.stderr)
  assert.equal(dec.stdout.toString("utf8"), yamlPlain)
})

test("JSON, dotenv, INI and binary files round-trip", async (t) => {
  const key = newKey(t)
  const files = {
    "a.json": `{\n\t"token": "abc",\n\t"n": 3,\n\t"list": [\n\t\t1,\n\t\t"x"\n\t]\n}\n`,
    "b.env": "TOKEN=abc\nPASSWORD=p w=d\n",
    "c.ini": "[db]\npass = hunter2\nuser = admin\n",
    "d.bin": "line one\n\u0000binary\n",
  }
  const dir = tmpTree(t, files)
  const { env } = sopsEnv(t, [], { SOPS_AGE_KEY_FILE: key.keyFile })
  for (const [name, content] of Object.entries(files)) {
    const enc = await runCli(["encrypt", "--age", key.recipient, join(dir, name)], { env })
    assert.equal(enc.status, 0, `${name}: ${enc.stderr}`)
    assert.ok(!enc.stdout.toString("utf8").includes("hunter2"))
    const out = join(dir, `enc-${name}`)
    writeFileSync(out, enc.stdout)
    const dec = await runCli(["decrypt", out], { env })
    assert.equal(dec.status, 0, `${name}: ${dec.stderr}`)
    assert.equal(dec.stdout.toString("utf8"), content, name)
  }
})

test("binary files: any bytes round-trip exactly (stdout, -i, --output)", async (t) => {
  const key = newKey(t)
  const samples: Record<string, Uint8Array> = {
    "nul-ff.bin": new Uint8Array([0x00, 0xff, 0x00, 0xfe, 0x0a]),
    "invalid-utf8.bin": new Uint8Array([0x80, 0xc0, 0xaf, 0xe2, 0x82, 0xed, 0xa0, 0x80, 0xf8]),
    "lone-cr.bin": new Uint8Array([0x0d]),
    "empty.bin": new Uint8Array(0),
    "random.dat": new Uint8Array(randomBytes(1000)),
    "big.dat": new Uint8Array(randomBytes(1024 * 1024)),
  }
  const dir = tmpTree(t, samples)
  const { env } = sopsEnv(t, [], { SOPS_AGE_KEY_FILE: key.keyFile })
  for (const [name, bytes] of Object.entries(samples)) {
    const plain = join(dir, name)
    // stdout
    const enc = await runCli(["encrypt", "--age", key.recipient, plain], { env })
    assert.equal(enc.status, 0, `${name}: ${enc.stderr}`)
    const doc = JSON.parse(enc.stdout.toString("utf8")) as { data: string }
    assert.match(doc.data, bytes.length === 0 ? /^$/ : /^ENC\[AES256_GCM,.*,type:str\]$/, name)
    const encrypted = join(dir, `${name}.enc`)
    writeFileSync(encrypted, enc.stdout)
    const dec = await runCli(["decrypt", encrypted], { env })
    assert.equal(dec.status, 0, `${name}: ${dec.stderr}`)
    assert.ok(dec.stdout.equals(bytes), `${name}: stdout differs`)
    // --output
    const out = join(dir, `${name}.out`)
    const toFile = await runCli(["decrypt", "--output", out, encrypted], { env })
    assert.equal(toFile.status, 0, `${name}: ${toFile.stderr}`)
    assert.ok(readFileSync(out).equals(bytes), `${name}: --output differs`)
    const encOut = join(dir, `${name}.enc2`)
    const encToFile = await runCli(["encrypt", "--age", key.recipient, "--output", encOut, plain], {
      env,
    })
    assert.equal(encToFile.status, 0, `${name}: ${encToFile.stderr}`)
    const viaOutput = await runCli(["decrypt", encOut], { env })
    assert.ok(viaOutput.stdout.equals(bytes), `${name}: encrypt --output differs`)
    // -i both ways
    const inPlace = join(dir, `${name}.inplace`)
    writeFileSync(inPlace, bytes)
    const encInPlace = await runCli(["encrypt", "-i", "--age", key.recipient, inPlace], { env })
    assert.equal(encInPlace.status, 0, `${name}: ${encInPlace.stderr}`)
    assert.match(readFileSync(inPlace, "utf8"), /"sops": \{/)
    const decInPlace = await runCli(["decrypt", "-i", inPlace], { env })
    assert.equal(decInPlace.status, 0, `${name}: ${decInPlace.stderr}`)
    assert.ok(readFileSync(inPlace).equals(bytes), `${name}: -i differs`)
  }
})

test("--age takes comma-separated recipients (trimmed) and SSH public keys", async (t) => {
  const key = newKey(t)
  const sshPub = readFileSync(join(nixKeys, "ssh-ed25519-key.pub"), "utf8").trim()
  const dir = tmpTree(t, { "s.yaml": "secret: x\n" })
  const { env } = sopsEnv(t)
  const enc = await runCli(
    ["encrypt", "--age", ` ${key.recipient} , ${sshPub},`, join(dir, "s.yaml")],
    { env },
  )
  assert.equal(enc.status, 0, enc.stderr)
  const text = enc.stdout.toString("utf8")
  assert.equal(text.match(/recipient: /g)?.length, 2)
  const encrypted = join(dir, "s.enc.yaml")
  writeFileSync(encrypted, text)
  // The SSH private key opens it (native ssh-ed25519 stanza), as does the age key.
  const viaSsh = await runCli(["decrypt", encrypted], {
    env: { ...env, SOPS_AGE_SSH_PRIVATE_KEY_FILE: join(nixKeys, "ssh-ed25519-key") },
  })
  assert.equal(viaSsh.status, 0, viaSsh.stderr)
  assert.equal(viaSsh.stdout.toString("utf8"), "secret: x\n")
  const viaAge = await runCli(["decrypt", encrypted], {
    env: { ...env, SOPS_AGE_KEY_FILE: key.keyFile },
  })
  assert.equal(viaAge.stdout.toString("utf8"), "secret: x\n")
})

test("the age data key is a plain age file Debian's age can open", async (t) => {
  if (!requireTool(t, "age", "age")) return
  const key = newKey(t)
  const dir = tmpTree(t, { "s.json": '{"a": "b"}\n' })
  const enc = await runCli(["encrypt", "--age", key.recipient, join(dir, "s.json")], {
    env: sopsEnv(t).env,
  })
  assert.equal(enc.status, 0, enc.stderr)
  const doc = JSON.parse(enc.stdout.toString("utf8")) as { sops: { age: { enc: string }[] } }
  const armored = doc.sops.age[0]?.enc ?? ""
  assert.match(
    armored,
    /^-----BEGIN AGE ENCRYPTED FILE-----\n[\s\S]*\n-----END AGE ENCRYPTED FILE-----\n$/,
  )
  const r = spawnSync("age", ["-d", "-i", key.keyFile], { input: armored })
  assert.equal(r.status, 0, r.stderr.toString())
  assert.equal(r.stdout.length, 32)
})

test("--pgp encrypts through gpg, and gpg decrypts it", async (t) => {
  if (!requireTool(t, "gpg", "gnupg")) return
  const dir = tmpTree(t, { "s.yaml": "secret: pgp works\n" })
  const { env } = sopsEnv(t, [pgpKey])
  const enc = await runCli(["encrypt", "--pgp", pgpFingerprint, join(dir, "s.yaml")], { env })
  assert.equal(enc.status, 0, enc.stderr)
  const text = enc.stdout.toString("utf8")
  assert.match(text, new RegExp(`fp: ${pgpFingerprint}`))
  assert.match(text, /-----BEGIN PGP MESSAGE-----/)
  writeFileSync(join(dir, "s.enc.yaml"), text)
  const dec = await runCli(["decrypt", join(dir, "s.enc.yaml")], { env })
  assert.equal(dec.status, 0, dec.stderr)
  assert.equal(dec.stdout.toString("utf8"), "secret: pgp works\n")
})

test("--encrypted-regex encrypts only the matching keys' values", async (t) => {
  const key = newKey(t)
  const dir = tmpTree(t, {
    "k8s.yaml": "apiVersion: v1\nkind: Secret\nstringData:\n    token: abc\n",
  })
  const enc = await runCli(
    [
      "encrypt",
      "--age",
      key.recipient,
      "--encrypted-regex",
      "^(data|stringData)$",
      join(dir, "k8s.yaml"),
    ],
    { env: sopsEnv(t).env },
  )
  assert.equal(enc.status, 0, enc.stderr)
  const text = enc.stdout.toString("utf8")
  assert.match(text, /^apiVersion: v1$/m)
  assert.match(text, /^ {4}token: ENC\[/m)
  assert.match(text, /encrypted_regex: \^\(data\|stringData\)\$/)
  assert.doesNotMatch(text, /unencrypted_suffix/)
})

test("-i replaces the plaintext with the encrypted file, keeping its mode", async (t) => {
  const key = newKey(t)
  const dir = tmpTree(t, { "app.yaml": yamlPlain })
  const file = join(dir, "app.yaml")
  chmodSync(file, 0o640)
  const { env } = sopsEnv(t, [], { SOPS_AGE_KEY_FILE: key.keyFile })
  const r = await runCli(["encrypt", "-i", "--age", key.recipient, file], { env })
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.length, 0)
  assert.doesNotMatch(readFileSync(file, "utf8"), /hunter2/)
  assert.equal(statSync(file).mode & 0o777, 0o640)
  assert.deepEqual(readdirSync(dir), ["app.yaml"])
  const again = await runCli(["encrypt", "-i", "--age", key.recipient, file], { env })
  assert.equal(again.status, 1)
  assert.match(again.stderr, /already encrypted/)
  const dec = await runCli(["decrypt", file], { env })
  assert.equal(dec.stdout.toString("utf8"), yamlPlain)
})

test("-i with a bad recipient leaves the file as it was", async (t) => {
  const dir = tmpTree(t, { "app.yaml": yamlPlain })
  const file = join(dir, "app.yaml")
  const r = await runCli(["encrypt", "-i", "--age", "age1notarecipient", file], {
    env: sopsEnv(t).env,
  })
  assert.equal(r.status, 1)
  assert.match(r.stderr, /^error: /m)
  assert.equal(readFileSync(file, "utf8"), yamlPlain)
  assert.deepEqual(readdirSync(dir), ["app.yaml"])
})

test("an encrypted file is refused (YAML, dotenv, JSON, INI)", async (t) => {
  const key = newKey(t)
  const { env } = sopsEnv(t)
  for (const file of [
    join(vectors, "sops-age/secret.enc.yaml"),
    join(vectors, "sops-age/secret.enc.env"),
    join(vectors, "getsops-sops/example.json"),
    join(vectors, "getsops-sops/example.ini"),
  ]) {
    const r = await runCli(["encrypt", "--age", key.recipient, file], { env })
    assert.equal(r.status, 1, file)
    assert.match(r.stderr, /^error: .*already encrypted/m)
    assert.equal(r.stdout.length, 0)
  }
})

test("without keys and without .sops.yaml: an error pointing to --age/--pgp and creation rules", async (t) => {
  const dir = tmpTree(t, { "a.yaml": "a: 1\n" })
  const r = await runCli(["encrypt", join(dir, "a.yaml")], { env: sopsEnv(t).env, cwd: dir })
  assert.equal(r.status, 1)
  assert.match(r.stderr, /^error: no \.sops\.yaml found, and no keys were given$/m)
  assert.match(r.stderr, /^hint: .*--age/m)
  assert.match(r.stderr, /^hint: .*creation_rules/m)
})

test("SOPS_AGE_RECIPIENTS is used when --age is absent", async (t) => {
  const key = newKey(t)
  const dir = tmpTree(t, { "a.yaml": "a: 1\n" })
  const r = await runCli(["encrypt", join(dir, "a.yaml")], {
    env: sopsEnv(t, [], { SOPS_AGE_RECIPIENTS: key.recipient }).env,
  })
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout.toString("utf8"), new RegExp(key.recipient))
})

test("two selector flags are a usage error", async (t) => {
  const key = newKey(t)
  const dir = tmpTree(t, { "a.yaml": "a: 1\n" })
  const r = await runCli(
    [
      "encrypt",
      "--age",
      key.recipient,
      "--encrypted-regex",
      "x",
      "--unencrypted-suffix",
      "_u",
      join(dir, "a.yaml"),
    ],
    { env: sopsEnv(t).env },
  )
  assert.equal(r.status, 2)
  assert.match(r.stderr, /only one of/)
})

test("--help shows usage and examples", async () => {
  const r = await runCli(["encrypt", "--help"])
  assert.equal(r.status, 0)
  const text = r.stdout.toString("utf8")
  assert.match(text, /^Usage:/)
  assert.match(text, /Examples:/)
  assert.match(text, /--age/)
})
