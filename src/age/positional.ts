/**
 * The age STREAM payload (docs/formats/age.md "STREAM chunks") from one regular file to
 * another, by position. With both sizes known, every batch of chunks has a fixed place in
 * the input and in the output, so each thread (the worker threads, and the calling thread
 * until they are up) claims the next batch from a shared counter, reads it with pread,
 * seals or opens it on its own core, and writes it with pwrite. Threads share nothing but a
 * few counters: no buffer is copied or transferred between them, and each one's buffers
 * stay in its cache.
 *
 * Decryption still releases plaintext strictly in order: a batch is written only once every
 * earlier batch has authenticated and been written (a shared frontier), so the file never
 * holds a byte that follows a chunk that failed. After a failure every thread stops, and
 * the file holds exactly the authenticated prefix, as with `openPayload`; an existing output
 * file keeps its content until the first plaintext is released.
 *
 * Used by `sealPayload` and `openPayload` when both ends are regular files
 * (`ByteSource.file` and `ByteSink.file`).
 */
import type { KeyObject } from "node:crypto"
import { ftruncateSync, readSync, writevSync } from "node:fs"
import { createRequire } from "node:module"
import type * as WorkerThreads from "node:worker_threads"
import { InternalError, IoError } from "../internal/errors.js"
import {
  type BatchJob,
  type BatchKind,
  type OpenedBatch,
  importPayloadKey,
  openBatch,
  openedBatchError,
  releaseSealedPieces,
  sealChunks,
} from "./chunk-batch.js"
import { CHUNK_SIZE, ENCRYPTED_CHUNK_SIZE } from "./payload.js"

/** The bytes of a regular file from `start`, `size` of them (its end when it was opened). */
export interface FileRegion {
  readonly fd: number
  readonly start: number
  readonly size: number
  /** The path (quoted) or "standard input", for messages. */
  readonly name: string
}

/** Where to write in a regular file: from `start` on. */
export interface FileTarget {
  readonly fd: number
  readonly start: number
  readonly name: string
  /**
   * Cut the file at `start` just before the first bytes are released (decryption into a
   * file opened without truncating it: its old content stays until there is plaintext).
   */
  readonly truncateOnFirstWrite: boolean
}

/** One payload to seal or open by position; `control` is shared by every thread. */
export interface PositionalTask {
  readonly kind: BatchKind
  readonly input: FileRegion
  readonly output: FileTarget
  readonly chunksPerBatch: number
  readonly control: SharedArrayBuffer
}

// The Int32 slots of `control`.
/** The next batch to claim. */
const SLOT_NEXT = 0
/** 1 once any thread failed: nobody claims or writes a batch any more. */
const SLOT_STOP = 1
/** Decryption: every batch before this one is authenticated and written. */
const SLOT_FRONTIER = 2
/** Worker threads that have started. */
const SLOT_READY = 3
const CONTROL_SLOTS = 4

/** How one thread's share ended: plain data, so that a worker can post it. */
export type ParticipantOutcome =
  | { readonly kind: "done"; readonly batches: number }
  | {
      /** Decryption stopped at this batch: a chunk failed, or data after the final one. */
      readonly kind: "opened"
      readonly batch: number
      readonly job: Pick<BatchJob, "final" | "length">
      readonly result: OpenedBatch
    }
  | {
      readonly kind: "io"
      readonly batch: number
      readonly side: "input" | "output"
      readonly message: string
    }
  | { readonly kind: "changed"; readonly batch: number }
  | { readonly kind: "bug"; readonly batch: number; readonly message: string }

interface Geometry {
  readonly inputBatch: number
  readonly outputBatch: number
  readonly batches: number
}

