/**
 * The age STREAM payload (docs/formats/age.md "STREAM chunks") for large inputs: chunks are
 * independent given the payload key and their counter, so batches of chunks are sealed or
 * opened on worker threads (`chunk-worker.ts`) while the main thread only reads and writes.
 *
 * Memory stays flat: a fixed pool of batch buffers circulates between reader, workers and
 * writer (ArrayBuffers are transferred, never copied), so a bounded number of batches is in
 * flight whatever the input size. Output keeps input order. On decryption a batch is written
 * only up to its first chunk that fails to authenticate, so exactly the authenticated prefix
 * is released, as `PayloadDecryptor` does (docs/formats/age.md "Decrypting chunk by chunk").
 *
 * Small inputs never start a worker: batches are processed on the main thread until
 * `parallelThreshold` bytes have been read, and until the workers report ready.
 *
 * When both ends are regular files (`ByteSource.file`, `ByteSink.file`) and the payload is
 * large, `positional.ts` runs it instead: each thread reads and writes its own batches by
 * position, with the same bytes, released plaintext and errors.
 */
import { read, write } from "node:fs"
import { createRequire } from "node:module"
import { availableParallelism } from "node:os"
import type * as WorkerThreads from "node:worker_threads"
import { wipeBytes } from "../internal/bytes.js"
import { InternalError, IoError } from "../internal/errors.js"
import { ArmorDecoder, ArmorEncoder, detectArmor, encodeArmor } from "./armor.js"
import {
  type BatchJob,
  type BatchKind,
  type BatchResult,
  importPayloadKey,
  openBatch,
  openedBatchError,
  sealBatch,
} from "./chunk-batch.js"
import type { ChunkWorkerData } from "./chunk-worker.js"
import {
  type DecryptStreamOptions,
  type IdentitySource,
  decryptStream,
  unwrapHeader,
} from "./decrypt.js"
import { type EncryptOptions, prepareEncryption } from "./encrypt.js"
import { HeaderError } from "./errors.js"
import { HeaderParser } from "./header.js"
import {
  CHUNK_SIZE,
  ENCRYPTED_CHUNK_SIZE,
  PAYLOAD_NONCE_SIZE,
  derivePayloadKey,
} from "./payload.js"
import { type FileRegion, type FileTarget, runPositional } from "./positional.js"
import type { Recipient } from "./recipient.js"

/** Where payload bytes come from: `read` fills the start of `into`, resolving to 0 at the end. */
export interface ByteSource {
  read(into: Uint8Array): Promise<number>
  /**
   * Set when the bytes `read` yields are those of a regular file, from `file.start` to its
   * size when it was opened: a large payload is then read by position (see positional.ts).
   */
  readonly file?: FileRegion
}

/** Where payload bytes go: `bytes` may be reused as soon as `write` resolves. */
export interface ByteSink {
  write(bytes: Uint8Array): Promise<void>
  /**
   * Set when the bytes go to a regular file of the caller's own: where the next byte would
   * go, for writes by position from worker threads (asked once every earlier write has
   * resolved), or null when the file can't be written that way.
   */
  file?(): FileTarget | null
}

/** Tuning for `sealPayload` and `openPayload`; the defaults suit a 2-core machine. */
export interface ParallelOptions {
  /** Worker threads to use (0 processes everything on the calling thread). */
  readonly workers?: number
  /** Chunks per batch handed to a worker (32 chunks = 2 MiB; fewer messages per byte). */
  readonly chunksPerBatch?: number
  /** Batches being read, processed or written at once (bounds memory). */
  readonly batchesInFlight?: number
  /** Bytes to read before starting workers; smaller inputs stay on the calling thread. */
  readonly parallelThreshold?: number
  /** Chunks per batch when both ends are regular files (see positional.ts). */
  readonly positionalChunksPerBatch?: number
  /** Told where each batch ran (for tests and the benchmark). */
  readonly onBatch?: (where: "inline" | "worker") => void
}

