/**
 * A pool of worker threads for bulk commands (docs/goals.md "Bulk changes", performance: "bulk
 * `updatekeys` over 1,000 files uses both cores"). Each worker (`bulk-worker.ts`) handles
 * whole files: it reads one, does the crypto and writes it back, and answers with a small
 * report (a status, the public key labels that changed, an error message). Secrets (data
 * keys, plaintext) stay inside the worker that needed them: only paths and reports cross
 * between threads, so nothing secret can reach a log through the pool.
 *
 * Tasks are handed out one at a time to whichever worker is free, so a slow file (gpg)
 * doesn't hold up the others. `size` 0 runs tasks on the calling thread (for one file,
 * where starting a worker would cost more than it saves).
 */
import { Worker } from "node:worker_threads"
import type { BulkIo, BulkTask, BulkReport, BulkWorkerData } from "./bulk-worker.js"
import { handleBulkTask } from "./bulk-worker.js"
import { InternalError } from "../internal/errors.js"

/** A running pool. */
export interface BulkPool {
  /** The number of worker threads (0: the calling thread). */
  readonly size: number
  /** Runs one task on the next free worker. */
  run(task: BulkTask): Promise<BulkReport>
  /** Stops every worker. */
  close(): Promise<void>
}

const workerUrl = new URL("./bulk-worker.js", import.meta.url)

interface Pending {
  readonly task: BulkTask
  readonly resolve: (report: BulkReport) => void
  readonly reject: (error: Error) => void
}

interface Slot {
  readonly worker: Worker
  current: Pending | undefined
}

/**
 * Starts a pool.
 * @param size worker threads to start (0: run on the calling thread)
 * @param data what every worker needs (the parsed `.sops.yaml`, the working directory)
 * @param io the effects of tasks run on the calling thread (size 0; default: this machine,
 *   without prompts); worker threads always use this machine's
 * @returns the pool; `close()` it when done
 */
export function createBulkPool(size: number, data: BulkWorkerData, io?: BulkIo): BulkPool {
  if (size <= 0) {
    return {
      size: 0,
      run: (task) =>
        io === undefined ? handleBulkTask(task, data) : handleBulkTask(task, data, io),
      close: () => Promise.resolve(),
    }
  }
  const queue: Pending[] = []
  const slots: Slot[] = []
  let failure: Error | undefined

  const dispatch = (slot: Slot): void => {
    if (slot.current !== undefined) return
    const next = queue.shift()
    if (next === undefined) return
    slot.current = next
    slot.worker.postMessage(next.task)
  }

  for (let i = 0; i < size; i++) {
    const worker = new Worker(workerUrl, { workerData: { cofferBulkWorker: true, ...data } })
    const slot: Slot = { worker, current: undefined }
    worker.on("message", (report: BulkReport) => {
      const done = slot.current
      slot.current = undefined
      done?.resolve(report)
      dispatch(slot)
    })
    worker.on("error", (error) => {
      failure = new InternalError(`a bulk worker failed: ${error.message}`, { cause: error })
      slot.current?.reject(failure)
      slot.current = undefined
      for (const p of queue.splice(0)) p.reject(failure)
    })
    slots.push(slot)
  }

  return {
    size,
    run: (task) =>
      new Promise<BulkReport>((resolve, reject) => {
        if (failure !== undefined) {
          reject(failure)
          return
        }
        queue.push({ task, resolve, reject })
        const free = slots.find((s) => s.current === undefined)
        if (free !== undefined) dispatch(free)
      }),
    close: async () => {
      await Promise.all(slots.map((s) => s.worker.terminate()))
    },
  }
}
