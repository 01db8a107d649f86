// Tests for decryption: error classes, identity order and sources, inspectHeader, and random
// mutations of a ciphertext (never a non-ToolError, never a hang, never unauthenticated bytes).
import { test } from "node:test"
import assert from "node:assert/strict"
import { randomBytes } from "node:crypto"
import fc from "fast-check"
import { concatBytes } from "../internal/bytes.js"
import { ToolError } from "../internal/errors.js"
import { decrypt, decryptStream, inspectHeader } from "./decrypt.js"
import { encrypt } from "./encrypt.js"
import { HeaderError, HeaderMacError, NoIdentityMatchError, PayloadError } from "./errors.js"
import type { Identity, Recipient } from "./recipient.js"
import { ScryptIdentity, ScryptRecipient } from "./scrypt.js"
import { generateX25519Identity } from "./x25519.js"
import { CHUNK_SIZE } from "./payload.js"

const alice = generateX25519Identity()
const bob = generateX25519Identity()

async function streamDecrypt(
  file: Uint8Array,
  ids: readonly Identity[],
  piece: number,
): Promise<{ released: Uint8Array; error: unknown }> {
  let at = 0
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= file.length) {
        controller.close()
        return
      }
      controller.enqueue(file.slice(at, at + piece))
      at += piece
    },
  })
  const reader = source.pipeThrough(decryptStream(ids)).getReader()
  const parts: Uint8Array[] = []
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return { released: concatBytes(...parts), error: null }
      parts.push(value)
    }
  } catch (error) {
    return { released: concatBytes(...parts), error }
  }
}

test("no match lists the stanza types; identities are tried in order", async () => {
  const file = await encrypt(new Uint8Array(5), [alice.toRecipient()])
  await assert.rejects(
    decrypt(file, [bob]),
    (e: unknown) => e instanceof NoIdentityMatchError && e.stanzaTypes.join() === "X25519",
  )
  const calls: string[] = []
  const spy = (name: string, inner: Identity): Identity => ({
    unwrapFileKey: (s) => {
      calls.push(name)
      return inner.unwrapFileKey(s)
    },
  })
  assert.equal(
    (await decrypt(file, [spy("bob", bob), spy("alice", alice), spy("x", bob)])).length,
    5,
  )
  assert.deepEqual(calls, ["bob", "alice"])
  const failing: Identity = { unwrapFileKey: () => Promise.reject(new HeaderError("bad stanza")) }
  await assert.rejects(decrypt(file, [failing, alice]), HeaderError)
})

test("scrypt must be alone, checked before any identity runs", async () => {
  const extra: Recipient = {
    wrapFileKey: async (k) => [
      ...(await new ScryptRecipient("p", { workFactor: 1 }).wrapFileKey(k)),
      ...(await alice.toRecipient().wrapFileKey(k)),
    ],
  }
  const file = await encrypt(new Uint8Array(5), [extra])
  await assert.rejects(decrypt(file, [alice]), HeaderError)
})

test("a tampered header is a MAC failure; a missing nonce is a header failure", async () => {
  const grease: Recipient = {
    wrapFileKey: async (k) => [
      ...(await alice.toRecipient().wrapFileKey(k)),
      { type: "grease", args: ["aaaa"], body: new Uint8Array(0) },
    ],
  }
  const file = await encrypt(new Uint8Array(5), [grease])
  const text = Buffer.from(file).toString("latin1").replace("grease aaaa", "grease aaab")
  await assert.rejects(decrypt(Buffer.from(text, "latin1"), [alice]), HeaderMacError)
  const headerEnd = file.length - 16 - 21
  await assert.rejects(decrypt(file.subarray(0, headerEnd + 10), [alice]), HeaderError)
  const { error } = await streamDecrypt(file.subarray(0, headerEnd + 10), [alice], 3)
  assert.ok(error instanceof HeaderError)
})

test("inspectHeader and lazy identities", async () => {
  const file = await encrypt(new Uint8Array(5), [new ScryptRecipient("pw", { workFactor: 1 })], {
    armor: true,
  })
  assert.equal(inspectHeader(file.subarray(0, 20)), null)
  const info = inspectHeader(file)
  assert.ok(info !== null)
  assert.ok(info.scryptOnly && info.armored)
  assert.deepEqual(info.stanzaTypes, ["scrypt"])
  let asked = 0
  const out = await decrypt(file, (header) => {
    asked++
    assert.ok(header.scryptOnly)
    return [new ScryptIdentity("pw")]
  })
  assert.equal(out.length, 5)
  assert.equal(asked, 1)
  assert.throws(() => inspectHeader(new Uint8Array(0), true), HeaderError)
})

test("a truncated stream releases only whole authenticated chunks", async () => {
  const plaintext = new Uint8Array(randomBytes(3 * CHUNK_SIZE + 5))
  const file = await encrypt(plaintext, [alice.toRecipient()])
  const cut = file.subarray(0, file.length - 10)
  const { released, error } = await streamDecrypt(cut, [alice], 9999)
  assert.ok(error instanceof PayloadError)
  assert.deepEqual(released, plaintext.subarray(0, 3 * CHUNK_SIZE))
  await assert.rejects(decrypt(cut, [alice]), PayloadError)
})

const mutation = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), byte: fc.nat(255) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat() }),
)

test("random mutations: only ToolErrors, no hang, released bytes are an authentic prefix", async () => {
  const sizes = [0, 1, 100, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE + 7]
  const files = await Promise.all(
    sizes.flatMap((size) =>
      [false, true].map(async (armor) => {
        const plaintext = new Uint8Array(randomBytes(size))
        return { plaintext, file: await encrypt(plaintext, [alice.toRecipient()], { armor }) }
      }),
    ),
  )
  await fc.assert(
    fc.asyncProperty(
      fc.nat(files.length - 1),
      fc.array(mutation, { minLength: 1, maxLength: 3 }),
      fc.constantFrom(1, 7, 4096, 65537, 1 << 20),
      async (index, mutations, piece) => {
        const { plaintext, file } = files[index] ?? {
          plaintext: new Uint8Array(0),
          file: new Uint8Array(0),
        }
        let bytes = Array.from(file)
        for (const m of mutations) {
          const at = bytes.length === 0 ? 0 : m.at % bytes.length
          if (m.kind === "flip" && bytes.length > 0) bytes[at] = (bytes[at] ?? 0) ^ (1 << m.bit)
          if (m.kind === "truncate") bytes = bytes.slice(0, at)
          if (m.kind === "insert") bytes.splice(at, 0, m.byte)
          if (m.kind === "delete") bytes.splice(at, 1)
        }
        const mutated = new Uint8Array(bytes)
        const { released, error } = await streamDecrypt(
          mutated,
          [alice],
          mutated.length > 5000 && piece < 4096 ? 4096 + piece : piece,
        )
        if (error !== null)
          assert.ok(
            error instanceof ToolError,
            error instanceof Error ? error.stack : "not an Error",
          )
        if (error === null) {
          assert.deepEqual(released, plaintext)
        } else {
          assert.equal(released.length % CHUNK_SIZE, 0)
          assert.deepEqual(released, plaintext.subarray(0, released.length))
        }
        try {
          assert.deepEqual(await decrypt(mutated, [alice]), plaintext)
        } catch (e) {
          assert.ok(e instanceof ToolError, String(e))
        }
      },
    ),
    { numRuns: 120, interruptAfterTimeLimit: 30_000 },
  )
})
