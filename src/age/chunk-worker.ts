/**
 * The worker thread entry for `parallel.ts`: seals or opens batches of STREAM chunks
 * (age-spec.md §4.2) under the payload key it was started with, and sends each batch's
 * buffers back (transferred, not copied). It posts "ready" once loaded, so the main thread
 * keeps processing batches itself until then.
 */
import { parentPort, workerData } from "node:worker_threads"
import { InternalError } from "../internal/errors.js"
import { type BatchJob, importPayloadKey, openBatch, sealBatch } from "./parallel.js"

function start(): void {
  const port = parentPort
  const data = workerData as { readonly payloadKey?: unknown } | null
  if (port === null || !(data?.payloadKey instanceof Uint8Array)) {
    throw new InternalError("chunk-worker.js must be started by parallel.ts with a payload key")
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

start()
