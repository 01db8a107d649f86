// Tests for encryption: the label rule, and decrypt(encrypt(x)) = x (buffer and stream,
// armored and not) for random sizes and recipient sets (docs/formats/age.md "Overview",
// "Payload", "mlkem768x25519" labels).
import { test } from "node:test"
import assert from "node:assert/strict"
import { randomBytes } from "node:crypto"
import fc from "fast-check"
import { concatBytes } from "../internal/bytes.js"
import { decrypt, decryptStream } from "./decrypt.js"
import { encrypt, encryptStream } from "./encrypt.js"
import { IncompatibleRecipientsError, RecipientParseError } from "./errors.js"
import { generateHybridIdentity } from "./hybrid.js"
import type { Identity, Recipient } from "./recipient.js"
import { ScryptIdentity, ScryptRecipient } from "./scrypt.js"
import { generateX25519Identity } from "./x25519.js"
import { CHUNK_SIZE } from "./payload.js"

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  const reader = stream.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return concatBytes(...parts)
    parts.push(value)
  }
}

function streamOf(bytes: Uint8Array, piece: number): ReadableStream<Uint8Array> {
  let at = 0
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) {
        controller.close()
        return
      }
      controller.enqueue(bytes.slice(at, at + piece))
      at += piece
    },
  })
}

test("the label rule: scrypt alone, no mixing post-quantum and classic, at least one", async () => {
  const x = generateX25519Identity().toRecipient()
  const pq = await generateHybridIdentity().toRecipient()
  const data = new Uint8Array(3)
  await assert.rejects(encrypt(data, []), RecipientParseError)
  await assert.rejects(
    encrypt(data, [x, new ScryptRecipient("p", { workFactor: 1 })]),
    (e: unknown) => e instanceof IncompatibleRecipientsError && e.message.includes("scrypt"),
  )
  await assert.rejects(
    encrypt(data, [
      new ScryptRecipient("p", { workFactor: 1 }),
      new ScryptRecipient("p", { workFactor: 1 }),
    ]),
    IncompatibleRecipientsError,
  )
  await assert.rejects(
    encrypt(data, [x, pq]),
    (e: unknown) => e instanceof IncompatibleRecipientsError && e.message.includes("post-quantum"),
  )
  const plain: Recipient = { wrapFileKey: () => Promise.resolve([]) }
  await assert.rejects(encrypt(data, [pq, plain]), IncompatibleRecipientsError)
  // recipients without labels mix with native classic ones (empty label sets)
  assert.ok((await encrypt(data, [x, generateX25519Identity().toRecipient()])).length > 0)
})

test("deterministic with a fixed entropy", async () => {
  let n = 0
  const entropy = (len: number): Uint8Array => new Uint8Array(len).map(() => n++ % 256)
  const id = generateX25519Identity(() => new Uint8Array(32).fill(1))
  const a = await encrypt(new Uint8Array(10), [id.toRecipient({ entropy })], { entropy })
  n = 0
  const b = await encrypt(new Uint8Array(10), [id.toRecipient({ entropy })], { entropy })
  assert.deepEqual(a, b)
})

const sizes = fc.oneof(
  fc.constantFrom(0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE),
  fc.nat(3 * CHUNK_SIZE),
)
const recipientSets = fc.oneof(
  fc.integer({ min: 1, max: 3 }).map((count) => {
    const ids = Array.from({ length: count }, () => generateX25519Identity())
    return {
      recipients: ids.map((i) => i.toRecipient()),
      identities: ids,
    }
  }),
  fc.integer({ min: 1, max: 3 }).map((wf) => ({
    recipients: [new ScryptRecipient("pass", { workFactor: wf })] as Recipient[],
    identities: [new ScryptIdentity("wrong"), new ScryptIdentity("pass")] as Identity[],
  })),
)

test("decrypt(encrypt(x)) = x through buffers and streams", async () => {
  await fc.assert(
    fc.asyncProperty(
      sizes,
      recipientSets,
      fc.boolean(),
      fc.integer({ min: 1, max: 70000 }),
      async (size, set, armor, piece) => {
        // byte-sized pieces only for small inputs (a Web Streams round trip per byte is slow)
        piece = size > 2000 ? Math.max(piece, 997) : piece
        const plaintext = new Uint8Array(randomBytes(size))
        const file = await encrypt(plaintext, set.recipients, { armor })
        assert.deepEqual(await decrypt(file, set.identities), plaintext)
        const streamed = await readAll(
          streamOf(plaintext, piece).pipeThrough(encryptStream(set.recipients, { armor })),
        )
        assert.equal(streamed.length, file.length)
        assert.deepEqual(
          await readAll(streamOf(streamed, piece).pipeThrough(decryptStream(set.identities))),
          plaintext,
        )
        assert.deepEqual(await decrypt(streamed, set.identities), plaintext)
      },
    ),
    { numRuns: 30 },
  )
})
