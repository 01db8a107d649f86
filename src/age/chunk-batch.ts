/**
 * STREAM chunks in batches (docs/formats/age.md "STREAM chunks"), pure functions of the
 * payload key: what the worker threads (`chunk-worker.ts`) and the calling thread run for
 * `parallel.ts` and `positional.ts`. A batch is a run of consecutive chunks in one
 * ArrayBuffer; sealing or opening it writes into a second ArrayBuffer (or, for
 * `sealChunks`, into a list of pieces for one vectored write).
 */
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from "node:crypto"
import type * as WorkerThreads from "node:worker_threads"
import { InternalError } from "../internal/errors.js"
import { PayloadError } from "./errors.js"
import { CHUNK_SIZE, ENCRYPTED_CHUNK_SIZE, TAG_SIZE } from "./payload.js"

/** Which way a batch goes. */
export type BatchKind = "seal" | "open"

/** A batch of consecutive chunks, as posted to a worker. */
export interface BatchJob {
  readonly id: number
  readonly kind: BatchKind
  /** Holds `length` bytes of plaintext (seal) or ciphertext (open). */
  readonly input: ArrayBuffer
  readonly length: number
  /** Receives the ciphertext (seal) or the authenticated plaintext (open). */
  readonly output: ArrayBuffer
  /** Counter of the batch's first chunk. */
  readonly counter: number
  /** Whether the batch ends the stream (its last chunk is the final chunk). */
  readonly final: boolean
}

/** Why a chunk of an opened batch was refused. */
export type ChunkFailure = "authentication" | "shorter-than-tag" | "empty-final"

/** What a worker sends back: the batch's buffers and what it wrote into `output`. */
export interface BatchResult {
  readonly id: number
  readonly input: ArrayBuffer
  readonly output: ArrayBuffer
  /** Bytes written to `output` (for open: plaintext of the chunks that authenticated). */
  readonly outputLength: number
  /** Open: chunks that authenticated, in order, before any failure or after the final one. */
  readonly chunks: number
  /** Open: whether the last authenticated chunk carried the final flag. */
  readonly sawFinal: boolean
  /** Open: the first chunk that failed, or null. */
  readonly failure: { readonly kind: ChunkFailure; readonly counter: number } | null
}

// Buffers returned by cipher.update are garbage after being copied into the batch. Left to
// the garbage collector they pile up to V8's 64 MiB external-memory soft limit per thread;
// transferring them to a closed port detaches them, which frees their memory at once.
let discardPort: WorkerThreads.MessagePort | null = null

function discardBuffer(bytes: Uint8Array): void {
  const buffer = bytes.buffer
  if (!(buffer instanceof ArrayBuffer) || bytes.byteOffset !== 0) return
  if (buffer.byteLength !== bytes.byteLength) return
  // only full chunks pile up; a short last chunk is not worth creating the channel for
  if (bytes.byteLength < CHUNK_SIZE) return
  if (discardPort === null) {
    const channel = new MessageChannel()
    channel.port2.close()
    channel.port1.close()
    discardPort = channel.port1
  }
  try {
    discardPort.postMessage(null, [buffer])
  } catch {
    // an untransferable buffer is left to the garbage collector
  }
}

function setChunkNonce(nonce: Buffer, counter: number, last: boolean): void {
  // 11-byte big-endian counter then the final flag; a safe integer fits in the low 7 bytes
  nonce.fill(0, 0, 5)
  nonce.writeUIntBE(Math.floor(counter / 2 ** 48), 2, 3)
  nonce.writeUIntBE(counter % 2 ** 48, 5, 6)
  nonce[11] = last ? 1 : 0
}

/**
 * Imports a payload key for `sealBatch`/`openBatch`.
 * @returns the key as a KeyObject (faster per chunk than raw bytes)
 */
export function importPayloadKey(payloadKey: Uint8Array): KeyObject {
  if (payloadKey.length !== 32) throw new InternalError("payload key must be 32 bytes")
  return createSecretKey(payloadKey)
}

/**
 * Seals `job.length` plaintext bytes of `job.input` into `job.output` as consecutive chunks.
 * A batch that does not end the stream must hold whole chunks.
 * @returns the batch's buffers and the ciphertext length
 * @throws InternalError on a malformed batch
 */
