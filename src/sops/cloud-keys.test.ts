// Cloud master keys through a fake CloudKeyPort (docs/formats/sops-cloud-keys.md): the
// fields sops writes, the order sops tries key types in (SOPS_DECRYPTION_ORDER), going on
// to the next key when one fails, Shamir across cloud and age groups, and errors that
// name the key and keep the cloud error's class as the cause.
import { test } from "node:test"
import assert from "node:assert/strict"
import { generateX25519Identity } from "../age/x25519.js"
import type { OpaqueKeyType, OpaqueMasterKey } from "./metadata.js"
import type { CloudKeyPort } from "./cloud-keys.js"
import {
  cloudKeyFields,
  describeCloudKey,
  encryptionContextOf,
  keyTypeOrder,
} from "./cloud-keys.js"
import { generateDataKey, unwrapDataKey, wrapDataKey } from "./data-key.js"
import { DataKeyError, MasterKeyError } from "./errors.js"

class DisabledError extends MasterKeyError {}

/** "Encrypts" by hex with the key's name; fails for keys named in `broken`; records calls. */
class FakeCloud implements CloudKeyPort {
  readonly calls: string[] = []
  readonly broken: Set<string>
  constructor(broken: readonly string[] = []) {
    this.broken = new Set(broken)
  }
  supports(type: OpaqueKeyType): boolean {
    return type !== "hckms"
  }
  private nameOf(type: OpaqueKeyType, key: OpaqueMasterKey): string {
    return describeCloudKey(type, key)
  }
  encrypt(type: OpaqueKeyType, key: OpaqueMasterKey, dataKey: Uint8Array): Promise<string> {
    const name = this.nameOf(type, key)
    this.calls.push(`encrypt ${name}`)
    return Promise.resolve(`${name}|${Buffer.from(dataKey).toString("hex")}`)
  }
  decrypt(type: OpaqueKeyType, key: OpaqueMasterKey): Promise<Uint8Array> {
    const name = this.nameOf(type, key)
    this.calls.push(`decrypt ${name}`)
    if (this.broken.has(name)) {
      return Promise.reject(
        new DisabledError(`${name}: the key is disabled`, { hints: ["enable the key"] }),
      )
    }
    const enc = String(key.fields["enc"])
    assert.ok(enc.startsWith(`${name}|`), "enc belongs to this key")
    return Promise.resolve(new Uint8Array(Buffer.from(enc.slice(name.length + 1), "hex")))
  }
}

const KMS_A = "arn:aws:kms:eu-west-2:111122223333:key/a"
const KMS_B = "arn:aws:kms:eu-west-2:111122223333:key/b"

test("kms fields are written as sops writes them: aws_profile always, role and context when set", () => {
  const plain = cloudKeyFields("kms", { fields: { arn: KMS_A } }, "ENC", "2026-01-02T03:04:05Z")
  assert.deepEqual(plain.fields, {
    arn: KMS_A,
    created_at: "2026-01-02T03:04:05Z",
    enc: "ENC",
    aws_profile: "",
  })
  const full = cloudKeyFields(
    "kms",
    {
      fields: {
        arn: KMS_A,
        role: "arn:aws:iam::111122223333:role/r",
        context: { app: "web", n: 5 },
        aws_profile: "dev",
      },
    },
    "ENC",
    "2026-01-02T03:04:05Z",
  )
  assert.deepEqual(full.fields, {
    arn: KMS_A,
    role: "arn:aws:iam::111122223333:role/r",
    context: { app: "web", n: "5" },
    created_at: "2026-01-02T03:04:05Z",
    enc: "ENC",
    aws_profile: "dev",
  })
  assert.deepEqual(encryptionContextOf({ fields: { context: { a: "1", b: null } } }), { a: "1" })
  assert.throws(() => encryptionContextOf({ fields: { context: "a:1" } }), MasterKeyError)
  assert.equal(describeCloudKey("kms", full), `kms ${KMS_A}+arn:aws:iam::111122223333:role/r`)
})

test("key types are tried in sops's order: the decryption order first, then kms…hc_vault, pgp, age", () => {
  assert.deepEqual(keyTypeOrder(["age", "pgp"]), [
    "age",
    "pgp",
    "kms",
    "gcp_kms",
    "hckms",
    "azure_kv",
    "hc_vault",
  ])
  // types the order does not name keep sops's building order, so pgp and age come last
  assert.deepEqual(keyTypeOrder(["hc_vault"]), [
    "hc_vault",
    "kms",
    "gcp_kms",
    "hckms",
    "azure_kv",
    "pgp",
    "age",
  ])
  assert.deepEqual(keyTypeOrder([]), [
    "kms",
    "gcp_kms",
    "hckms",
    "azure_kv",
    "hc_vault",
    "pgp",
    "age",
  ])
})

