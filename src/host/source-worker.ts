/**
 * The worker thread entry that opens source files for `coffer install` (started by
 * `source-pool.ts` with the host's key material in `workerData`): it makes the same
 * identities and PGP access as the main thread, then answers each posted `SourceTask` with
 * its `SourceResult`. The pool gives each worker a heap limit and each task a time limit,
 * and reads the sizes of files before handing them over.
 */
import { createRequire } from "node:module"
import { constants } from "node:fs"
import { open } from "node:fs/promises"
import type * as WorkerThreads from "node:worker_threads"
import { createGpgPort } from "../keys/pgp.js"
import type { HostKeyMaterial } from "./keys.js"
import { loadHostKeys } from "./keys.js"
import type { SourceKeys, SourceRequest, SourceResult } from "./source.js"
import { openSource, reasonOf } from "./source.js"

/** What `source-pool.ts` puts in `workerData`. */
export interface SourceWorkerData {
  readonly cofferSourceWorker: true
  readonly material: HostKeyMaterial
}

/** One file to open: the request, and the largest size it may have. */
export interface SourceTask {
  readonly id: number
  readonly request: SourceRequest
  readonly maxBytes: number
}

/** What a worker posts once, before any answer: whether it could make the keys. */
export type SourceWorkerReady =
  { readonly ready: true } | { readonly ready: false; readonly reason: string }

/** The answer to a task. */
export interface SourceAnswer {
  readonly id: number
  readonly result: SourceResult
}

function isSourceWorkerData(data: unknown): data is SourceWorkerData {
  return (data as Partial<SourceWorkerData> | null)?.cofferSourceWorker === true
}

/**
 * Makes the keys from their material (as `loadHostKeys` did in the main thread).
 * @returns the identities and PGP port
 */
export async function keysFromMaterial(material: HostKeyMaterial): Promise<SourceKeys> {
  const keys = await loadHostKeys(
    {
      ageSshKeyPaths: material.ageSshKeyPaths,
      ageKeyFile: material.ageKeyFile,
      gnupgHome: null,
      sshKeyPaths: [],
    },
    { env: {}, readFile: (path) => Promise.resolve(material.files.get(path)) },
  )
  return {
    identities: keys.identities,
    pgp: material.gpg === undefined ? undefined : createGpgPort(material.gpg),
  }
}

/**
 * Reads a source file, refusing one larger than `maxBytes` before reading it.
 * @returns its bytes, or why it cannot be used
 */
export async function readSource(
  path: string,
  maxBytes: number,
): Promise<{ ok: true; bytes: Uint8Array } | { ok: false; reason: string }> {
  try {
    // O_NONBLOCK: opening a named pipe must not wait for a writer before fstat says what it is
    const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK)
    try {
      const st = await handle.stat()
      if (!st.isFile()) return { ok: false, reason: "it is not a regular file" }
      if (st.size > maxBytes) {
        return {
          ok: false,
          reason: `it is ${mebibytes(st.size)}, larger than the ${mebibytes(maxBytes)} a source may be (a quarter of --source-memory)`,
        }
      }
      return { ok: true, bytes: new Uint8Array(await handle.readFile()) }
    } finally {
      await handle.close()
    }
  } catch (e) {
    return { ok: false, reason: `cannot be read: ${reasonOf(e)}` }
  }
}

function mebibytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(bytes < 1024 * 1024 ? 2 : 0)} MiB`
}

/**
 * Runs one task.
 * @returns the answer
 */
export async function runSourceTask(task: SourceTask, keys: SourceKeys): Promise<SourceAnswer> {
  const read = await readSource(task.request.path, task.maxBytes)
  if (!read.ok) return { id: task.id, result: { ok: false, reason: read.reason } }
  try {
    return { id: task.id, result: await openSource(task.request, read.bytes, keys) }
  } catch (e) {
    return { id: task.id, result: { ok: false, reason: reasonOf(e) } }
  }
}

async function startWorker(port: WorkerThreads.MessagePort, data: SourceWorkerData): Promise<void> {
  let keys: SourceKeys
  try {
    keys = await keysFromMaterial(data.material)
  } catch (e) {
    port.postMessage({ ready: false, reason: `the host keys could not be made: ${reasonOf(e)}` })
    return
  }
  port.on("message", (task: SourceTask) => {
    void runSourceTask(task, keys).then((answer) => {
      port.postMessage(answer)
    })
  })
  port.postMessage({ ready: true } satisfies SourceWorkerReady)
}

// Workers start from this module's own file (source-worker.js, beside source-pool.js or in
// dist/bundle/); nothing else runs it.
if (import.meta.url.endsWith("/source-worker.js")) {
  const threads = createRequire(import.meta.url)("node:worker_threads") as typeof WorkerThreads
  const data: unknown = threads.workerData
  if (!threads.isMainThread && threads.parentPort !== null && isSourceWorkerData(data)) {
    void startWorker(threads.parentPort, data)
  }
}
