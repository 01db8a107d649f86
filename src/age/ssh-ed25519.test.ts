// Tests for the ssh-ed25519 recipient type (docs/formats/age.md "ssh-ed25519").
import { test } from "node:test"
import assert from "node:assert/strict"
import {
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
} from "node:crypto"
import fc from "fast-check"
import { HeaderError } from "./errors.js"
import type { Stanza } from "./recipient.js"
import {
  SshEd25519Identity,
  SshEd25519Recipient,
  ed25519PublicKeyFromSeed,
  ed25519PublicKeyToX25519,
  ed25519SeedToX25519,
  encodeSshEd25519PublicKey,
  sshKeyTag,
} from "./ssh-ed25519.js"
import { x25519PrivateKey, x25519PublicKey, x25519RawPublic } from "./x25519.js"

function newKey(): { seed: Uint8Array; publicKey: Uint8Array } {
  const jwk = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" })
  return {
    seed: new Uint8Array(Buffer.from(jwk.d ?? "", "base64url")),
    publicKey: new Uint8Array(Buffer.from(jwk.x ?? "", "base64url")),
  }
}

const fileKey = Uint8Array.from({ length: 16 }, (_, i) => i + 1)

test("the birational map sends an Ed25519 key to the X25519 public key of SHA-512(seed)[:32]", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
      const viaMap = ed25519PublicKeyToX25519(ed25519PublicKeyFromSeed(seed))
      const viaScalar = x25519RawPublic(x25519PrivateKey(ed25519SeedToX25519(seed)))
      assert.ok(viaMap !== null)
      assert.equal(Buffer.from(viaMap).toString("hex"), Buffer.from(viaScalar).toString("hex"))
    }),
    { numRuns: 50 },
  )
})

test("invalid Edwards encodings are rejected like Go's point decoding", () => {
  const p = 2n ** 255n - 19n
  const encode = (n: bigint): Uint8Array => {
    const out = new Uint8Array(32)
    for (let i = 0, v = n; i < 32; i++, v >>= 8n) out[i] = Number(v & 0xffn)
    return out
  }
  assert.equal(ed25519PublicKeyToX25519(encode(p)), null) // y = p is not canonical
  assert.equal(ed25519PublicKeyToX25519(encode(2n)), null) // no x for y = 2
  assert.equal(ed25519PublicKeyToX25519(new Uint8Array(31)), null)
  // y = 1 (the identity) has x = 0, so a set sign bit is invalid; without it the point decodes.
  assert.equal(ed25519PublicKeyToX25519(encode(1n | (1n << 255n))), null)
  assert.notEqual(ed25519PublicKeyToX25519(encode(1n)), null)
})

test("the tag is base64 of SHA-256(wire key)[:4] and the wire key is 51 bytes", () => {
  const { publicKey } = newKey()
  const wire = encodeSshEd25519PublicKey(publicKey)
  assert.equal(wire.length, 51)
  const expected = createHash("sha256")
    .update(wire)
    .digest()
    .subarray(0, 4)
    .toString("base64")
    .replace(/=+$/, "")
  assert.equal(sshKeyTag(wire), expected)
  assert.equal(new SshEd25519Recipient(publicKey).tag, expected)
})

test("wrap then unwrap gives the file key back; the stanza is ssh-ed25519 tag share", async () => {
  const { seed, publicKey } = newKey()
  const recipient = new SshEd25519Recipient(publicKey)
  const stanzas = await recipient.wrapFileKey(fileKey)
  assert.equal(stanzas.length, 1)
  const [stanza] = stanzas
  assert.ok(stanza)
  assert.equal(stanza.type, "ssh-ed25519")
  assert.equal(stanza.args[0], recipient.tag)
  assert.match(stanza.args[1] ?? "", /^[A-Za-z0-9+/]{43}$/)
  assert.equal(stanza.body.length, 32)
  const identity = new SshEd25519Identity(seed, publicKey)
  assert.deepEqual(await identity.unwrapFileKey(stanzas), fileKey)
  assert.equal(identity.recipient().tag, recipient.tag)
})

