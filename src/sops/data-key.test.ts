// Data key generation, wrapping for key groups (whole key or Shamir shares) and unwrapping
// in decryption order with clear errors (docs/formats/sops.md "Data key and master keys");
// PGP through a fake port.
import { test } from "node:test"
import assert from "node:assert/strict"
import { generateX25519Identity } from "../age/x25519.js"
import type { Identity } from "../age/recipient.js"
import type { KeyGroup } from "./metadata.js"
import type { PgpPort } from "./master-keys.js"
import { decryptAgeMasterKey, encryptAgeMasterKey } from "./master-keys.js"
import { generateDataKey, unwrapDataKey, wrapDataKey } from "./data-key.js"
import { DataKeyError, MasterKeyError, ShamirError } from "./errors.js"

/**
 * A fake PGP: "encrypts" by hex-encoding with the fingerprint; decrypts only known
 * fingerprints.
 */
class FakePgp implements PgpPort {
  readonly secretKeys: Set<string>
  calls = 0
  readonly failures: string[] = []
  constructor(secretKeys: readonly string[]) {
    this.secretKeys = new Set(secretKeys)
  }
  encrypt(dataKey: Uint8Array, fingerprint: string): Promise<string> {
    return Promise.resolve(
      `-----BEGIN PGP MESSAGE-----\n${fingerprint}:${Buffer.from(dataKey).toString("hex")}\n-----END PGP MESSAGE-----`,
    )
  }
  decrypt(armored: string): Promise<Uint8Array | null> {
    this.calls++
    const match = /\n([0-9A-F]+):([0-9a-f]*)\n/.exec(armored)
    if (match?.[1] === undefined || !this.secretKeys.has(match[1])) {
      this.failures.push("decryption failed: No secret key")
      return Promise.resolve(null)
    }
    return Promise.resolve(new Uint8Array(Buffer.from(match[2] ?? "", "hex")))
  }
}

const FP1 = "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"
const FP2 = "D7229043384BCC60326C6FB9D8720D957C3D3074"

function ageKey(): { identity: Identity; recipient: string } {
  const identity = generateX25519Identity()
  return { identity, recipient: identity.toRecipient().toString() }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  return assert.fail("expected a rejection")
}

test("age master key enc is a single-recipient armored age file ending with a newline", async () => {
  const { identity, recipient } = ageKey()
  const dataKey = generateDataKey()
  const key = await encryptAgeMasterKey(dataKey, `  ${recipient}\n`)
  assert.equal(key.recipient, recipient)
  const lines = key.enc.split("\n")
  assert.equal(lines[0], "-----BEGIN AGE ENCRYPTED FILE-----")
  assert.equal(lines.at(-2), "-----END AGE ENCRYPTED FILE-----")
  assert.equal(lines.at(-1), "")
  for (const line of lines.slice(1, -3)) assert.equal(line.length, 64)
  assert.deepEqual(await decryptAgeMasterKey(key, [identity]), dataKey)
  assert.equal(await decryptAgeMasterKey(key, [ageKey().identity]), null)
  assert.equal(await decryptAgeMasterKey(key, []), null)
})

test("one group: every key wraps the whole data key; any one of them unwraps it", async () => {
  const a = ageKey()
  const b = ageKey()
  const pgp = new FakePgp([FP1])
  const dataKey = generateDataKey()
  const wrapped = await wrapDataKey(dataKey, [{ age: [a.recipient, b.recipient], pgp: [FP1] }], {
    pgp,
    clock: () => new Date("2024-03-04T05:06:07.890Z"),
  })
  assert.equal(wrapped.shamirThreshold, 0)
  assert.equal(wrapped.keyGroups.length, 1)
  const group = wrapped.keyGroups[0]
  assert.ok(group !== undefined)
  assert.deepEqual(group.pgp[0]?.createdAt, "2024-03-04T05:06:07Z")
  const metadata = { keyGroups: wrapped.keyGroups, shamirThreshold: 0 }
  assert.deepEqual(await unwrapDataKey(metadata, { identities: [b.identity] }), dataKey)
  assert.deepEqual(await unwrapDataKey(metadata, { identities: [], pgp }), dataKey)
  // age is tried first: pgp is never called when an identity matches
  const counting = new FakePgp([FP1])
  assert.deepEqual(
    await unwrapDataKey(metadata, { identities: [a.identity], pgp: counting }),
    dataKey,
  )
  assert.equal(counting.calls, 0)
  // the decryption order can put pgp first
  await unwrapDataKey(
    metadata,
    { identities: [a.identity], pgp: counting },
    { decryptionOrder: ["pgp", "age"] },
  )
  assert.equal(counting.calls, 1)
})

