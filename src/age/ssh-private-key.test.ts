// Tests for SSH private key files as age identities (docs/formats/age.md "SSH key files"),
// with keys made by the real ssh-keygen in a temp dir, and the sops-nix test keys in
// test/vectors/ssh/.
import { test } from "node:test"
import type { TestContext } from "node:test"
import assert from "node:assert/strict"
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { IdentityParseError, PassphraseError } from "./errors.js"
import type { Stanza } from "./recipient.js"
import { formatSshPublicKey, parseSshRecipient } from "./ssh-public-key.js"
import {
  maximumSshKeyFileSize,
  parseSshIdentity,
  parseSshPrivateKey,
  sshPublicKeyOfPrivateKey,
} from "./ssh-private-key.js"
import type { SshIdentity } from "./ssh-private-key.js"
import { repoRoot } from "../../test/support/cli.js"
import { requireTool } from "../../test/support/tools.js"
import { tmpTree } from "../../test/support/tmp.js"

const passphrase = "correct horse"
const fileKey = Uint8Array.from({ length: 16 }, (_, i) => i * 7)

interface KeyFiles {
  readonly path: string
  readonly privateKey: string
  readonly publicKey: string
}

function sshKeygen(dir: string, name: string, args: readonly string[], pass = ""): KeyFiles {
  const path = join(dir, name)
  // A test key: its passphrase in argv is fine (it protects nothing).
  execFileSync("ssh-keygen", ["-q", "-f", path, "-N", pass, "-C", `${name}@test`, ...args], {
    stdio: "ignore",
  })
  return {
    path,
    privateKey: readFileSync(path, "utf8"),
    publicKey: readFileSync(`${path}.pub`, "utf8"),
  }
}

function keygenPublicLine(path: string): string {
  // ssh-keygen -y on a plain key prints the public key; compare type and data only.
  return execFileSync("ssh-keygen", ["-y", "-P", "", "-f", path], { encoding: "utf8" })
    .trim()
    .split(" ")
    .slice(0, 2)
    .join(" ")
}

function counter(answer = passphrase): { prompt: (p: string) => Promise<string>; calls: string[] } {
  const calls: string[] = []
  return {
    calls,
    prompt: (p: string) => {
      calls.push(p)
      return Promise.resolve(answer)
    },
  }
}

async function assertRoundTrip(identity: SshIdentity, publicLine: string): Promise<void> {
  const stanzas = await parseSshRecipient(publicLine).wrapFileKey(fileKey)
  assert.deepEqual(await identity.unwrapFileKey(stanzas), fileKey)
  const again = await identity.recipient().wrapFileKey(fileKey)
  assert.deepEqual(await identity.unwrapFileKey(again), fileKey)
}

function tool(t: TestContext): boolean {
  return requireTool(t, "ssh-keygen", "openssh-client")
}

test("unencrypted keys in every format ssh-keygen writes: public key and round trip", async (t) => {
  if (!tool(t)) return
  const dir = tmpTree(t)
  const cases: [string, string[]][] = [
    ["ed25519", ["-t", "ed25519"]],
    ["rsa2048", ["-t", "rsa", "-b", "2048"]],
    ["rsa4096", ["-t", "rsa", "-b", "4096"]],
    ["rsa-pem", ["-t", "rsa", "-b", "2048", "-m", "PEM"]],
    ["rsa-pkcs8", ["-t", "rsa", "-b", "2048", "-m", "PKCS8"]],
    ["ed25519-pkcs8", ["-t", "ed25519", "-m", "PKCS8"]],
  ]
  for (const [name, args] of cases) {
    await t.test(name, async () => {
      const key = sshKeygen(dir, name, args)
      const prompt = counter()
      const identity = await parseSshIdentity(key.privateKey, {
        name: key.path,
        passphrase: prompt.prompt,
      })
      assert.equal(
        formatSshPublicKey({ ...identity.publicKey, comment: "" }),
        keygenPublicLine(key.path),
      )
      await assertRoundTrip(identity, key.publicKey)
      assert.deepEqual(prompt.calls, [])
      const parsed = await parseSshPrivateKey(key.privateKey, { name: key.path })
      assert.equal(parsed.type, name.startsWith("ed25519") ? "ssh-ed25519" : "ssh-rsa")
    })
  }
})