test("one group with age and kms: age is tried first by default, kms first with kms,age", async () => {
  const identity = generateX25519Identity()
  const cloud = new FakeCloud()
  const dataKey = generateDataKey()
  const wrapped = await wrapDataKey(
    dataKey,
    [
      {
        age: [identity.toRecipient().toString()],
        pgp: [],
        opaque: { kms: [{ fields: { arn: KMS_A } }] },
      },
    ],
    { cloud, clock: () => new Date("2026-01-02T03:04:05Z") },
  )
  const [group] = wrapped.keyGroups
  assert.equal(group?.opaque.kms?.[0]?.fields["created_at"], "2026-01-02T03:04:05Z")
  const metadata = { keyGroups: wrapped.keyGroups, shamirThreshold: 0 }

  cloud.calls.length = 0
  const viaAge = await unwrapDataKey(metadata, { identities: [identity], cloud })
  assert.deepEqual(viaAge, dataKey)
  assert.deepEqual(cloud.calls, [], "age opened it, kms was not asked")

  const viaKms = await unwrapDataKey(
    metadata,
    { identities: [identity], cloud },
    { decryptionOrder: ["kms", "age"] },
  )
  assert.deepEqual(viaKms, dataKey)
  assert.deepEqual(cloud.calls, [`decrypt kms ${KMS_A}`])
})

test("a failing kms key falls through to the next one, in file order", async () => {
  const cloud = new FakeCloud([`kms ${KMS_A}`])
  const dataKey = generateDataKey()
  const wrapped = await wrapDataKey(
    dataKey,
    [
      {
        age: [],
        pgp: [],
        opaque: { kms: [{ fields: { arn: KMS_A } }, { fields: { arn: KMS_B } }] },
      },
    ],
    { cloud },
  )
  cloud.calls.length = 0
  const out = await unwrapDataKey(
    { keyGroups: wrapped.keyGroups, shamirThreshold: 0 },
    { identities: [], cloud },
  )
  assert.deepEqual(out, dataKey)
  assert.deepEqual(cloud.calls, [`decrypt kms ${KMS_A}`, `decrypt kms ${KMS_B}`])
})

test("every cloud key failing: DataKeyError names each key and why, with the cloud error as cause", async () => {
  const cloud = new FakeCloud([`kms ${KMS_A}`])
  const wrapped = await wrapDataKey(
    generateDataKey(),
    [{ age: [], pgp: [], opaque: { kms: [{ fields: { arn: KMS_A } }] } }],
    { cloud },
  )
  const err = await unwrapDataKey(
    { keyGroups: wrapped.keyGroups, shamirThreshold: 0 },
    { identities: [], cloud },
  ).then(
    () => assert.fail("expected a rejection"),
    (e: unknown) => e,
  )
  assert.ok(err instanceof DataKeyError)
  assert.ok(err.cause instanceof DisabledError)
  const hints = err.hints.join("\n")
  assert.match(hints, new RegExp(`master keys: kms ${KMS_A} \\(the key is disabled\\)`))
  assert.match(hints, /enable the key/)
  assert.doesNotMatch(hints, /provide an age identity/, "no age or pgp keys to suggest")
})

test("shamir 2-of-3 across kms, age and kms-with-context groups; any two recover the key", async () => {
  const identity = generateX25519Identity()
  const cloud = new FakeCloud()
  const dataKey = generateDataKey()
  const wrapped = await wrapDataKey(
    dataKey,
    [
      { age: [], pgp: [], opaque: { kms: [{ fields: { arn: KMS_A } }] } },
      { age: [identity.toRecipient().toString()], pgp: [] },
      { age: [], pgp: [], opaque: { kms: [{ fields: { arn: KMS_B, context: { env: "prod" } } }] } },
    ],
    { cloud, threshold: 2 },
  )
  assert.equal(wrapped.shamirThreshold, 2)
  assert.deepEqual(wrapped.keyGroups[2]?.opaque.kms?.[0]?.fields["context"], { env: "prod" })
  const metadata = { keyGroups: wrapped.keyGroups, shamirThreshold: 2 }
  assert.deepEqual(await unwrapDataKey(metadata, { identities: [identity], cloud }), dataKey)
  const onlyCloud = new FakeCloud()
  assert.deepEqual(await unwrapDataKey(metadata, { identities: [], cloud: onlyCloud }), dataKey)
  const oneGroup = new FakeCloud([`kms ${KMS_A}`, `kms ${KMS_B}`])
  await assert.rejects(
    unwrapDataKey(metadata, { identities: [identity], cloud: oneGroup }),
    /1 of the 2 key groups needed/,
  )
})