test("no matching key: the error lists every key and why it failed, without secrets", async () => {
  const a = ageKey()
  const dataKey = generateDataKey()
  const wrapped = await wrapDataKey(dataKey, [{ age: [a.recipient], pgp: [FP2] }], {
    pgp: new FakePgp([]),
  })
  const err = await rejection(
    unwrapDataKey(
      { keyGroups: wrapped.keyGroups, shamirThreshold: 0 },
      { identities: [ageKey().identity], pgp: new FakePgp([]) },
    ),
  )
  assert.ok(err instanceof DataKeyError)
  assert.equal(err.message, "could not decrypt the data key with any master key")
  const detail = err.hints.join("\n")
  assert.match(detail, new RegExp(`age ${a.recipient} \\(none of the 1 age identities matched\\)`))
  assert.match(
    detail,
    new RegExp(`pgp ${FP2} \\(gpg could not decrypt it: decryption failed: No secret key\\)`),
  )
  assert.doesNotMatch(detail, new RegExp(Buffer.from(dataKey).toString("hex")))
})

test("shamir 2-of-3: shares per group, any two groups recover the key, one is not enough", async () => {
  const keys = [ageKey(), ageKey(), ageKey()]
  const dataKey = generateDataKey()
  const wrapped = await wrapDataKey(
    dataKey,
    keys.map((k) => ({ age: [k.recipient], pgp: [] })),
    { threshold: 2 },
  )
  assert.equal(wrapped.shamirThreshold, 2)
  // each group's key wraps a 33-byte share whose last byte is x = group index + 1
  for (const [i, group] of wrapped.keyGroups.entries()) {
    const share = await decryptAgeMasterKey(group.age[0] ?? assert.fail(), [
      keys[i]?.identity ?? assert.fail(),
    ])
    assert.ok(share !== null)
    assert.equal(share.length, 33)
    assert.equal(share[32], i + 1)
  }
  const metadata = { keyGroups: wrapped.keyGroups, shamirThreshold: 2 }
  for (const pair of [
    [0, 1],
    [0, 2],
    [1, 2],
  ]) {
    const identities = pair.map((i) => keys[i]?.identity ?? assert.fail())
    assert.deepEqual(await unwrapDataKey(metadata, { identities }), dataKey)
  }
  const err = await rejection(
    unwrapDataKey(metadata, { identities: [keys[1]?.identity ?? assert.fail()] }),
  )
  assert.ok(err instanceof DataKeyError)
  assert.match(err.message, /1 of the 2 key groups needed/)
  assert.match(err.hints.join("\n"), /key group 1: age age1/)
  assert.match(err.hints.join("\n"), /key group 3: age age1/)
})