const DEFAULT_CHUNKS_PER_BATCH = 32
const DEFAULT_BATCHES_IN_FLIGHT = 3
const DEFAULT_PARALLEL_THRESHOLD = 16 * 1024 * 1024
// small batches keep each thread's buffers in its core's cache (256 KiB read, 256 KiB written)
const DEFAULT_POSITIONAL_CHUNKS_PER_BATCH = 4

/** A tiny async FIFO: `shift` waits for an item, or resolves null once closed and drained. */
interface AsyncQueue<T> {
  push(item: T): void
  shift(): Promise<T | null>
  close(): void
}

function createQueue<T>(): AsyncQueue<T> {
  const items: T[] = []
  const waiters: ((item: T | null) => void)[] = []
  let closed = false
  return {
    push(item) {
      const waiter = waiters.shift()
      if (waiter === undefined) items.push(item)
      else waiter(item)
    },
    shift() {
      if (items.length > 0) return Promise.resolve(items.shift() ?? null)
      if (closed) return Promise.resolve(null)
      return new Promise((resolve) => waiters.push(resolve))
    },
    close() {
      closed = true
      for (const waiter of waiters.splice(0)) waiter(null)
    },
  }
}

/** Runs batches: on the calling thread until workers are up, then on the least busy worker. */
interface BatchRunner {
  run(job: BatchJob): Promise<BatchResult>
  startWorkers(): void
  close(): Promise<void>
}

/** The compiled worker entry, beside this file in dist/src/age/ and in dist/bundle/. */
const workerUrl = (): URL => new URL("./chunk-worker.js", import.meta.url)

function createBatchRunner(
  payloadKey: Uint8Array,
  workerCount: () => number,
  onBatch: ParallelOptions["onBatch"],
): BatchRunner {
  const key = importPayloadKey(payloadKey)
  interface Slot {
    readonly worker: WorkerThreads.Worker
    ready: boolean
    readonly pending: Map<number, (result: BatchResult) => void>
  }
  const slots: Slot[] = []
  let failure: Error | null = null
  let failed: (error: Error) => void = () => undefined
  const failedPromise = new Promise<never>((_, reject) => {
    failed = reject
  })
  // a rejection nobody awaits must not crash the process; run() re-raises it
  failedPromise.catch(() => undefined)

  function fail(error: Error): void {
    if (failure !== null) return
    failure = error
    failed(error)
  }

  function runInline(job: BatchJob): Promise<BatchResult> {
    try {
      return Promise.resolve(job.kind === "seal" ? sealBatch(key, job) : openBatch(key, job))
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new InternalError(String(error)))
    }
  }

  return {
    startWorkers() {
      if (slots.length > 0) return
      // loaded here, not at the top: most inputs are small and never start a worker
      const threads = createRequire(import.meta.url)("node:worker_threads") as typeof WorkerThreads
      for (let i = 0, n = workerCount(); i < n; i++) {
        const data: ChunkWorkerData = { cofferChunkWorker: true, payloadKey }
        const worker = new threads.Worker(workerUrl(), {
          workerData: data,
          // not piped to ours: that would create process.stdout, which makes a pipe on
          // descriptor 1 non-blocking under the command's direct writes (cli/files.ts)
          stdout: true,
          stderr: true,
        })
        const slot: Slot = { worker, ready: false, pending: new Map() }
        worker.on("message", (message: BatchResult | "ready") => {
          if (message === "ready") {
            slot.ready = true
            return
          }
          const resolve = slot.pending.get(message.id)
          slot.pending.delete(message.id)
          resolve?.(message)
        })
        worker.on("error", (error) => {
          fail(new InternalError("payload worker thread failed", { cause: error }))
        })
        worker.on("exit", (code) => {
          if (slot.pending.size > 0) {
            fail(new InternalError(`payload worker thread exited with code ${code}`))
          }
        })
        slots.push(slot)
      }
    },
    run(job) {
      if (failure !== null) return Promise.reject(failure)
      let best: Slot | null = null
      for (const slot of slots) {
        if (slot.ready && (best === null || slot.pending.size < best.pending.size)) best = slot
      }
      onBatch?.(best === null ? "inline" : "worker")
      if (best === null) return runInline(job)
      const slot = best
      const done = new Promise<BatchResult>((resolve) => slot.pending.set(job.id, resolve))
      slot.worker.postMessage(job, [job.input, job.output])
      return Promise.race([done, failedPromise])
    },
    async close() {
      const all = slots.splice(0)
      for (const slot of all) slot.pending.clear()
      await Promise.all(all.map((slot) => slot.worker.terminate()))
    },
  }
}

