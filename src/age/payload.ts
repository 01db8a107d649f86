/**
 * The age payload (docs/formats/age.md "Payload", test/vectors/age/FORMAT.md "Payload
 * hash"): a 16-byte nonce, then the plaintext in 64 KiB chunks sealed with
 * ChaCha20-Poly1305 under a key derived from the file key (STREAM). Chunk nonce = 11-byte
 * big-endian counter ‖ final flag.
 *
 * `PayloadEncryptor` and `PayloadDecryptor` are single-threaded and incremental: they take
 * bytes in pieces of any size and hold at most one chunk. The decryptor releases a chunk only
 * after its tag verifies, with exactly the reference's release behaviour on failure.
 */
import { createCipheriv, createDecipheriv, hkdfSync } from "node:crypto"
import { PayloadError } from "./errors.js"

/** Plaintext bytes per chunk. */
export const CHUNK_SIZE = 65536
/** Poly1305 tag bytes per chunk. */
export const TAG_SIZE = 16
/** Ciphertext bytes of a full chunk. */
export const ENCRYPTED_CHUNK_SIZE: number = CHUNK_SIZE + TAG_SIZE
/** Bytes of the payload nonce written after the header. */
export const PAYLOAD_NONCE_SIZE = 16

/**
 * payload key = HKDF-SHA-256(ikm = file key, salt = nonce, info = "payload").
 * @returns the 32-byte payload key
 */
export function derivePayloadKey(fileKey: Uint8Array, nonce: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", fileKey, nonce, "payload", 32))
}

function chunkNonce(counter: number, last: boolean): Buffer {
  if (!Number.isSafeInteger(counter) || counter < 0) {
    throw new RangeError("chunk counter out of range")
  }
  const nonce = Buffer.alloc(12)
  // 11-byte big-endian counter: a safe integer fits in the low 7 bytes
  nonce.writeUIntBE(counter % 2 ** 24, 8, 3)
  nonce.writeUIntBE(Math.floor(counter / 2 ** 24) % 2 ** 24, 5, 3)
  nonce.writeUIntBE(Math.floor(counter / 2 ** 48), 2, 3)
  nonce[11] = last ? 1 : 0
  return nonce
}

/**
 * Seals one chunk.
 * @param counter the chunk index (0 for the first chunk)
 * @param last whether this is the final chunk
 * @returns ciphertext ‖ 16-byte tag
 */
export function sealChunk(
  payloadKey: Uint8Array,
  counter: number,
  plaintext: Uint8Array,
  last: boolean,
): Uint8Array {
  const cipher = createCipheriv("chacha20-poly1305", payloadKey, chunkNonce(counter, last), {
    authTagLength: TAG_SIZE,
  })
  const out = new Uint8Array(plaintext.length + TAG_SIZE)
  const body = cipher.update(plaintext)
  out.set(body, 0)
  const tail = cipher.final()
  out.set(tail, body.length)
  out.set(cipher.getAuthTag(), body.length + tail.length)
  return out
}

/**
 * Opens one chunk.
 * @param ciphertext ciphertext ‖ tag (at least 16 bytes)
 * @returns the plaintext, or null when the tag does not verify with this counter and flag
 */
export function openChunk(
  payloadKey: Uint8Array,
  counter: number,
  ciphertext: Uint8Array,
  last: boolean,
): Uint8Array | null {
  if (ciphertext.length < TAG_SIZE) return null
  const split = ciphertext.length - TAG_SIZE
  const decipher = createDecipheriv("chacha20-poly1305", payloadKey, chunkNonce(counter, last), {
    authTagLength: TAG_SIZE,
  })
  decipher.setAuthTag(ciphertext.subarray(split))
  const out = new Uint8Array(split)
  const body = decipher.update(ciphertext.subarray(0, split))
  try {
    const tail = decipher.final()
    out.set(body, 0)
    out.set(tail, body.length)
  } catch {
    // the tag did not verify: nothing from this chunk may be released
    body.fill(0)
    return null
  }
  return out
}

/**
 * @returns the payload ciphertext size (without the nonce) for `plaintextSize` bytes
 */
export function encryptedPayloadSize(plaintextSize: number): number {
  const chunks = Math.max(1, Math.ceil(plaintextSize / CHUNK_SIZE))
  return plaintextSize + chunks * TAG_SIZE
}

/**
 * Encrypts a payload given in pieces. A full chunk is held back until more bytes arrive,
 * since only then is it known not to be final (spec: never append an empty final chunk).
 */
export class PayloadEncryptor {
  readonly #payloadKey: Uint8Array
  readonly #buffer = new Uint8Array(CHUNK_SIZE)
  #filled = 0
  #counter = 0
  #finished = false

  /** @param payloadKey from `derivePayloadKey` */
  constructor(payloadKey: Uint8Array) {
    this.#payloadKey = payloadKey
  }

