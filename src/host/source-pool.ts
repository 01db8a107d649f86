/**
 * Opens the source files of an install on worker threads, each file within limits (issue
 * 18 item 1; docs/host-install.md "Hostile sources"): one file that is hostile (a YAML
 * alias bomb), huge or slow fails like any other failing secret, while the others install.
 *
 * - size: a file larger than a quarter of the memory limit is refused before it is read;
 * - memory: every worker has a V8 heap limit (`resourceLimits`); a file that needs more
 *   ends that worker (`ERR_WORKER_OUT_OF_MEMORY`), not the install;
 * - time: a file that takes longer than the time limit has its worker terminated.
 *
 * A worker that ended is replaced for the next file. A few workers run at once, so files
 * are also opened on both cores. Secrets (key material in, values out) cross only between
 * the threads of this process.
 */
import { availableParallelism } from "node:os"
import { Worker } from "node:worker_threads"
import type { HostKeyMaterial } from "./keys.js"
import type { SourceRequest, SourceResult } from "./source.js"
import type { SourceAnswer, SourceTask, SourceWorkerData } from "./source-worker.js"

/** How much one source file may take. */
export interface SourceLimits {
  /** Milliseconds one file may take to open. */
  readonly timeoutMs: number
  /** The heap (MiB) one worker may use; files may be a quarter of it. */
  readonly memoryMb: number
}

/** The defaults (`--source-timeout 120`, `--source-memory 1024`). */
export const defaultSourceLimits: SourceLimits = { timeoutMs: 120_000, memoryMb: 1024 }

const workerUrl = new URL("./source-worker.js", import.meta.url)

/** At most this many workers at once. */
const MAX_WORKERS = 4

interface Slot {
  worker: Worker
}

/**
 * Opens every requested file, a few at a time, each on a worker within `limits`.
 * @param requests the files, in order
 * @param material the host's keys as data
 * @param limits the per-file limits
 * @returns each file's result, in the order of `requests`
 */
export async function openSources(
  requests: readonly SourceRequest[],
  material: HostKeyMaterial,
  limits: SourceLimits,
): Promise<SourceResult[]> {
  const results: SourceResult[] = Array.from({ length: requests.length })
  if (requests.length === 0) return results
  const maxBytes = Math.floor((limits.memoryMb * 1024 * 1024) / 4)
  const data: SourceWorkerData = { cofferSourceWorker: true, material }
  const start = (): Worker =>
    new Worker(workerUrl, {
      workerData: data,
      resourceLimits: { maxOldGenerationSizeMb: limits.memoryMb },
    })
  const size = Math.max(1, Math.min(requests.length, MAX_WORKERS, availableParallelism()))
  const slots: Slot[] = []
  let next = 0

  const runOn = (slot: Slot, index: number): Promise<void> =>
    new Promise((resolve) => {
      const request = requests[index] as SourceRequest
      const task: SourceTask = { id: index, request, maxBytes }
      const worker = slot.worker
      let settled = false
      const finish = (result: SourceResult, replace: boolean): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        worker.off("message", onMessage)
        worker.off("error", onError)
        worker.off("exit", onExit)
        results[index] = result
        if (replace) {
          void worker.terminate()
          slot.worker = start()
        }
        resolve()
      }
      const onMessage = (answer: SourceAnswer): void => {
        if (answer.id === index) finish(answer.result, false)
      }
      const onError = (error: Error): void => {
        const code = (error as NodeJS.ErrnoException).code
        finish(
          {
            ok: false,
            reason:
              code === "ERR_WORKER_OUT_OF_MEMORY"
                ? `opening it needed more than ${String(limits.memoryMb)} MiB of memory (--source-memory)`
                : `opening it failed: ${error.message}`,
          },
          true,
        )
      }
      const onExit = (code: number): void => {
        finish({ ok: false, reason: `the worker opening it exited (status ${String(code)})` }, true)
      }
      const timer = setTimeout(() => {
        finish(
          {
            ok: false,
            reason: `opening it took longer than ${seconds(limits.timeoutMs)} (--source-timeout)`,
          },
          true,
        )
      }, limits.timeoutMs)
      worker.on("message", onMessage)
      worker.on("error", onError)
      worker.on("exit", onExit)
      worker.postMessage(task)
    })

  const drain = async (slot: Slot): Promise<void> => {
    for (let index = next++; index < requests.length; index = next++) await runOn(slot, index)
  }
  try {
    for (let i = 0; i < size; i++) slots.push({ worker: start() })
    await Promise.all(slots.map(drain))
  } finally {
    await Promise.all(slots.map((s) => s.worker.terminate()))
  }
  return results
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${String(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`
}