function geometry(task: Pick<PositionalTask, "kind" | "input" | "chunksPerBatch">): Geometry {
  const seal = task.kind === "seal"
  const inputBatch = task.chunksPerBatch * (seal ? CHUNK_SIZE : ENCRYPTED_CHUNK_SIZE)
  const outputBatch = task.chunksPerBatch * (seal ? ENCRYPTED_CHUNK_SIZE : CHUNK_SIZE)
  // an empty plaintext is still one (empty, final) chunk; an empty payload has no chunk
  const batches = Math.ceil(task.input.size / inputBatch)
  return { inputBatch, outputBatch, batches: seal ? Math.max(1, batches) : batches }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** Reads `into.length` bytes at `position`; "changed" if the file ends first. */
function readAt(
  input: FileRegion,
  into: Uint8Array,
  position: number,
): "ok" | "changed" | { message: string } {
  let filled = 0
  try {
    while (filled < into.length) {
      const n = readSync(input.fd, into, filled, into.length - filled, position + filled)
      if (n === 0) return "changed"
      filled += n
    }
  } catch (error) {
    return { message: describe(error) }
  }
  return "ok"
}

/** Writes `pieces` one after the other from `position`; a message on failure. */
function writeAt(fd: number, pieces: Uint8Array[], position: number): string | null {
  let at = position
  let left = pieces.filter((piece) => piece.length > 0)
  try {
    while (left.length > 0) {
      let n = writevSync(fd, left, at)
      at += n
      // drop what was written: whole pieces, then the start of the next one
      const rest: Uint8Array[] = []
      for (const piece of left) {
        if (n >= piece.length) {
          n -= piece.length
          continue
        }
        rest.push(n > 0 ? piece.subarray(n) : piece)
        n = 0
      }
      left = rest
    }
  } catch (error) {
    return describe(error)
  }
  return null
}

function stopAll(control: Int32Array): void {
  Atomics.store(control, SLOT_STOP, 1)
  Atomics.notify(control, SLOT_FRONTIER)
}

/** Waits until every batch before `batch` is written. @returns false once stopped */
function awaitTurn(control: Int32Array, batch: number): boolean {
  for (;;) {
    if (Atomics.load(control, SLOT_STOP) !== 0) return false
    const frontier = Atomics.load(control, SLOT_FRONTIER)
    if (frontier === batch) return true
    // a timeout, so that a stop is noticed even if its notify came before this wait
    Atomics.wait(control, SLOT_FRONTIER, frontier, 50)
  }
}

/**
 * One thread's share of a task: claims batches until none is left, another thread failed,
 * or `keepClaiming` says to stop (the calling thread, once the workers are up).
 * @returns how it ended (a failure also stops the other threads)
 */
export function runParticipant(
  key: KeyObject,
  task: PositionalTask,
  keepClaiming: () => boolean = () => true,
): ParticipantOutcome {
  const control = new Int32Array(task.control)
  const { inputBatch, outputBatch, batches } = geometry(task)
  const inputBuffer = new ArrayBuffer(inputBatch)
  const outputBuffer = task.kind === "open" ? new ArrayBuffer(outputBatch) : null
  let done = 0
  const fail = (outcome: ParticipantOutcome): ParticipantOutcome => {
    stopAll(control)
    return outcome
  }
  try {
    while (keepClaiming() && Atomics.load(control, SLOT_STOP) === 0) {
      const batch = Atomics.add(control, SLOT_NEXT, 1)
      if (batch >= batches) break
      const offset = batch * inputBatch
      const length = Math.min(inputBatch, task.input.size - offset)
      const read = readAt(
        task.input,
        new Uint8Array(inputBuffer, 0, length),
        task.input.start + offset,
      )
      if (read === "changed") return fail({ kind: "changed", batch })
      if (read !== "ok") return fail({ kind: "io", batch, side: "input", message: read.message })
      const final = batch === batches - 1
      const counter = batch * task.chunksPerBatch
      const position = task.output.start + batch * outputBatch
      if (outputBuffer === null) {
        const pieces = sealChunks(key, new Uint8Array(inputBuffer, 0, length), counter, final)
        const failed = writeAt(task.output.fd, pieces, position)
        releaseSealedPieces(pieces)
        if (failed !== null) return fail({ kind: "io", batch, side: "output", message: failed })
        done++
        continue
      }
      const job: BatchJob = {
        id: batch,
        kind: "open",
        input: inputBuffer,
        length,
        output: outputBuffer,
        counter,
        final,
      }
      const result = openBatch(key, job)
      if (!awaitTurn(control, batch)) break
      const verdict = openedBatchError(job, result)
      if (
        batch === 0 &&
        task.output.truncateOnFirstWrite &&
        (result.outputLength > 0 || verdict === null)
      ) {
        try {
          ftruncateSync(task.output.fd, task.output.start)
        } catch (error) {
          return fail({ kind: "io", batch, side: "output", message: describe(error) })
        }
      }
      if (result.outputLength > 0) {
        const plaintext = new Uint8Array(outputBuffer, 0, result.outputLength)
        const failed = writeAt(task.output.fd, [plaintext], position)
        if (failed !== null) return fail({ kind: "io", batch, side: "output", message: failed })
      }
      if (verdict !== null) {
        const { chunks, sawFinal, failure } = result
        return fail({
          kind: "opened",
          batch,
          job: { final, length },
          result: { chunks, sawFinal, failure },
        })
      }
      done++
      Atomics.store(control, SLOT_FRONTIER, batch + 1)
      Atomics.notify(control, SLOT_FRONTIER)
    }
    return { kind: "done", batches: done }
  } catch (error) {
    return fail({ kind: "bug", batch: Atomics.load(control, SLOT_NEXT), message: describe(error) })
  } finally {
    if (outputBuffer !== null) new Uint8Array(outputBuffer).fill(0)
  }
}

/** What a positional worker finds in `workerData` (see chunk-worker.ts). */
export interface PositionalWorkerData {
  readonly cofferChunkWorker: true
  readonly payloadKey: Uint8Array
  readonly positional: PositionalTask
}

/**
 * A worker thread's whole life: import the key, say it is up, run its share.
 * @returns its outcome, to post to the calling thread
 */
export function runPositionalWorker(data: PositionalWorkerData): ParticipantOutcome {
  const key = importPayloadKey(data.payloadKey)
  // the worker's copy of the raw key is no longer needed once imported
  data.payloadKey.fill(0)
  Atomics.add(new Int32Array(data.positional.control), SLOT_READY, 1)
  return runParticipant(key, data.positional)
}

/** Tuning for `runPositional`. */
export interface PositionalOptions {
  readonly workers: number
  readonly chunksPerBatch: number
  /** Whether the calling thread takes batches until the workers are up (default true). */
  readonly callerTakesBatches?: boolean
  readonly onBatch?: ((where: "inline" | "worker") => void) | undefined
}

/** The compiled worker entry, beside this file in dist/src/age/ and in dist/bundle/. */
const workerUrl = (): URL => new URL("./chunk-worker.js", import.meta.url)

function outcomeError(outcome: ParticipantOutcome, task: PositionalTask): Error | null {
  switch (outcome.kind) {
    case "done":
      return null
    case "opened":
      return (
        openedBatchError(outcome.job, outcome.result) ??
        new InternalError("a batch was refused without a reason")
      )
    case "io":
      return outcome.side === "input"
        ? new IoError(`cannot read ${task.input.name}: ${outcome.message}`)
        : new IoError(`cannot write ${task.output.name}: ${outcome.message}`)
    case "changed":
      return inputChanged(task)
    case "bug":
      return new InternalError(`payload thread failed: ${outcome.message}`)
    default: {
      const never: never = outcome
      return new InternalError(`unknown outcome ${JSON.stringify(never)}`)
    }
  }
}

function inputChanged(task: PositionalTask): IoError {
  return new IoError(`${task.input.name} changed size while it was being read`, {
    hints: ["another process is writing it: wait until it is done, or work on a copy"],
  })
}

/**
 * Seals (`kind` "seal") or opens ("open") the payload in `input` into `output` on
 * `options.workers` worker threads, the calling thread taking batches until they are up.
 * @throws PayloadError as `openPayload` (the authenticated prefix has been written);
 *   IoError when a read or write fails, or the input changes size; InternalError if a
 *   worker thread fails
 */
export async function runPositional(
  kind: BatchKind,
  payloadKey: Uint8Array,
  input: FileRegion,
  output: FileTarget,
  options: PositionalOptions,
): Promise<void> {
  const task: PositionalTask = {
    kind,
    input,
    output,
    chunksPerBatch: Math.max(1, options.chunksPerBatch),
    control: new SharedArrayBuffer(CONTROL_SLOTS * Int32Array.BYTES_PER_ELEMENT),
  }
  const control = new Int32Array(task.control)
  if (kind === "open" && input.size === 0) {
    // no chunk at all: the same verdict as openPayload's
    const error: Error | null = openedBatchError(
      { final: true, length: 0 },
      { chunks: 0, sawFinal: false, failure: null },
    )
    throw error ?? new InternalError("an empty payload was accepted")
  }
  const threads =
    options.workers > 0
      ? (createRequire(import.meta.url)("node:worker_threads") as typeof WorkerThreads)
      : null
  const workers: WorkerThreads.Worker[] = []
  const outcomes: Promise<ParticipantOutcome>[] = []
  try {
    for (let i = 0; i < options.workers && threads !== null; i++) {
      const data: PositionalWorkerData = { cofferChunkWorker: true, payloadKey, positional: task }
      const worker = new threads.Worker(workerUrl(), {
        workerData: data,
        // not piped to ours: that would create process.stdout, which makes a pipe on
        // descriptor 1 non-blocking under the command's direct writes (cli/files.ts)
        stdout: true,
        stderr: true,
      })
      workers.push(worker)
      outcomes.push(
        new Promise<ParticipantOutcome>((resolve) => {
          let reported = false
          const bug = (message: string): void => {
            if (reported) return
            reported = true
            stopAll(control)
            resolve({ kind: "bug", batch: -1, message })
          }
          worker.once("message", (outcome: ParticipantOutcome) => {
            reported = true
            resolve(outcome)
          })
          worker.once("error", (error) => {
            bug(describe(error))
          })
          worker.once("exit", (code) => {
            bug(`exited with code ${code} before reporting`)
          })
        }),
      )
    }
    const key = importPayloadKey(payloadKey)
    // the calling thread takes batches until every worker is up (or all of them, alone)
    const alone = workers.length === 0
    const helps = alone || options.callerTakesBatches !== false
    const mine = runParticipant(
      key,
      task,
      () => helps && (alone || Atomics.load(control, SLOT_READY) < workers.length),
    )
    const all = [mine, ...(await Promise.all(outcomes))]
    for (const [i, outcome] of all.entries()) {
      if (outcome.kind !== "done") continue
      for (let b = 0; b < outcome.batches; b++) options.onBatch?.(i === 0 ? "inline" : "worker")
    }
    // report the failure of the earliest batch (a later one may only be a consequence)
    const failures = all.filter((o) => o.kind !== "done")
    failures.sort((a, b) => rank(a) - rank(b))
    const first = failures[0]
    if (first !== undefined) throw outcomeError(first, task) ?? new InternalError("no error")
    if (Atomics.load(control, SLOT_NEXT) < geometry(task).batches) {
      throw new InternalError("payload threads ended before every batch was processed")
    }
    // the size was taken when the file was opened: it must not have grown since
    const probe = new Uint8Array(1)
    let more: number
    try {
      more = readSync(input.fd, probe, 0, 1, input.start + input.size)
    } catch (error) {
      throw new IoError(`cannot read ${input.name}: ${describe(error)}`, { cause: error })
    }
    if (more !== 0) throw inputChanged(task)
  } finally {
    stopAll(control)
    await Promise.all(workers.map((worker) => worker.terminate()))
  }
}

function rank(outcome: ParticipantOutcome): number {
  if (outcome.kind === "done") return Number.MAX_SAFE_INTEGER
  // a worker that failed outside a batch: after every batch failure
  return outcome.batch < 0 ? Number.MAX_SAFE_INTEGER - 1 : outcome.batch
}