/**
 * Fills `into` from `source` until it is full or the source ends.
 * @param progress counts the bytes read so far, also when a read then fails
 */
async function readFull(
  source: ByteSource,
  into: Uint8Array,
  progress: { filled: number },
): Promise<void> {
  while (progress.filled < into.length) {
    const n = await source.read(into.subarray(progress.filled))
    if (n === 0) break
    progress.filled += n
  }
}

interface Buffers {
  readonly input: ArrayBuffer
  readonly output: ArrayBuffer
}

/** A batch on its way to the writer, or (with `sourceError`) the source's failure after them. */
type Dispatched =
  | {
      readonly job: BatchJob
      readonly result: Promise<BatchResult>
      /** Set on the last batch before a source error; `leftover`: bytes followed it. */
      readonly beforeSourceError: { readonly leftover: boolean } | null
      readonly sourceError: null
    }
  | {
      readonly job: null
      readonly result: null
      readonly beforeSourceError: null
      readonly sourceError: { readonly error: unknown }
    }

async function runPayload(
  kind: BatchKind,
  payloadKey: Uint8Array,
  source: ByteSource,
  sink: ByteSink,
  options: ParallelOptions,
): Promise<void> {
  const chunksPerBatch = Math.max(1, options.chunksPerBatch ?? DEFAULT_CHUNKS_PER_BATCH)
  const inFlight = Math.max(1, options.batchesInFlight ?? DEFAULT_BATCHES_IN_FLIGHT)
  // node:os is loaded only for inputs large enough to use workers
  const workerCount = (): number =>
    Math.max(0, options.workers ?? Math.min(2, availableParallelism()))
  const threshold = options.parallelThreshold ?? DEFAULT_PARALLEL_THRESHOLD
  const inputSize = chunksPerBatch * (kind === "seal" ? CHUNK_SIZE : ENCRYPTED_CHUNK_SIZE)
  const outputSize = chunksPerBatch * (kind === "seal" ? ENCRYPTED_CHUNK_SIZE : CHUNK_SIZE)

  // file to file: every thread reads, processes and writes its own batches by position
  if (source.file !== undefined && source.file.size >= threshold && workerCount() > 0) {
    const target = sink.file?.() ?? null
    if (target !== null) {
      await runPositional(kind, payloadKey, source.file, target, {
        workers: workerCount(),
        chunksPerBatch: options.positionalChunksPerBatch ?? DEFAULT_POSITIONAL_CHUNKS_PER_BATCH,
        onBatch: options.onBatch,
      })
      return
    }
  }

  const runner = createBatchRunner(payloadKey, workerCount, options.onBatch)
  // one more set of buffers than batches in flight: the reader holds one back until it knows
  // whether the batch ends the stream
  const free = createQueue<Buffers>()
  for (let i = 0; i <= inFlight; i++) {
    free.push({ input: new ArrayBuffer(inputSize), output: new ArrayBuffer(outputSize) })
  }
  const dispatched = createQueue<Dispatched>()
  let stopped = false
  // a function, so that checks after an await are not narrowed away
  const isStopped = (): boolean => stopped

  function stop(): void {
    stopped = true
    free.close()
    dispatched.close()
  }

  async function readAll(): Promise<void> {
    let id = 0
    let counter = 0
    let bytesRead = 0
    let held: { buffers: Buffers; length: number } | null = null
    const dispatch = (
      buffers: Buffers,
      length: number,
      final: boolean,
      beforeSourceError: Dispatched["beforeSourceError"] = null,
    ): void => {
      const chunkSize = kind === "seal" ? CHUNK_SIZE : ENCRYPTED_CHUNK_SIZE
      const job: BatchJob = { id: id++, kind, ...buffers, length, counter, final }
      counter += Math.max(1, Math.ceil(length / chunkSize))
      const result = runner.run(job)
      // the writer awaits results in order; until then a failure must not count as unhandled
      result.catch(() => undefined)
      dispatched.push({ job, result, beforeSourceError, sourceError: null })
    }
    for (;;) {
      const buffers = await free.shift()
      if (buffers === null || isStopped()) return
      const progress = { filled: 0 }
      let sourceError: { readonly error: unknown } | null = null
      try {
        await readFull(source, new Uint8Array(buffers.input), progress)
      } catch (error) {
        if (kind === "seal") throw error
        sourceError = { error }
      }
      if (isStopped()) return
      const length = progress.filled
      if (sourceError !== null) {
        // As PayloadDecryptor fed up to a failing source (an armor error, say): every whole
        // chunk read before the failure is opened and released, as not known to be final;
        // then the failure is reported, unless a chunk failed first.
        const whole = length - (length % ENCRYPTED_CHUNK_SIZE)
        if (held !== null) {
          dispatch(held.buffers, held.length, false, length === 0 ? { leftover: false } : null)
        }
        if (whole > 0) dispatch(buffers, whole, false, { leftover: length > whole })
        else free.push(buffers)
        dispatched.push({ job: null, result: null, beforeSourceError: null, sourceError })
        dispatched.close()
        return
      }
      bytesRead += length
      const ended = length < inputSize
      if (held !== null) dispatch(held.buffers, held.length, ended && length === 0)
      if (length === 0) {
        // an empty stream still has one (empty, final) chunk; an empty payload to open has
        // none, which the writer reports as truncated
        if (held === null) dispatch(buffers, 0, true)
        else free.push(buffers)
        dispatched.close()
        return
      }
      if (ended) {
        dispatch(buffers, length, true)
        dispatched.close()
        return
      }
      held = { buffers, length }
      if (bytesRead >= threshold && workerCount() > 0) runner.startWorkers()
    }
  }

  async function writeAll(): Promise<void> {
    for (;;) {
      const item = await dispatched.shift()
      if (item === null || isStopped()) return
      if (item.sourceError !== null) throw item.sourceError.error
      const result = await item.result
      if (isStopped()) return
      if (result.outputLength > 0) {
        await sink.write(new Uint8Array(result.output, 0, result.outputLength))
      }
      if (kind === "open") {
        // a final chunk that ends what was read before a source error is followed by nothing
        const endsBeforeError = item.beforeSourceError !== null && !item.beforeSourceError.leftover
        const error = openedBatchError(item.job, result, endsBeforeError)
        if (error !== null) throw error
      }
      free.push({ input: result.input, output: result.output })
    }
  }

  const guard = async (step: () => Promise<void>): Promise<void> => {
    try {
      await step()
    } catch (error) {
      stop()
      throw error
    }
  }
  try {
    const outcomes = await Promise.allSettled([guard(readAll), guard(writeAll)])
    for (const outcome of outcomes) {
      if (outcome.status === "rejected") throw outcome.reason
    }
  } finally {
    stop()
    await runner.close()
  }
}