export function sealBatch(key: KeyObject, job: BatchJob): BatchResult {
  const input = new Uint8Array(job.input, 0, job.length)
  const output = new Uint8Array(job.output)
  if (!job.final && (job.length === 0 || job.length % CHUNK_SIZE !== 0)) {
    throw new InternalError("a batch that does not end the payload must hold whole chunks")
  }
  // spec: an empty plaintext is one empty final chunk; never append an empty chunk
  const chunks = Math.max(1, Math.ceil(job.length / CHUNK_SIZE))
  if (output.length < job.length + chunks * TAG_SIZE) {
    throw new InternalError("batch output buffer too small")
  }
  const nonce = Buffer.alloc(12)
  let offset = 0
  for (let i = 0; i < chunks; i++) {
    const start = i * CHUNK_SIZE
    setChunkNonce(nonce, job.counter + i, job.final && i === chunks - 1)
    const cipher = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: TAG_SIZE })
    const body = cipher.update(input.subarray(start, Math.min(start + CHUNK_SIZE, job.length)))
    cipher.final()
    output.set(body, offset)
    offset += body.length
    discardBuffer(body)
    output.set(cipher.getAuthTag(), offset)
    offset += TAG_SIZE
  }
  return {
    id: job.id,
    input: job.input,
    output: job.output,
    outputLength: offset,
    chunks,
    sawFinal: job.final,
    failure: null,
  }
}

function openChunkInto(
  key: KeyObject,
  nonce: Buffer,
  ciphertext: Uint8Array,
  output: Uint8Array,
  offset: number,
): boolean {
  const split = ciphertext.length - TAG_SIZE
  const decipher = createDecipheriv("chacha20-poly1305", key, nonce, { authTagLength: TAG_SIZE })
  decipher.setAuthTag(ciphertext.subarray(split))
  const body = decipher.update(ciphertext.subarray(0, split))
  try {
    decipher.final()
  } catch {
    // the tag did not verify: nothing from this chunk may be released
    body.fill(0)
    discardBuffer(body)
    return false
  }
  output.set(body, offset)
  discardBuffer(body)
  return true
}

/**
 * Opens the chunks of `job.input` into `job.output`, in order, stopping at the first chunk
 * that fails or at the first final chunk, as the reference loop does: a full chunk is tried
 * as non-final, then as final; a short chunk (only at the end of the stream) must be final.
 * @returns the batch's buffers, the authenticated plaintext length and chunk count, and the
 *   first failure
 * @throws InternalError on a malformed batch
 */
export function openBatch(key: KeyObject, job: BatchJob): BatchResult {
  const input = new Uint8Array(job.input, 0, job.length)
  const output = new Uint8Array(job.output)
  const chunks = Math.ceil(job.length / ENCRYPTED_CHUNK_SIZE)
  if (!job.final && job.length % ENCRYPTED_CHUNK_SIZE !== 0) {
    throw new InternalError("a batch that does not end the payload must hold whole chunks")
  }
  if (output.length < chunks * CHUNK_SIZE) throw new InternalError("batch output too small")
  const nonce = Buffer.alloc(12)
  let opened = 0
  let offset = 0
  let sawFinal = false
  let failure: BatchResult["failure"] = null
  for (let i = 0; i < chunks && !sawFinal; i++) {
    const start = i * ENCRYPTED_CHUNK_SIZE
    const chunk = input.subarray(start, Math.min(start + ENCRYPTED_CHUNK_SIZE, job.length))
    const counter = job.counter + i
    if (chunk.length === ENCRYPTED_CHUNK_SIZE) {
      setChunkNonce(nonce, counter, false)
      if (!openChunkInto(key, nonce, chunk, output, offset)) {
        // spec: a full-size final chunk is allowed (plaintext a multiple of 64 KiB)
        setChunkNonce(nonce, counter, true)
        if (!openChunkInto(key, nonce, chunk, output, offset)) {
          failure = { kind: "authentication", counter }
          break
        }
        sawFinal = true
      }
    } else {
      // a short read can only be the end of the stream, so it must be the final chunk
      if (chunk.length < TAG_SIZE) {
        failure = { kind: "shorter-than-tag", counter }
        break
      }
      if (chunk.length === TAG_SIZE && counter > 0) {
        // spec: a final chunk may be empty only if it is the first (the file is empty)
        failure = { kind: "empty-final", counter }
        break
      }
      setChunkNonce(nonce, counter, true)
      if (!openChunkInto(key, nonce, chunk, output, offset)) {
        failure = { kind: "authentication", counter }
        break
      }
      sawFinal = true
    }
    opened++
    offset += chunk.length - TAG_SIZE
  }
  return {
    id: job.id,
    input: job.input,
    output: job.output,
    outputLength: offset,
    chunks: opened,
    sawFinal,
    failure,
  }
}

