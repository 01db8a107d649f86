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
 * A worker that ended is replaced for the next file. Programs a terminated worker started
 * (a gpg that never answers) would outlive it: once every file is done, any child process
 * still running is one of those, and is killed. A few workers run at once, so files are
 * also opened on both cores. Secrets (key material in, values out) cross only between
 * the threads of this process.
 */
import { readdir, readFile } from "node:fs/promises"
import { availableParallelism } from "node:os"
import { Worker } from "node:worker_threads"
import type { HostKeyMaterial } from "./keys.js"
import type { SourceRequest, SourceResult } from "./source.js"
import type {
  SourceAnswer,
  SourceTask,
  SourceWorkerData,
  SourceWorkerReady,
} from "./source-worker.js"

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

/** A worker, and whether it came up (undefined) or why not. */
interface Running {
  readonly worker: Worker
  readonly ready: Promise<string | undefined>
}

/**
 * Opens every requested file, a few at a time, each on a worker within `limits`. The time
 * limit counts from when the worker is ready (its start-up is not the file's fault).
 * @param requests the files, in order
 * @param material the host's keys as data
 * @param limits the per-file limits
 * @returns each file's result, in the order of `requests`
 */
export async function openSources(
  requests: readonly SourceRequest[],
  material: HostKeyMaterial,
  limits: SourceLimits,
): Promise<OpenedSources> {
  const results: SourceResult[] = Array.from({ length: requests.length })
  if (requests.length === 0) return { results, stopped: [] }
  /** Whether a worker was terminated for taking too long (set from its timer). */
  const ended = { byTimeout: false }
  const maxBytes = Math.floor((limits.memoryMb * 1024 * 1024) / 4)
  const data: SourceWorkerData = { cofferSourceWorker: true, material }
  const running = new Set<Worker>()
  const start = (): Running => {
    const worker = new Worker(workerUrl, {
      workerData: data,
      resourceLimits: { maxOldGenerationSizeMb: limits.memoryMb },
    })
    running.add(worker)
    const ready = new Promise<string | undefined>((resolve) => {
      const onMessage = (message: SourceWorkerReady): void => {
        worker.off("error", onError)
        worker.off("exit", onExit)
        resolve(message.ready ? undefined : message.reason)
      }
      const onError = (error: Error): void => {
        resolve(`its worker did not start: ${failureOf(error, limits)}`)
      }
      const onExit = (code: number): void => {
        resolve(`its worker exited before it started (status ${String(code)})`)
      }
      worker.once("message", onMessage)
      worker.once("error", onError)
      worker.once("exit", onExit)
    })
    return { worker, ready }
  }
  const stop = (worker: Worker): void => {
    running.delete(worker)
    void worker.terminate()
  }

  const runOn = (
    worker: Worker,
    index: number,
  ): Promise<{ result: SourceResult; ended: boolean }> =>
    new Promise((resolve) => {
      const request = requests[index] as SourceRequest
      const task: SourceTask = { id: index, request, maxBytes }
      let settled = false
      const finish = (result: SourceResult, ended: boolean): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        worker.off("message", onMessage)
        worker.off("error", onError)
        worker.off("exit", onExit)
        resolve({ result, ended })
      }
      const onMessage = (answer: SourceAnswer): void => {
        if (answer.id === index) finish(answer.result, false)
      }
      const onError = (error: Error): void => {
        finish({ ok: false, reason: failureOf(error, limits) }, true)
      }
      const onExit = (code: number): void => {
        finish({ ok: false, reason: `the worker opening it exited (status ${String(code)})` }, true)
      }
      const timer = setTimeout(() => {
        ended.byTimeout = true
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

  let next = 0
  const drain = async (): Promise<void> => {
    let current: Running | undefined
    for (let index = next++; index < requests.length; index = next++) {
      current ??= start()
      const notReady = await current.ready
      if (notReady !== undefined) {
        results[index] = { ok: false, reason: notReady }
        stop(current.worker)
        current = undefined
        continue
      }
      const { result, ended } = await runOn(current.worker, index)
      results[index] = result
      if (ended) {
        // out of memory, out of time, or gone: the next file gets a fresh worker
        stop(current.worker)
        current = undefined
      }
    }
  }
  const size = Math.max(1, Math.min(requests.length, MAX_WORKERS, availableParallelism()))
  try {
    await Promise.all(Array.from({ length: size }, drain))
  } finally {
    await Promise.all([...running].map((w) => w.terminate()))
  }
  // every file is done, so no worker is waiting for a program: what still runs was left by
  // one that was terminated
  return { results, stopped: ended.byTimeout ? await killChildProcesses() : [] }
}

/** Each file's result, and the programs that were killed after a file ran out of time. */
export interface OpenedSources {
  readonly results: SourceResult[]
  /** "gpg (PID 1234)" for each process killed. */
  readonly stopped: readonly string[]
}

/**
 * Kills this process's child processes (`/proc/*\/stat` naming it as parent).
 * @returns what was killed
 */
async function killChildProcesses(): Promise<string[]> {
  const killed: string[] = []
  let names: string[]
  try {
    names = await readdir("/proc")
  } catch {
    return killed
  }
  for (const name of names) {
    if (!/^[0-9]+$/.test(name)) continue
    const line = await readFile(`/proc/${name}/stat`, "utf8").catch(() => "")
    const end = line.lastIndexOf(")")
    if (end === -1) continue
    const ppid = Number(line.slice(end + 2).split(" ")[1])
    if (ppid !== process.pid) continue
    const comm = line.slice(line.indexOf("(") + 1, end)
    try {
      process.kill(Number(name), "SIGKILL")
      killed.push(`${comm} (PID ${name})`)
    } catch {
      // gone meanwhile
    }
  }
  return killed
}

function failureOf(error: Error, limits: SourceLimits): string {
  return (error as NodeJS.ErrnoException).code === "ERR_WORKER_OUT_OF_MEMORY"
    ? `opening it needed more than ${String(limits.memoryMb)} MiB of memory (--source-memory)`
    : `opening it failed: ${error.message}`
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${String(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`
}
