// Tests for the built-in `-j batchpass` (age 1.3's age-plugin-batchpass): where the
// passphrase comes from, the work-factor variables, and files that are plain scrypt files.
import { test } from "node:test"
import assert from "node:assert/strict"
import { closeSync, openSync } from "node:fs"
import { join } from "node:path"
import {
  BatchpassIdentity,
  BatchpassRecipient,
  MAX_FD_PASSPHRASE_BYTES,
  readBatchpassPassphrase,
  readFileDescriptor,
  readWorkFactorVariable,
  type BatchpassSource,
} from "./batchpass.js"
import { encrypt } from "./encrypt.js"
import { decrypt } from "./decrypt.js"
import { ScryptIdentity } from "./scrypt.js"
import { generateX25519Identity } from "./x25519.js"
import {
  HeaderError,
  IncompatibleRecipientsError,
  NoIdentityMatchError,
  PassphraseError,
} from "./errors.js"
import { UsageError } from "../internal/errors.js"
import { tmpTree } from "../../test/support/tmp.js"

const plaintext = new TextEncoder().encode("batch secret\n")

/** A source whose descriptors hold the given texts. */
function source(
  env: Record<string, string>,
  fds: Record<number, string | Uint8Array> = {},
): BatchpassSource {
  return {
    env,
    readFd: (fd, maxBytes) => {
      const content = fds[fd]
      if (content === undefined) throw new Error(`EBADF: bad file descriptor ${fd}`)
      const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content
      return bytes.slice(0, maxBytes)
    },
  }
}

test("the passphrase comes from exactly one of AGE_PASSPHRASE and AGE_PASSPHRASE_FD", () => {
  assert.equal(readBatchpassPassphrase(source({ AGE_PASSPHRASE: "pw" })), "pw")
  assert.equal(readBatchpassPassphrase(source({ AGE_PASSPHRASE_FD: "3" }, { 3: "pw\n" })), "pw")
  // every trailing CR and LF goes, the rest stays (as the plugin's TrimRight)
  assert.equal(
    readBatchpassPassphrase(source({ AGE_PASSPHRASE_FD: "4" }, { 4: "a b\nc\r\n\n" })),
    "a b\nc",
  )
  // empty variables count as unset
  assert.equal(
    readBatchpassPassphrase(source({ AGE_PASSPHRASE: "", AGE_PASSPHRASE_FD: "3" }, { 3: "x" })),
    "x",
  )
  assert.throws(
    () => readBatchpassPassphrase(source({ AGE_PASSPHRASE: "pw", AGE_PASSPHRASE_FD: "3" })),
    { name: "PassphraseError", message: /mutually exclusive/ },
  )
  assert.throws(() => readBatchpassPassphrase(source({})), {
    name: "PassphraseError",
    message: "either AGE_PASSPHRASE or AGE_PASSPHRASE_FD must be set",
  })
  for (const bad of ["three", "-1", "3x", " 3"]) {
    assert.throws(
      () => readBatchpassPassphrase(source({ AGE_PASSPHRASE_FD: bad })),
      PassphraseError,
    )
  }
  assert.throws(() => readBatchpassPassphrase(source({ AGE_PASSPHRASE_FD: "9" })), {
    name: "PassphraseError",
    message: "failed to read the passphrase from file descriptor 9",
  })
  assert.throws(
    () => readBatchpassPassphrase(source({ AGE_PASSPHRASE_FD: "3" }, { 3: "\n\n" })),
    /is empty/,
  )
  const long = new Uint8Array(MAX_FD_PASSPHRASE_BYTES + 1).fill(0x61)
  assert.throws(
    () => readBatchpassPassphrase(source({ AGE_PASSPHRASE_FD: "3" }, { 3: long })),
    /longer than 1 MiB/,
  )
  assert.throws(
    () => readBatchpassPassphrase(source({ AGE_PASSPHRASE_FD: "3" }, { 3: Uint8Array.of(0xff) })),
    /not valid UTF-8/,
  )
})

