// Tests for the ssh-rsa recipient type (docs/formats/age.md "ssh-rsa").
import { test } from "node:test"
import assert from "node:assert/strict"
import { constants, generateKeyPairSync, privateDecrypt } from "node:crypto"
import { HeaderError, IdentityParseError, RecipientParseError } from "./errors.js"
import type { Stanza } from "./recipient.js"
import {
  SshRsaIdentity,
  SshRsaRecipient,
  encodeSshRsaPublicKey,
  rsaPublicNumbers,
} from "./ssh-rsa.js"
import { sshKeyTag } from "./ssh-ed25519.js"

const fileKey = Uint8Array.from({ length: 16 }, (_, i) => 0xf0 - i)
const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 })
const { privateKey: otherKey } = generateKeyPairSync("rsa", { modulusLength: 2048 })

test("wrap then unwrap gives the file key back; the body is OAEP-SHA256 with the age label", async () => {
  const identity = new SshRsaIdentity(privateKey)
  const recipient = new SshRsaRecipient(rsaPublicNumbers(privateKey))
  const stanzas = await recipient.wrapFileKey(fileKey)
  const [stanza] = stanzas
  assert.ok(stanza)
  assert.equal(stanza.type, "ssh-rsa")
  assert.deepEqual(stanza.args, [recipient.tag])
  assert.equal(stanza.body.length, 256)
  assert.equal(recipient.tag, sshKeyTag(encodeSshRsaPublicKey(rsaPublicNumbers(privateKey))))
  assert.equal(identity.tag, recipient.tag)
  assert.deepEqual(await identity.unwrapFileKey(stanzas), fileKey)
  // Independently with node:crypto and the label from the spec.
  const plain = privateDecrypt(
    {
      key: privateKey,
      padding: constants.RSA_PKCS1_OAEP_PADDING,
      oaepHash: "sha256",
      oaepLabel: Buffer.from("age-encryption.org/v1/ssh-rsa"),
    },
    stanza.body,
  )
  assert.deepEqual(new Uint8Array(plain), fileKey)
  assert.throws(() =>
    privateDecrypt(
      { key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
      stanza.body,
    ),
  )
})

test("another key's stanza and other types are not ours (null)", async () => {
  const identity = new SshRsaIdentity(privateKey)
  const theirs = await new SshRsaRecipient(rsaPublicNumbers(otherKey)).wrapFileKey(fileKey)
  assert.equal(await identity.unwrapFileKey(theirs), null)
  assert.equal(
    await identity.unwrapFileKey([
      { type: "ssh-ed25519", args: ["a", "b"], body: new Uint8Array(32) },
    ]),
    null,
  )
})

test("a stanza with our tag that does not decrypt, or with wrong arguments, is HeaderError", async () => {
  const identity = new SshRsaIdentity(privateKey)
  const [good] = await new SshRsaRecipient(rsaPublicNumbers(privateKey)).wrapFileKey(fileKey)
  assert.ok(good)
  const tampered = Uint8Array.from(good.body)
  tampered[10] = (tampered[10] ?? 0) ^ 0x80
  const bad: Stanza[] = [
    { ...good, body: tampered },
    // cut at the end: cutting a leading byte that happens to be 0 (1 time in 256) would keep
    // the same number, which OpenSSL (like Go) decrypts fine
    { ...good, body: good.body.subarray(0, -1) },
    { ...good, args: [] },
    { ...good, args: [identity.tag, "extra"] },
  ]
  for (const stanza of bad) await assert.rejects(identity.unwrapFileKey([stanza]), HeaderError)
})

test("keys under 2048 bits are refused on both sides", () => {
  const small = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey
  assert.throws(() => new SshRsaRecipient(rsaPublicNumbers(small)), RecipientParseError)
  assert.throws(() => new SshRsaIdentity(small), IdentityParseError)
  const ed = generateKeyPairSync("ed25519").privateKey
  assert.throws(() => new SshRsaIdentity(ed), IdentityParseError)
})