/**
 * Encrypts a whole payload (after the header and nonce) from `source` to `sink`: 64 KiB
 * chunks, the last one final (docs/formats/age.md "STREAM chunks").
 * @param payloadKey from `derivePayloadKey`
 * @throws InternalError if a worker thread fails; errors of `source` and `sink` as they are
 */
export function sealPayload(
  payloadKey: Uint8Array,
  source: ByteSource,
  sink: ByteSink,
  options: ParallelOptions = {},
): Promise<void> {
  return runPayload("seal", payloadKey, source, sink, options)
}

/**
 * Decrypts a whole payload (after the nonce) from `source` to `sink`, writing each chunk only
 * after it authenticates, in order, and nothing after the first failure.
 * @param payloadKey from `derivePayloadKey`
 * @throws PayloadError when a chunk fails to authenticate, the payload is truncated, or data
 *   follows the final chunk (the authenticated plaintext before it has been written)
 * @throws InternalError if a worker thread fails
 */
export function openPayload(
  payloadKey: Uint8Array,
  source: ByteSource,
  sink: ByteSink,
  options: ParallelOptions = {},
): Promise<void> {
  return runPayload("open", payloadKey, source, sink, options)
}

/**
 * A source that yields `prefix` first (bytes already read past the header), then `rest`.
 * @returns the combined source
 */
