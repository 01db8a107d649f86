// Unit tests for the STREAM payload (docs/formats/age.md "Payload"): chunking, finality and
// release rules.
import { test } from "node:test"
import assert from "node:assert/strict"
import { randomBytes } from "node:crypto"
import {
  CHUNK_SIZE,
  ENCRYPTED_CHUNK_SIZE,
  PayloadDecryptor,
  PayloadEncryptor,
  derivePayloadKey,
  encryptedPayloadSize,
  openChunk,
  sealChunk,
} from "./payload.js"
import { PayloadError } from "./errors.js"
import { concatBytes } from "../internal/bytes.js"

const key = derivePayloadKey(new Uint8Array(16).fill(7), new Uint8Array(16).fill(9))

function encryptAll(plaintext: Uint8Array, pieces: number): Uint8Array {
  const out: Uint8Array[] = []
  const enc = new PayloadEncryptor(key)
  for (let i = 0; i < plaintext.length; i += pieces) {
    enc.push(plaintext.subarray(i, i + pieces), (c) => out.push(c))
  }
  enc.finish((c) => out.push(c))
  return concatBytes(...out)
}

function decryptAll(ciphertext: Uint8Array, pieces: number): { out: Uint8Array; error: unknown } {
  const out: Uint8Array[] = []
  const dec = new PayloadDecryptor(key)
  try {
    for (let i = 0; i < ciphertext.length; i += pieces) {
      dec.push(ciphertext.subarray(i, i + pieces), (c) => out.push(c))
    }
    dec.finish((c) => out.push(c))
    return { out: concatBytes(...out), error: null }
  } catch (error) {
    return { out: concatBytes(...out), error }
  }
}

test("chunk nonces differ by counter and flag", () => {
  const p = new Uint8Array(10)
  const a = sealChunk(key, 0, p, false)
  assert.equal(openChunk(key, 0, a, false)?.length, 10)
  assert.equal(openChunk(key, 0, a, true), null)
  assert.equal(openChunk(key, 1, a, false), null)
  const big = sealChunk(key, 2 ** 40 + 5, p, true)
  assert.notEqual(openChunk(key, 2 ** 40 + 5, big, true), null)
  assert.equal(openChunk(key, 2 ** 40 + 4, big, true), null)
  assert.equal(openChunk(key, 5, big, true), null)
})

test("round trip at chunk boundaries, in odd pieces", () => {
  for (const size of [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE]) {
    const plaintext = new Uint8Array(randomBytes(size))
    for (const pieces of [7, 65537, 1 << 20]) {
      const ciphertext = encryptAll(plaintext, pieces)
      assert.equal(ciphertext.length, encryptedPayloadSize(size))
      for (const readPieces of [13, ENCRYPTED_CHUNK_SIZE, 1 << 20]) {
        const { out, error } = decryptAll(ciphertext, readPieces)
        assert.equal(error, null)
        assert.deepEqual(out, plaintext)
      }
    }
  }
})

test("a multiple of 64 KiB ends with a full final chunk", () => {
  const ciphertext = encryptAll(new Uint8Array(CHUNK_SIZE), 100)
  assert.equal(ciphertext.length, ENCRYPTED_CHUNK_SIZE)
  assert.notEqual(openChunk(key, 0, ciphertext, true), null)
})

test("truncation after a full non-final chunk releases that chunk, then fails", () => {
  const plaintext = new Uint8Array(randomBytes(CHUNK_SIZE + 10))
  const ciphertext = encryptAll(plaintext, 1000)
  const { out, error } = decryptAll(ciphertext.subarray(0, ENCRYPTED_CHUNK_SIZE), 999)
  assert.ok(error instanceof PayloadError)
  assert.deepEqual(out, plaintext.subarray(0, CHUNK_SIZE))
})

test("trailing data after a final chunk fails after releasing it", () => {
  const plaintext = new Uint8Array(randomBytes(CHUNK_SIZE))
  const ciphertext = concatBytes(encryptAll(plaintext, 1000), new Uint8Array([0]))
  const { out, error } = decryptAll(ciphertext, 5000)
  assert.ok(error instanceof PayloadError)
  assert.deepEqual(out, plaintext)
})

test("an empty final chunk after data is refused", () => {
  const full = sealChunk(key, 0, new Uint8Array(CHUNK_SIZE), false)
  const empty = sealChunk(key, 1, new Uint8Array(0), true)
  const { out, error } = decryptAll(concatBytes(full, empty), 100000)
  assert.ok(error instanceof PayloadError)
  assert.equal(out.length, CHUNK_SIZE)
})

test("empty payload and a corrupted tag", () => {
  assert.ok(decryptAll(new Uint8Array(0), 1).error instanceof PayloadError)
  assert.ok(decryptAll(new Uint8Array(15), 1).error instanceof PayloadError)
  const c = encryptAll(new Uint8Array(0), 1)
  assert.equal(decryptAll(c, 1).error, null)
  c[3] = (c[3] ?? 0) ^ 1
  assert.ok(decryptAll(c, 1).error instanceof PayloadError)
})