test("the wrap follows the recipe: tweak = HKDF(ikm empty, salt wire key), recomputed here", async () => {
  const { publicKey } = newKey()
  const ephemeral = new Uint8Array(32).fill(0x42)
  const recipient = new SshEd25519Recipient(publicKey, {
    entropy: () => Uint8Array.from(ephemeral),
  })
  const [stanza] = await recipient.wrapFileKey(fileKey)
  assert.ok(stanza)
  const info = "age-encryption.org/v1/ssh-ed25519"
  const wire = encodeSshEd25519PublicKey(publicKey)
  const u = ed25519PublicKeyToX25519(publicKey)
  assert.ok(u)
  const dh = (scalar: Uint8Array, point: Uint8Array): Buffer =>
    diffieHellman({ privateKey: x25519PrivateKey(scalar), publicKey: x25519PublicKey(point) })
  const tweak = new Uint8Array(hkdfSync("sha256", new Uint8Array(0), wire, info, 32))
  const share = x25519RawPublic(x25519PrivateKey(ephemeral))
  assert.equal(stanza.args[1], Buffer.from(share).toString("base64").replace(/=+$/, ""))
  const sharedSecret = dh(tweak, dh(ephemeral, u))
  const wrapKey = Buffer.from(hkdfSync("sha256", sharedSecret, Buffer.concat([share, u]), info, 32))
  const decipher = createDecipheriv("chacha20-poly1305", wrapKey, Buffer.alloc(12), {
    authTagLength: 16,
  })
  decipher.setAuthTag(stanza.body.subarray(16))
  const opened = Buffer.concat([decipher.update(stanza.body.subarray(0, 16)), decipher.final()])
  assert.deepEqual(new Uint8Array(opened), fileKey)
})

test("a stanza with another tag or another type is not ours (null)", async () => {
  const a = newKey()
  const b = newKey()
  const stanzas = await new SshEd25519Recipient(b.publicKey).wrapFileKey(fileKey)
  const identity = new SshEd25519Identity(a.seed, a.publicKey)
  assert.equal(await identity.unwrapFileKey(stanzas), null)
  const other: Stanza = { type: "X25519", args: ["AAAA"], body: new Uint8Array(32) }
  assert.equal(await identity.unwrapFileKey([other]), null)
  // Ours is found after others.
  const mine = await new SshEd25519Recipient(a.publicKey).wrapFileKey(fileKey)
  assert.deepEqual(await identity.unwrapFileKey([other, ...stanzas, ...mine]), fileKey)
})

test("malformed stanzas of our type are HeaderError", async () => {
  const { seed, publicKey } = newKey()
  const identity = new SshEd25519Identity(seed, publicKey)
  const [good] = await new SshEd25519Recipient(publicKey).wrapFileKey(fileKey)
  assert.ok(good)
  const tag = good.args[0] ?? ""
  const share = good.args[1] ?? ""
  const tampered = Uint8Array.from(good.body)
  tampered[0] = (tampered[0] ?? 0) ^ 1
  const lowOrder = Buffer.alloc(32).toString("base64").replace(/=+$/, "") // u = 0
  const bad: Stanza[] = [
    { ...good, args: [tag] },
    { ...good, args: [tag, share, "x"] },
    { ...good, args: [tag, `${share}=`] },
    { ...good, args: [tag, share.slice(0, -2)] },
    { ...good, body: good.body.subarray(0, 31) },
    { ...good, body: tampered },
    { ...good, args: [tag, lowOrder] },
  ]
  for (const stanza of bad) {
    await assert.rejects(identity.unwrapFileKey([stanza]), HeaderError, JSON.stringify(stanza.args))
  }
})

test("an identity whose public key does not match its seed is refused", () => {
  const a = newKey()
  const b = newKey()
  assert.throws(() => new SshEd25519Identity(a.seed, b.publicKey), /does not match/)
})

test("ed25519PublicKeyFromSeed agrees with node:crypto", () => {
  const { seed, publicKey } = newKey()
  assert.deepEqual(ed25519PublicKeyFromSeed(seed), publicKey)
  const key = createPrivateKey({
    key: {
      kty: "OKP",
      crv: "Ed25519",
      d: Buffer.from(seed).toString("base64url"),
      x: Buffer.from(publicKey).toString("base64url"),
    },
    format: "jwk",
  })
  assert.equal(
    createPublicKey(key).export({ format: "jwk" }).x,
    Buffer.from(publicKey).toString("base64url"),
  )
})
