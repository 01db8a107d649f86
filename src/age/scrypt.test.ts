// Unit tests for the scrypt recipient type (docs/formats/age.md "scrypt").
import { test } from "node:test"
import assert from "node:assert/strict"
import { totalmem } from "node:os"
import { HeaderError, PassphraseError, ScryptMemoryError } from "./errors.js"
import { ScryptIdentity, ScryptRecipient } from "./scrypt.js"

test("wraps with the work factor and unwraps with the right passphrase only", async () => {
  const fileKey = new Uint8Array(16).fill(9)
  const recipient = new ScryptRecipient("correct horse", { workFactor: 4 })
  const [stanza] = await recipient.wrapFileKey(fileKey)
  assert.ok(stanza !== undefined)
  assert.equal(stanza.type, "scrypt")
  assert.equal(stanza.args[1], "4")
  assert.deepEqual(await new ScryptIdentity("correct horse").unwrapFileKey([stanza]), fileKey)
  assert.equal(await new ScryptIdentity("wrong").unwrapFileKey([stanza]), null)
  assert.equal(await new ScryptIdentity("x").unwrapFileKey([{ ...stanza, type: "X25519" }]), null)
})

test("labels are unique per recipient", () => {
  const a = new ScryptRecipient("p", { workFactor: 1 })
  const b = new ScryptRecipient("p", { workFactor: 1 })
  assert.equal(a.labels.length, 1)
  assert.notDeepEqual(a.labels, b.labels)
  assert.throws(() => new ScryptRecipient(""), PassphraseError)
  assert.throws(() => new ScryptRecipient("p", { workFactor: 31 }), RangeError)
})

test("stanza checks: alone, canonical work factor, maximum, salt and body lengths", async () => {
  const [s] = await new ScryptRecipient("p", { workFactor: 2 }).wrapFileKey(new Uint8Array(16))
  assert.ok(s !== undefined)
  const id = new ScryptIdentity("p", { maxWorkFactor: 10 })
  for (const bad of [
    [s, s],
    [{ ...s, args: [s.args[0] ?? "", "02"] }],
    [{ ...s, args: [s.args[0] ?? "", "+2"] }],
    [{ ...s, args: [s.args[0] ?? "", "0x2"] }],
    [{ ...s, args: [s.args[0] ?? "", "11"] }],
    [{ ...s, args: [s.args[0] ?? "", "99999999999999999999999"] }],
    [{ ...s, args: [s.args[0] ?? ""] }],
    [{ ...s, args: ["AAAA", "2"] }],
    [{ ...s, body: new Uint8Array(33) }],
  ]) {
    await assert.rejects(id.unwrapFileKey(bad), HeaderError, JSON.stringify(bad.map((x) => x.args)))
  }
})

test("a work factor whose memory can't be allocated is ScryptMemoryError, not OpenSSL's malloc failure", async (t) => {
  // 2^30 KiB = 1 TiB: only run where that much memory can't exist (else scrypt would run)
  if (totalmem() >= 512 * 1024 ** 3) {
    t.skip("this machine may have 1 TiB: scrypt would really run")
    return
  }
  const stanza = {
    type: "scrypt",
    args: ["AAAAAAAAAAAAAAAAAAAAAA", "30"],
    body: new Uint8Array(32),
  }
  await assert.rejects(
    new ScryptIdentity("p", { maxWorkFactor: 30 }).unwrapFileKey([stanza]),
    (error: unknown) =>
      error instanceof ScryptMemoryError &&
      error.message ===
        "scrypt work factor 30 needs 1 TiB of memory, more than can be allocated here" &&
      error.hints.some((h) => h.includes("AGE_PASSPHRASE_MAX_WORK_FACTOR")),
  )
})