export function prefixedSource(prefix: Uint8Array, rest: ByteSource): ByteSource {
  let pending = prefix
  return {
    read(into) {
      if (pending.length === 0) return rest.read(into)
      const n = Math.min(into.length, pending.length)
      into.set(pending.subarray(0, n))
      pending = pending.subarray(n)
      return Promise.resolve(n)
    },
  }
}

function isRetryable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return code === "EAGAIN" || code === "EWOULDBLOCK"
}

/** Waits before retrying a non-blocking descriptor: 1 ms, doubling up to 16 ms. */
function backoff(): () => Promise<void> {
  let delay = 1
  return () =>
    new Promise((resolve) => {
      setTimeout(resolve, delay)
      delay = Math.min(delay * 2, 16)
    })
}

/**
 * A source reading an open file descriptor with large `fs.read` calls on libuv's thread pool,
 * straight into the caller's buffers (no per-read garbage). A non-blocking pipe that has no
 * data yet (standard input once Node has opened it) is polled with a growing delay.
 * @param name the path or "standard input", for error messages
 * @returns the source; reads reject with IoError
 */
export function fdSource(fd: number, name: string): ByteSource {
  return {
    async read(into) {
      const wait = backoff()
      for (;;) {
        try {
          return await new Promise<number>((resolve, reject) => {
            read(fd, into, 0, into.length, null, (error, n) => {
              if (error === null) resolve(n)
              else reject(error)
            })
          })
        } catch (error) {
          if (isRetryable(error)) {
            await wait()
            continue
          }
          throw new IoError(`cannot read ${name}: ${(error as Error).message}`, { cause: error })
        }
      }
    },
  }
}

/**
 * A sink writing to an open file descriptor with `fs.write`, until every byte is written.
 * @param name the path or "standard output", for error messages
 * @returns the sink; writes reject with IoError
 */
export function fdSink(fd: number, name: string): ByteSink {
  return {
    async write(bytes) {
      const wait = backoff()
      let offset = 0
      while (offset < bytes.length) {
        try {
          offset += await new Promise<number>((resolve, reject) => {
            write(fd, bytes, offset, bytes.length - offset, null, (error, n) => {
              if (error === null) resolve(n)
              else reject(error)
            })
          })
        } catch (error) {
          if (isRetryable(error)) {
            await wait()
            continue
          }
          throw new IoError(`cannot write ${name}: ${(error as Error).message}`, { cause: error })
        }
      }
    },
  }
}

/**
 * A source reading a Web stream (standard input, say), copying its pieces into the caller's
 * buffers.
 * @returns the source
 */
export function streamSource(stream: ReadableStream<Uint8Array>): ByteSource {
  const reader = stream.getReader()
  let pending: Uint8Array = new Uint8Array(0)
  return {
    async read(into) {
      while (pending.length === 0) {
        const next = await reader.read()
        if (next.done) return 0
        pending = next.value
      }
      const n = Math.min(into.length, pending.length)
      into.set(pending.subarray(0, n))
      pending = pending.subarray(n)
      return n
    },
  }
}