test("shamir 3-of-3 with pgp and age groups; unwrapping stops once enough groups are open", async () => {
  const a = ageKey()
  const b = ageKey()
  const pgp = new FakePgp([FP1])
  const dataKey = generateDataKey()
  const wrapped = await wrapDataKey(
    dataKey,
    [
      { age: [a.recipient], pgp: [] },
      { age: [], pgp: [FP1] },
      { age: [b.recipient], pgp: [FP2] },
    ],
    { pgp },
  )
  // no threshold given: all groups are needed, and that is written
  assert.equal(wrapped.shamirThreshold, 3)
  const metadata = { keyGroups: wrapped.keyGroups, shamirThreshold: 3 }
  assert.deepEqual(
    await unwrapDataKey(metadata, { identities: [a.identity, b.identity], pgp }),
    dataKey,
  )
  await assert.rejects(
    unwrapDataKey(metadata, { identities: [a.identity, b.identity] }),
    DataKeyError,
  )

  const early = new FakePgp([FP1, FP2])
  const twoOfThree = await wrapDataKey(
    dataKey,
    [
      { age: [a.recipient], pgp: [] },
      { age: [], pgp: [FP1] },
      { age: [b.recipient], pgp: [FP2] },
    ],
    { pgp, threshold: 2 },
  )
  assert.deepEqual(
    await unwrapDataKey(
      { keyGroups: twoOfThree.keyGroups, shamirThreshold: 2 },
      { identities: [a.identity], pgp: early },
    ),
    dataKey,
  )
  assert.equal(early.calls, 1, "group 3 is not tried once groups 1 and 2 are open")
})

test("one identity opens age keys in several groups (tried first after it matched once)", async () => {
  const a = ageKey()
  const others = [ageKey().identity, ageKey().identity]
  const dataKey = generateDataKey()
  const wrapped = await wrapDataKey(dataKey, [
    { age: [a.recipient], pgp: [] },
    { age: [a.recipient], pgp: [] },
  ])
  assert.deepEqual(
    await unwrapDataKey(
      { keyGroups: wrapped.keyGroups, shamirThreshold: 2 },
      { identities: [...others, a.identity] },
    ),
    dataKey,
  )
})

test("cloud keys without a cloud port: unwrapping says so per key, wrapping refuses them", async () => {
  const group: KeyGroup = {
    age: [],
    pgp: [],
    opaque: { kms: [{ fields: { arn: "arn:aws:kms:us-east-1:1:key/x", enc: "AQI=" } }] },
  }
  const err = await rejection(
    unwrapDataKey({ keyGroups: [group], shamirThreshold: 0 }, { identities: [] }),
  )
  assert.ok(err instanceof DataKeyError)
  assert.match(
    err.hints.join("\n"),
    /kms arn:aws:kms:us-east-1:1:key\/x \(decrypting with kms keys needs the cloud key service/,
  )
  await assert.rejects(
    wrapDataKey(generateDataKey(), [{ age: [ageKey().recipient], pgp: [], opaque: group.opaque }]),
    /encrypting with kms keys needs the cloud key service/,
  )
})

test("wrapping refuses empty key lists, bad thresholds and pgp without gpg", async () => {
  const dataKey = generateDataKey()
  await assert.rejects(wrapDataKey(dataKey, []), MasterKeyError)
  await assert.rejects(wrapDataKey(dataKey, [{ age: [], pgp: [] }]), MasterKeyError)
  await assert.rejects(wrapDataKey(dataKey, [{ age: [], pgp: [FP1] }]), /no gpg available/)
  const r = ageKey().recipient
  await assert.rejects(
    wrapDataKey(
      dataKey,
      [
        { age: [r], pgp: [] },
        { age: [r], pgp: [] },
      ],
      { threshold: 3 },
    ),
    ShamirError,
  )
  await assert.rejects(wrapDataKey(dataKey, [{ age: ["age1notakey"], pgp: [] }]), /recipient/)
})

test("a master key that decrypts to the wrong length is skipped with a reason", async () => {
  const a = ageKey()
  const short = await encryptAgeMasterKey(new Uint8Array(5), a.recipient)
  const err = await rejection(
    unwrapDataKey(
      { keyGroups: [{ age: [short], pgp: [], opaque: {} }], shamirThreshold: 0 },
      { identities: [a.identity] },
    ),
  )
  assert.ok(err instanceof DataKeyError)
  assert.match(err.hints.join("\n"), /decrypted to 5 bytes, not a 32-byte data key/)
})