test("encrypted OpenSSH keys (bcrypt + each cipher) prompt lazily, once, and decrypt", async (t) => {
  if (!tool(t)) return
  const dir = tmpTree(t)
  const cases: [string, string[]][] = [
    ["ed25519-default", ["-t", "ed25519"]], // aes256-ctr
    ["rsa-default", ["-t", "rsa", "-b", "2048"]],
    ["ed25519-gcm", ["-t", "ed25519", "-Z", "aes256-gcm@openssh.com"]],
    ["ed25519-chacha", ["-t", "ed25519", "-Z", "chacha20-poly1305@openssh.com"]],
    ["ed25519-aes128-cbc", ["-t", "ed25519", "-Z", "aes128-cbc"]],
    ["ed25519-aes192-ctr", ["-t", "ed25519", "-Z", "aes192-ctr"]],
  ]
  for (const [name, args] of cases) {
    await t.test(name, async () => {
      const key = sshKeygen(dir, name, [...args, "-a", "4"], passphrase)
      const prompt = counter()
      const identity = await parseSshIdentity(key.privateKey, {
        name: key.path,
        passphrase: prompt.prompt,
      })
      // The public key is readable without the passphrase.
      assert.equal(
        formatSshPublicKey({ ...identity.publicKey, comment: "" }),
        key.publicKey.split(" ").slice(0, 2).join(" "),
      )
      // docs/formats/age.md "SSH key files": no stanza with our tag, no prompt.
      const other = sshKeygen(dir, `${name}-other`, ["-t", "ed25519"])
      const notOurs = await parseSshRecipient(other.publicKey).wrapFileKey(fileKey)
      assert.equal(await identity.unwrapFileKey(notOurs), null)
      assert.deepEqual(prompt.calls, [])
      await assertRoundTrip(identity, key.publicKey)
      assert.deepEqual(prompt.calls, [`Enter passphrase for ${JSON.stringify(key.path)}:`])
    })
  }
})

test("a wrong passphrase is PassphraseError naming the key file; a missing prompt too", async (t) => {
  if (!tool(t)) return
  const dir = tmpTree(t)
  const keys = [
    sshKeygen(dir, "openssh", ["-t", "ed25519", "-a", "4"], passphrase),
    sshKeygen(
      dir,
      "openssh-gcm",
      ["-t", "ed25519", "-a", "4", "-Z", "aes256-gcm@openssh.com"],
      passphrase,
    ),
    sshKeygen(dir, "pem", ["-t", "rsa", "-b", "2048", "-m", "PEM"], passphrase),
    sshKeygen(dir, "pkcs8", ["-t", "rsa", "-b", "2048", "-m", "PKCS8"], passphrase),
  ]
  for (const key of keys) {
    const options = { name: key.path, publicKey: key.publicKey }
    const stanzas = await parseSshRecipient(key.publicKey).wrapFileKey(fileKey)
    const wrong = await parseSshIdentity(key.privateKey, {
      ...options,
      passphrase: counter("wrong").prompt,
    })
    await assert.rejects(wrong.unwrapFileKey(stanzas), (error: unknown) => {
      assert.ok(error instanceof PassphraseError, String(error))
      assert.equal(error.message, `wrong passphrase for SSH key ${JSON.stringify(key.path)}`)
      assert.ok(!error.message.includes('wrong"'))
      return true
    })
    const empty = await parseSshIdentity(key.privateKey, {
      ...options,
      passphrase: counter("").prompt,
    })
    await assert.rejects(empty.unwrapFileKey(stanzas), PassphraseError)
    const none = await parseSshIdentity(key.privateKey, options)
    await assert.rejects(none.unwrapFileKey(stanzas), PassphraseError)
    const right = await parseSshIdentity(key.privateKey, {
      ...options,
      passphrase: counter().prompt,
    })
    assert.deepEqual(await right.unwrapFileKey(stanzas), fileKey)
  }
})