  /**
   * Adds plaintext.
   * @param emit receives each sealed chunk, in order
   */
  push(plaintext: Uint8Array, emit: (sealed: Uint8Array) => void): void {
    if (this.#finished) throw new RangeError("payload encryptor already finished")
    let offset = 0
    while (offset < plaintext.length) {
      if (this.#filled === CHUNK_SIZE) {
        emit(sealChunk(this.#payloadKey, this.#counter++, this.#buffer, false))
        this.#filled = 0
      }
      // a full chunk straight from the input, when more input follows it
      if (this.#filled === 0 && plaintext.length - offset > CHUNK_SIZE) {
        emit(
          sealChunk(
            this.#payloadKey,
            this.#counter++,
            plaintext.subarray(offset, offset + CHUNK_SIZE),
            false,
          ),
        )
        offset += CHUNK_SIZE
        continue
      }
      const take = Math.min(CHUNK_SIZE - this.#filled, plaintext.length - offset)
      this.#buffer.set(plaintext.subarray(offset, offset + take), this.#filled)
      this.#filled += take
      offset += take
    }
  }

  /**
   * Seals the final chunk (empty only if the whole plaintext was empty).
   * @param emit receives the final sealed chunk
   */
  finish(emit: (sealed: Uint8Array) => void): void {
    if (this.#finished) throw new RangeError("payload encryptor already finished")
    this.#finished = true
    emit(sealChunk(this.#payloadKey, this.#counter++, this.#buffer.subarray(0, this.#filled), true))
    this.#buffer.fill(0)
  }
}

/**
 * Decrypts a payload (after the nonce) given in pieces, following the reference loop: a full
 * 65552-byte read is opened as non-final, then as final; a short read must be the final
 * chunk. Each chunk is released as soon as it authenticates and never before.
 */
export class PayloadDecryptor {
  readonly #payloadKey: Uint8Array
  readonly #buffer = new Uint8Array(ENCRYPTED_CHUNK_SIZE)
  #filled = 0
  #counter = 0
  #sawFinal = false
  #failed: PayloadError | null = null

  /** @param payloadKey from `derivePayloadKey` */
  constructor(payloadKey: Uint8Array) {
    this.#payloadKey = payloadKey
  }

  /**
   * Adds ciphertext.
   * @param emit receives each authenticated plaintext chunk, in order
   * @throws PayloadError on a chunk that fails to authenticate or on data after the final chunk
   */
  push(ciphertext: Uint8Array, emit: (plaintext: Uint8Array) => void): void {
    if (this.#failed !== null) throw this.#failed
    let offset = 0
    while (offset < ciphertext.length) {
      if (this.#sawFinal) {
        this.#fail(
          new PayloadError("trailing data after the final payload chunk", {
            hints: ["the file was modified or concatenated with other data"],
          }),
        )
      }
      if (this.#filled === 0 && ciphertext.length - offset >= ENCRYPTED_CHUNK_SIZE) {
        this.#openFull(ciphertext.subarray(offset, offset + ENCRYPTED_CHUNK_SIZE), emit)
        offset += ENCRYPTED_CHUNK_SIZE
        continue
      }
      const take = Math.min(ENCRYPTED_CHUNK_SIZE - this.#filled, ciphertext.length - offset)
      this.#buffer.set(ciphertext.subarray(offset, offset + take), this.#filled)
      this.#filled += take
      offset += take
      if (this.#filled === ENCRYPTED_CHUNK_SIZE) {
        this.#filled = 0
        this.#openFull(this.#buffer, emit)
      }
    }
  }

  /**
   * Ends the payload: a pending short read must be a valid final chunk.
   * @param emit receives the final plaintext chunk, if any is pending
   * @throws PayloadError when the payload is truncated or its final chunk is invalid
   */
  finish(emit: (plaintext: Uint8Array) => void): void {
    if (this.#failed !== null) throw this.#failed
    if (this.#filled === 0) {
      if (!this.#sawFinal) {
        this.#fail(
          new PayloadError("payload is truncated: no final chunk", {
            hints: ["the file was cut short; plaintext released so far is authentic"],
          }),
        )
      }
      return
    }
    const chunk = this.#buffer.subarray(0, this.#filled)
    this.#filled = 0
    if (chunk.length < TAG_SIZE) {
      this.#fail(new PayloadError("payload is truncated: final chunk shorter than its tag"))
    }
    if (chunk.length === TAG_SIZE && this.#counter > 0) {
      // spec: a final chunk may be empty only if it is the first (the file is empty)
      this.#fail(new PayloadError("payload final chunk is empty"))
    }
    const plaintext = openChunk(this.#payloadKey, this.#counter, chunk, true)
    if (plaintext === null) {
      this.#fail(
        new PayloadError(`payload chunk ${this.#counter} failed to authenticate`, {
          hints: ["the file is corrupted or truncated; plaintext released so far is authentic"],
        }),
      )
    }
    this.#counter++
    this.#sawFinal = true
    if (plaintext.length > 0) emit(plaintext)
  }

  /** Whether the final chunk was seen (the payload is complete). */
  get complete(): boolean {
    return this.#sawFinal && this.#filled === 0
  }

  #openFull(chunk: Uint8Array, emit: (plaintext: Uint8Array) => void): void {
    let plaintext = openChunk(this.#payloadKey, this.#counter, chunk, false)
    if (plaintext === null) {
      // spec: a full-size final chunk is allowed (plaintext a multiple of 64 KiB)
      plaintext = openChunk(this.#payloadKey, this.#counter, chunk, true)
      if (plaintext === null) {
        this.#fail(
          new PayloadError(`payload chunk ${this.#counter} failed to authenticate`, {
            hints: ["the file is corrupted; plaintext released so far is authentic"],
          }),
        )
      }
      this.#sawFinal = true
    }
    this.#counter++
    emit(plaintext)
  }

  #fail(error: PayloadError): never {
    this.#failed = error
    this.#buffer.fill(0)
    throw error
  }
}