const HEADER_READ_SIZE = 64 * 1024

const emptySource: ByteSource = { read: () => Promise.resolve(0) }

/** Pieces of a source as a Web stream (for the single-threaded fallback). */
function sourceStream(source: ByteSource): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const piece = new Uint8Array(HEADER_READ_SIZE)
      const n = await source.read(piece)
      if (n === 0) controller.close()
      else controller.enqueue(piece.subarray(0, n))
    },
  })
}

/** Options for `encryptFile`. */
export interface EncryptFileOptions extends EncryptOptions, ParallelOptions {}

/**
 * Encrypts an age file from `source` to `sink` (binary, or armored with `armor`): the
 * header once the recipients have wrapped the file key, then the payload through
 * `sealPayload`. The same bytes as `encryptStream`, faster for large inputs.
 * @throws IncompatibleRecipientsError, RecipientParseError, or what a recipient throws (see
 *   `prepareEncryption`); errors of `source` and `sink` as they are
 */
export async function encryptFile(
  source: ByteSource,
  sink: ByteSink,
  recipients: readonly Recipient[],
  options: EncryptFileOptions = {},
): Promise<void> {
  const { prefix, payloadKey } = await prepareEncryption(recipients, options.entropy)
  try {
    if (options.armor !== true) {
      await sink.write(prefix)
      await sealPayload(payloadKey, source, sink, options)
      return
    }
    const armor = new ArmorEncoder()
    const flush = async (step: (emit: (text: Uint8Array) => void) => void): Promise<void> => {
      const parts: Uint8Array[] = []
      step((text) => {
        parts.push(text)
      })
      for (const part of parts) await sink.write(part)
    }
    const armored: ByteSink = {
      write: (bytes) =>
        flush((emit) => {
          armor.push(bytes, emit)
        }),
    }
    await armored.write(prefix)
    await sealPayload(payloadKey, source, armored, options)
    await flush((emit) => {
      armor.finish(emit)
    })
  } finally {
    wipeBytes(payloadKey)
  }
}

/** Options for `decryptFile`. */
export interface DecryptFileOptions extends DecryptStreamOptions, ParallelOptions {}

/** Raw armored bytes read at once by `dearmoredSource` (decoding about 750 KiB). */
const ARMOR_READ_SIZE = 1024 * 1024

/**
 * The binary age file inside an armored one, de-armored as it is read (strictly, with
 * `ArmorDecoder`). As in `decryptStream`, the bytes decoded before an armor error are still
 * returned; the read after them rejects with the ArmorError.
 * @param armored the armored bytes, from their first byte
 * @returns the source; reads reject with ArmorError, or with what `armored` rejects with
 */
export function dearmoredSource(armored: ByteSource): ByteSource {
  const decoder = new ArmorDecoder()
  const raw = new Uint8Array(ARMOR_READ_SIZE)
  const decoded: Uint8Array[] = []
  let failure: { readonly error: unknown } | null = null
  let ended = false
  return {
    async read(into) {
      let next = decoded[0]
      while (next === undefined) {
        if (failure !== null) throw failure.error
        if (ended) return 0
        const n = await armored.read(raw)
        const emit = (binary: Uint8Array): void => {
          if (binary.length > 0) decoded.push(binary)
        }
        try {
          if (n === 0) {
            ended = true
            decoder.finish(emit)
          } else {
            decoder.push(raw.subarray(0, n), emit)
          }
        } catch (error) {
          failure = { error }
        }
        next = decoded[0]
      }
      const n = Math.min(into.length, next.length)
      into.set(next.subarray(0, n))
      if (n === next.length) decoded.shift()
      else decoded[0] = next.subarray(n)
      return n
    },
  }
}