/**
 * Seals `input` (at most `chunks` × 64 KiB, whole chunks unless `final`) as consecutive chunks
 * from `counter`, the last one final if `final`, into pieces (ciphertext and tag of each
 * chunk, in order) for one vectored write: no copy into a batch buffer.
 * @returns the pieces; `releaseSealedPieces` frees them once written
 * @throws InternalError on a malformed batch
 */
export function sealChunks(
  key: KeyObject,
  input: Uint8Array,
  counter: number,
  final: boolean,
): Uint8Array[] {
  if (!final && (input.length === 0 || input.length % CHUNK_SIZE !== 0)) {
    throw new InternalError("a batch that does not end the payload must hold whole chunks")
  }
  // spec: an empty plaintext is one empty final chunk; never append an empty chunk
  const chunks = Math.max(1, Math.ceil(input.length / CHUNK_SIZE))
  const nonce = Buffer.alloc(12)
  const pieces: Uint8Array[] = []
  for (let i = 0; i < chunks; i++) {
    const start = i * CHUNK_SIZE
    setChunkNonce(nonce, counter + i, final && i === chunks - 1)
    const cipher = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: TAG_SIZE })
    pieces.push(cipher.update(input.subarray(start, Math.min(start + CHUNK_SIZE, input.length))))
    cipher.final()
    pieces.push(cipher.getAuthTag())
  }
  return pieces
}

/** Frees the pieces `sealChunks` returned, once they are written (see `discardBuffer`). */
export function releaseSealedPieces(pieces: readonly Uint8Array[]): void {
  for (const piece of pieces) discardBuffer(piece)
}

/** The error a refused chunk becomes; the same wording as `PayloadDecryptor`. */
function chunkError(failure: NonNullable<BatchResult["failure"]>, final: boolean): PayloadError {
  switch (failure.kind) {
    case "shorter-than-tag":
      return new PayloadError("payload is truncated: final chunk shorter than its tag")
    case "empty-final":
      return new PayloadError("payload final chunk is empty")
    case "authentication":
      return new PayloadError(`payload chunk ${failure.counter} failed to authenticate`, {
        hints: [
          final
            ? "the file is corrupted or truncated; plaintext released so far is authentic"
            : "the file is corrupted; plaintext released so far is authentic",
        ],
      })
    default: {
      const never: never = failure.kind
      throw new InternalError(`unknown chunk failure ${String(never)}`)
    }
  }
}

/** What `openedBatchError` needs to know of an opened batch. */
export type OpenedBatch = Pick<BatchResult, "chunks" | "sawFinal" | "failure">

/**
 * Judges an opened batch as the reference decryption loop would, once its authenticated
 * plaintext (`outputLength` bytes) has been released: a chunk that failed, data after the
 * final chunk, or a stream that ends without one.
 * @param job the batch as it was opened (`final`: it ends what there is to read)
 * @param endsBeforeError the batch ends what was read before a source error, so nothing
 *   follows a final chunk it holds
 * @returns the error to report, or null when reading may go on
 */
export function openedBatchError(
  job: Pick<BatchJob, "final" | "length">,
  result: OpenedBatch,
  endsBeforeError = false,
): PayloadError | null {
  if (result.failure !== null) return chunkError(result.failure, job.final)
  const batchChunks = Math.ceil(job.length / ENCRYPTED_CHUNK_SIZE)
  const allRead = endsBeforeError && result.chunks === batchChunks
  if (result.sawFinal && (!job.final || result.chunks < batchChunks) && !allRead) {
    return new PayloadError("trailing data after the final payload chunk", {
      hints: ["the file was modified or concatenated with other data"],
    })
  }
  if (job.final && !result.sawFinal) {
    return new PayloadError("payload is truncated: no final chunk", {
      hints: ["the file was cut short; plaintext released so far is authentic"],
    })
  }
  return null
}
