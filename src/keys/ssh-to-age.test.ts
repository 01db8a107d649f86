// Tests for ssh-to-age conversion: the known outputs for the sops-nix test key
// (test/vectors/ssh/README.md), agreement with age-keygen, and the error cases.
import { test } from "node:test"
import assert from "node:assert/strict"
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { IdentityParseError, PassphraseError, RecipientParseError } from "../age/errors.js"
import { decrypt } from "../age/decrypt.js"
import { encrypt } from "../age/encrypt.js"
import { parseX25519Identity, parseX25519Recipient } from "../age/x25519.js"
import { generateSshEd25519KeyPair } from "./ssh-keygen.js"
import { sshPrivateKeyToAge, sshPublicKeyLineToAge, sshPublicKeyToAge } from "./ssh-to-age.js"
import { repoRoot } from "../../test/support/cli.js"
import { requireTool } from "../../test/support/tools.js"
import { tmpTree } from "../../test/support/tmp.js"

const vectors = join(repoRoot, "test/vectors/ssh")
const ed25519Private = readFileSync(join(vectors, "ssh-ed25519-key"), "utf8")
const ed25519Public = readFileSync(join(vectors, "ssh-ed25519-key.pub"), "utf8")
const rsaPrivate = readFileSync(join(vectors, "ssh-key"), "utf8")
const rsaPublic = readFileSync(join(vectors, "ssh-key.pub"), "utf8")

const knownIdentity = "AGE-SECRET-KEY-1D88T3T22862F5SWX0V7M7CG9Q5T9FA90CCN9NVLJRCQATZ3WGL3QMR7CN4"
const knownRecipient = "age1a8pk4akrdamj7nvqy3zywgtny8dxz7t5xzu7u8v9mhrayp9freqsqatyrs"

test("the sops-nix ed25519 key converts to the known ssh-to-age outputs", async () => {
  assert.equal(sshPublicKeyToAge(ed25519Public), knownRecipient)
  assert.equal(await sshPrivateKeyToAge(ed25519Private), knownIdentity)
  assert.equal(await sshPrivateKeyToAge(ed25519Private, { name: "host key" }), knownIdentity)
  assert.deepEqual(sshPublicKeyLineToAge(ed25519Public), {
    kind: "converted",
    recipient: knownRecipient,
  })
})

test("the converted identity and recipient are a working X25519 pair", async () => {
  const identity = parseX25519Identity(await sshPrivateKeyToAge(ed25519Private))
  const recipient = parseX25519Recipient(sshPublicKeyToAge(ed25519Public))
  const plaintext = new TextEncoder().encode("host secret")
  const file = await encrypt(plaintext, [recipient])
  assert.deepEqual(await decrypt(file, [identity]), plaintext)
})

test("age-keygen -y derives the converted recipient from the converted identity", async (t) => {
  if (!requireTool(t, "age-keygen", "age")) return
  for (let i = 0; i < 3; i++) {
    const pair = generateSshEd25519KeyPair(`k${i}`)
    const identity = await sshPrivateKeyToAge(pair.privateKey)
    const derived = execFileSync("age-keygen", ["-y"], {
      input: `${identity}\n`,
      encoding: "utf8",
    }).trim()
    assert.equal(derived, sshPublicKeyToAge(pair.publicKey))
  }
})

test("RSA keys are refused (private) or skipped (public line), ECDSA lines skipped too", async () => {
  assert.throws(() => sshPublicKeyToAge(rsaPublic), RecipientParseError)
  await assert.rejects(sshPrivateKeyToAge(rsaPrivate, { name: "id_rsa" }), (error: unknown) => {
    assert.ok(error instanceof IdentityParseError)
    assert.match(error.message, /"id_rsa" is ssh-rsa: only ssh-ed25519/)
    return true
  })
  const skipped = sshPublicKeyLineToAge(rsaPublic, "keys.txt line 2")
  assert.equal(skipped.kind, "skipped")
  assert.match(skipped.reason, /^keys\.txt line 2: ssh-rsa/)
  const ecdsa =
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg= host"
  assert.deepEqual(sshPublicKeyLineToAge(ecdsa), {
    kind: "skipped",
    keyType: "ecdsa-sha2-nistp256",
    reason: "SSH public key: ecdsa-sha2-nistp256 keys cannot be converted to age",
  })
  assert.throws(
    () => sshPublicKeyLineToAge("ssh-ed25519 garbage", "x line 1"),
    /^RecipientParseError: x line 1: /,
  )
})

test("an encrypted key asks for its passphrase; a wrong one is PassphraseError", async (t) => {
  if (!requireTool(t, "ssh-keygen", "openssh-client")) return
  const dir = tmpTree(t)
  const path = join(dir, "id")
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-a", "4", "-N", "sesame", "-f", path], {
    stdio: "ignore",
  })
  const text = readFileSync(path, "utf8")
  const plainPath = join(dir, "plain")
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", plainPath], {
    stdio: "ignore",
  })
  execFileSync("cp", [path, `${plainPath}-copy`])
  // Remove the passphrase from the copy: both must convert to the same identity.
  execFileSync("ssh-keygen", ["-q", "-p", "-P", "sesame", "-N", "", "-f", `${plainPath}-copy`], {
    stdio: "ignore",
  })
  const expected = await sshPrivateKeyToAge(readFileSync(`${plainPath}-copy`, "utf8"))
  assert.equal(await sshPrivateKeyToAge(text, () => Promise.resolve("sesame")), expected)
  await assert.rejects(
    sshPrivateKeyToAge(text, () => Promise.resolve("nope")),
    PassphraseError,
  )
  await assert.rejects(sshPrivateKeyToAge(text), PassphraseError)
})