/**
 * Decrypts an age file from `source` to `sink`, with the semantics of `decryptStream`: the
 * payload of a binary or armored file goes through `openPayload` (an armored one de-armored
 * on the way by `dearmoredSource`); a file that ends before its header does goes through
 * `decryptStream` itself (which then reports it).
 * @throws ArmorError, HeaderError, NoIdentityMatchError, HeaderMacError, PayloadError (the
 *   authenticated plaintext before a payload failure has been written); errors of `source`
 *   and `sink` as they are
 */
export async function decryptFile(
  file: ByteSource,
  sink: ByteSink,
  identities: IdentitySource,
  options: DecryptFileOptions = {},
): Promise<void> {
  let source = file
  let buffered = new Uint8Array(0)
  // buffered is a view of storage, which doubles when it is full (copying the whole header
  // for every piece read would be quadratic in its size)
  let storage = new Uint8Array(0)
  let ended = false
  // a function, so that checks after an await are not narrowed away
  const atEnd = (): boolean => ended
  const readMore = async (): Promise<void> => {
    const piece = new Uint8Array(HEADER_READ_SIZE)
    const n = await source.read(piece)
    if (n === 0) {
      ended = true
      return
    }
    const length = buffered.length
    if (length + n > storage.length) {
      const grown = new Uint8Array(Math.max(2 * storage.length, length + n))
      grown.set(buffered)
      storage = grown
    }
    storage.set(piece.subarray(0, n), length)
    buffered = storage.subarray(0, length + n)
  }
  const fallback = async (): Promise<void> => {
    // the bytes of an armored file are decoded by now: give decryptStream them armored again
    // (canonical armor of the same bytes reaches the same verdict; it never needs the rest)
    const rest = atEnd() || armored === true ? { read: () => Promise.resolve(0) } : source
    const start = armored === true ? encodeArmor(buffered) : buffered
    const output = sourceStream(prefixedSource(start, rest)).pipeThrough(
      decryptStream(identities, options),
    )
    for await (const plaintext of output) await sink.write(plaintext)
  }

  let armored = detectArmor(buffered, false)
  while (armored === null) {
    await readMore()
    armored = detectArmor(buffered, atEnd())
  }
  if (armored) {
    source = dearmoredSource(prefixedSource(buffered, atEnd() ? emptySource : source))
    buffered = new Uint8Array(0)
    storage = new Uint8Array(0)
    ended = false
    await readMore()
  }
  // the parser resumes where it stopped, and refuses a header over the size limit itself
  const parser = new HeaderParser(options)
  let header = parser.parse(buffered)
  while (header === null) {
    if (atEnd()) return fallback()
    await readMore()
    header = parser.parse(buffered)
  }
  const fileKey = await unwrapHeader(header, identities, armored)
  const payloadStart = header.headerLength + PAYLOAD_NONCE_SIZE
  try {
    while (buffered.length < payloadStart && !atEnd()) await readMore()
  } catch (error) {
    wipeBytes(fileKey)
    throw error
  }
  if (buffered.length < payloadStart) {
    wipeBytes(fileKey)
    // the same error as decryptStream's
    throw new HeaderError("payload nonce is missing or short", {
      hints: ["the file was cut short right after its header"],
    })
  }
  const payloadKey = derivePayloadKey(fileKey, buffered.subarray(header.headerLength, payloadStart))
  wipeBytes(fileKey)
  try {
    const rest = atEnd() ? emptySource : source
    const payload = prefixedSource(buffered.subarray(payloadStart), rest)
    // a binary file read from its start: the payload is the rest of it, by position
    const region = file.file
    const whole =
      armored || region === undefined || region.size < payloadStart
        ? payload
        : {
            read: (into: Uint8Array) => payload.read(into),
            file: {
              ...region,
              start: region.start + payloadStart,
              size: region.size - payloadStart,
            },
          }
    await openPayload(payloadKey, whole, sink, options)
  } finally {
    wipeBytes(payloadKey)
  }
}
