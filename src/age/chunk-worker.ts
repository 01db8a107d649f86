/**
 * The worker thread entry for the payload (started by `parallel.ts` and `positional.ts`,
 * with the payload key in `workerData`):
 *
 * - batch mode (`parallel.ts`): posts "ready" once loaded, then seals or opens each batch
 *   posted to it and posts it back (buffers transferred, not copied);
 * - positional mode (`positional.ts`): claims batches of a file itself, reads and writes
 *   them by position, and posts how its share ended.
 */
import { createRequire } from "node:module"
import type * as WorkerThreads from "node:worker_threads"
import { type BatchJob, importPayloadKey, openBatch, sealBatch } from "./chunk-batch.js"
import { type PositionalWorkerData, runPositionalWorker } from "./positional.js"

/** What `parallel.ts` puts in `workerData`. */
export interface ChunkWorkerData {
  readonly cofferChunkWorker: true
  readonly payloadKey: Uint8Array
}

function isChunkWorkerData(data: unknown): data is ChunkWorkerData {
  const candidate = data as Partial<ChunkWorkerData> | null
  return candidate?.cofferChunkWorker === true && candidate.payloadKey instanceof Uint8Array
}

function isPositional(data: ChunkWorkerData): data is PositionalWorkerData {
  return (data as Partial<PositionalWorkerData>).positional !== undefined
}

function startWorker(port: WorkerThreads.MessagePort, data: ChunkWorkerData): void {
  if (isPositional(data)) {
    port.postMessage(runPositionalWorker(data))
    return
  }
  const key = importPayloadKey(data.payloadKey)
  // the worker's copy of the raw key is no longer needed once imported
  data.payloadKey.fill(0)
  port.on("message", (job: BatchJob) => {
    const result = job.kind === "seal" ? sealBatch(key, job) : openBatch(key, job)
    port.postMessage(result, [result.input, result.output])
  })
  port.postMessage("ready")
}

// Workers start from this module's own file (chunk-worker.js, beside parallel.js or in
// dist/bundle/); nothing else imports it.
if (import.meta.url.endsWith("/chunk-worker.js")) {
  const threads = createRequire(import.meta.url)("node:worker_threads") as typeof WorkerThreads
  const data: unknown = threads.workerData
  if (!threads.isMainThread && threads.parentPort !== null && isChunkWorkerData(data)) {
    startWorker(threads.parentPort, data)
  }
}