test("work-factor variables: 1..30, empty means the default", () => {
  assert.equal(readWorkFactorVariable({}, "AGE_PASSPHRASE_WORK_FACTOR"), undefined)
  assert.equal(readWorkFactorVariable({ X: "" }, "X"), undefined)
  assert.equal(readWorkFactorVariable({ X: "12" }, "X"), 12)
  for (const bad of ["0", "31", "ten", "1.5", "0x10"]) {
    assert.throws(() => readWorkFactorVariable({ X: bad }, "X"), UsageError, bad)
  }
})

test("encrypt with AGE_PASSPHRASE, decrypt with AGE_PASSPHRASE_FD; the file is a plain scrypt file", async (t) => {
  const dir = tmpTree(t, { "passphrase.txt": "correct horse battery staple\n" })
  const recipient = BatchpassRecipient.fromEnvironment(
    source({ AGE_PASSPHRASE: "correct horse battery staple", AGE_PASSPHRASE_WORK_FACTOR: "10" }),
  )
  assert.equal(recipient.labels.length, 1)
  const file = await encrypt(plaintext, [recipient])
  assert.match(new TextDecoder("latin1").decode(file.subarray(0, 80)), /\n-> scrypt \S{22} 10\n/)

  // a real file descriptor, read by the reader the command line uses
  const fd = openSync(join(dir, "passphrase.txt"), "r")
  let identity: BatchpassIdentity
  try {
    identity = BatchpassIdentity.fromEnvironment({
      env: { AGE_PASSPHRASE_FD: String(fd) },
      readFd: readFileDescriptor,
    })
  } finally {
    closeSync(fd)
  }
  assert.deepEqual(await decrypt(file, [identity]), plaintext)
  assert.deepEqual(
    await decrypt(file, [new ScryptIdentity("correct horse battery staple")]),
    plaintext,
  )
  // and a normal -p file decrypts with batchpass too
  const normal = await encrypt(plaintext, [new BatchpassRecipient("pw", { workFactor: 9 })])
  assert.deepEqual(await decrypt(normal, [new BatchpassIdentity("pw")]), plaintext)
})

test("batchpass decryption errors: wrong passphrase, work factor above the maximum, not a passphrase file", async () => {
  const file = await encrypt(plaintext, [new BatchpassRecipient("right", { workFactor: 10 })])
  await assert.rejects(decrypt(file, [new BatchpassIdentity("wrong")]), {
    name: "PassphraseError",
    message: "incorrect passphrase",
  })
  const capped = BatchpassIdentity.fromEnvironment(
    source({ AGE_PASSPHRASE: "right", AGE_PASSPHRASE_MAX_WORK_FACTOR: "9" }),
  )
  await assert.rejects(decrypt(file, [capped]), HeaderError)
  const x25519 = generateX25519Identity()
  const keyed = await encrypt(plaintext, [x25519.toRecipient()])
  await assert.rejects(decrypt(keyed, [new BatchpassIdentity("right")]), NoIdentityMatchError)
  // scrypt with another stanza is refused (the header check, before any scrypt work)
  const identity = new BatchpassIdentity("right")
  const scryptStanza = {
    type: "scrypt",
    args: ["AAAAAAAAAAAAAAAAAAAAAA", "10"],
    body: new Uint8Array(32),
  }
  const other = { type: "X25519", args: ["x"], body: new Uint8Array(32) }
  await assert.rejects(identity.unwrapFileKey([scryptStanza, other]), HeaderError)
})

test("batchpass can't be combined with other recipients", async () => {
  const batch = new BatchpassRecipient("pw", { workFactor: 9 })
  await assert.rejects(
    encrypt(plaintext, [batch, generateX25519Identity().toRecipient()]),
    IncompatibleRecipientsError,
  )
  await assert.rejects(
    encrypt(plaintext, [generateX25519Identity().toRecipient(), batch]),
    IncompatibleRecipientsError,
  )
})

test("an empty passphrase can't encrypt", () => {
  assert.throws(() => new BatchpassRecipient(""), PassphraseError)
})