test("encrypted PEM keys need their .pub line, and it must match", async (t) => {
  if (!tool(t)) return
  const dir = tmpTree(t)
  const key = sshKeygen(dir, "legacy", ["-t", "rsa", "-b", "2048", "-m", "PEM"], passphrase)
  assert.match(key.privateKey, /Proc-Type: 4,ENCRYPTED/)
  await assert.rejects(
    parseSshIdentity(key.privateKey, { name: key.path, passphrase: counter().prompt }),
    (error: unknown) => {
      assert.ok(error instanceof IdentityParseError)
      assert.ok(error.message.includes(`${key.path}.pub`))
      assert.match(error.hints.join("\n"), /ssh-keygen -p -f/)
      return true
    },
  )
  const prompt = counter()
  const identity = await parseSshIdentity(key.privateKey, {
    name: key.path,
    passphrase: prompt.prompt,
    publicKey: key.publicKey,
  })
  await assertRoundTrip(identity, key.publicKey)
  assert.equal(prompt.calls.length, 1)
  // A .pub of another key: the tag matches nothing of this key, and decryption notices.
  const other = sshKeygen(dir, "other", ["-t", "rsa", "-b", "2048"])
  const mismatched = await parseSshIdentity(key.privateKey, {
    name: key.path,
    passphrase: counter().prompt,
    publicKey: other.publicKey,
  })
  const stanzas = await parseSshRecipient(other.publicKey).wrapFileKey(fileKey)
  await assert.rejects(mismatched.unwrapFileKey(stanzas), /does not belong/)
  // For a plain key a wrong .pub is caught at once.
  const plain = sshKeygen(dir, "plain", ["-t", "ed25519"])
  await assert.rejects(
    parseSshIdentity(plain.privateKey, { name: plain.path, publicKey: other.publicKey }),
    /does not belong/,
  )
  assert.equal(
    sshPublicKeyOfPrivateKey(key.privateKey, { name: key.path, publicKey: key.publicKey }).type,
    "ssh-rsa",
  )
})

test("ECDSA keys (OpenSSH and PEM) are IdentityParseError naming the type", async (t) => {
  if (!tool(t)) return
  const dir = tmpTree(t)
  for (const args of [
    ["-t", "ecdsa"],
    ["-t", "ecdsa", "-m", "PEM"],
    ["-t", "ecdsa", "-b", "384"],
  ]) {
    const key = sshKeygen(dir, `ec${args.length}${args[3] ?? ""}`, args)
    await assert.rejects(parseSshIdentity(key.privateKey, { name: key.path }), (error: unknown) => {
      assert.ok(error instanceof IdentityParseError)
      assert.match(error.message, /unsupported key type "ecdsa-sha2-nistp(256|384)"/)
      assert.ok(error.message.includes(key.path))
      assert.ok(error.hints.length > 0)
      return true
    })
  }
})

test("the sops-nix test keys parse, match their .pub files and round trip", async () => {
  const vectors = join(repoRoot, "test/vectors/ssh")
  for (const name of ["ssh-ed25519-key", "ssh-key"]) {
    const privateKey = readFileSync(join(vectors, name), "utf8")
    const publicKey = readFileSync(join(vectors, `${name}.pub`), "utf8")
    const identity = await parseSshIdentity(privateKey, { name, publicKey })
    assert.equal(
      formatSshPublicKey({ ...identity.publicKey, comment: "" }),
      publicKey.split(" ").slice(0, 2).join(" ").trim(),
    )
    await assertRoundTrip(identity, publicKey)
  }
})

test("corrupted or foreign files are IdentityParseError", async () => {
  const vectors = join(repoRoot, "test/vectors/ssh")
  const text = readFileSync(join(vectors, "ssh-ed25519-key"), "utf8")
  const lines = text.split("\n")
  const blob = Buffer.from(lines.slice(1, -2).join(""), "base64")
  const reencode = (bytes: Buffer): string =>
    `-----BEGIN OPENSSH PRIVATE KEY-----\n${bytes.toString("base64")}\n-----END OPENSSH PRIVATE KEY-----\n`
  // The private section starts after the public key; its first 8 bytes are the check integers.
  const checkAt = blob.indexOf(Buffer.from("c763d654c763d654", "hex"))
  assert.ok(checkAt > 0)
  const badCheck = Buffer.from(blob)
  badCheck[checkAt] = (badCheck[checkAt] ?? 0) ^ 1
  const badMagic = Buffer.from(blob)
  badMagic[0] = 0x41
  const cases = [
    reencode(badCheck),
    reencode(badMagic),
    reencode(blob.subarray(0, blob.length - 20)),
    "AGE-SECRET-KEY-1...",
    "-----BEGIN PGP PRIVATE KEY BLOCK-----\nxx\n-----END PGP PRIVATE KEY BLOCK-----\n",
    `${text}${"#".repeat(maximumSshKeyFileSize)}`,
  ]
  for (const input of cases) {
    await assert.rejects(parseSshIdentity(input, { name: "k" }), IdentityParseError)
  }
  const stanza: Stanza = { type: "X25519", args: ["x"], body: new Uint8Array(32) }
  assert.equal(await (await parseSshIdentity(text, { name: "k" })).unwrapFileKey([stanza]), null)
})
