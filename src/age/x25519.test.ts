// Unit tests for the X25519 recipient type (docs/formats/age.md "X25519").
import { test } from "node:test"
import assert from "node:assert/strict"
import { HeaderError, IdentityParseError, RecipientParseError } from "./errors.js"
import { generateX25519Identity, parseX25519Identity, parseX25519Recipient } from "./x25519.js"

// the CCTV test identity and its recipient (computed by age-keygen -y)
const IDENTITY = "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0"

test("parses, encodes and derives the recipient", () => {
  const identity = parseX25519Identity(IDENTITY)
  assert.equal(identity.encode(), IDENTITY)
  const recipient = identity.toRecipient()
  assert.match(recipient.encode(), /^age1[02-9ac-hj-np-z]{58}$/)
  assert.equal(parseX25519Recipient(recipient.encode()).encode(), recipient.encode())
  assert.deepEqual(recipient.labels, [])
})

test("rejects wrong case, wrong HRP and bad checksums without echoing secrets", () => {
  for (const bad of [
    IDENTITY.toLowerCase(),
    IDENTITY.slice(0, -1) + "1",
    "AGE-SECRET-KEY-PQ-1AAAA",
  ]) {
    assert.throws(
      () => parseX25519Identity(bad),
      (e: unknown) => e instanceof IdentityParseError && !e.message.includes(bad.slice(20)),
    )
  }
  const recipient = parseX25519Identity(IDENTITY).toRecipient().encode()
  assert.throws(() => parseX25519Recipient(recipient.toUpperCase()), RecipientParseError)
  assert.throws(() => parseX25519Recipient(IDENTITY), RecipientParseError)
})

test("wrap and unwrap; other identities say null; malformed stanzas are header errors", async () => {
  const a = generateX25519Identity()
  const b = generateX25519Identity()
  const fileKey = new Uint8Array(16).fill(42)
  const stanzas = await a.toRecipient().wrapFileKey(fileKey)
  assert.deepEqual(await a.unwrapFileKey(stanzas), fileKey)
  assert.equal(await b.unwrapFileKey(stanzas), null)
  const s = stanzas[0]
  assert.ok(s !== undefined)
  assert.equal(await a.unwrapFileKey([{ ...s, type: "x25519" }]), null)
  for (const bad of [
    { ...s, args: [...s.args, "x"] },
    { ...s, args: ["AAAA"] },
    { ...s, body: s.body.subarray(0, 31) },
    { ...s, args: ["A".repeat(43)] }, // the all-zero point: low order
  ]) {
    await assert.rejects(a.unwrapFileKey([bad]), HeaderError)
  }
})

test("a fixed entropy gives a fixed identity", () => {
  const entropy = (n: number): Uint8Array => new Uint8Array(n).fill(7)
  assert.equal(generateX25519Identity(entropy).encode(), generateX25519Identity(entropy).encode())
})
