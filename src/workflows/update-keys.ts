/**
 * Giving sops files the keys of their creation rules, many at once (sops's `updatekeys`;
 * docs/formats/sops.md "Commands"; docs/goals.md "Bulk changes"). Every sops file under the
 * paths (folders recursively; other files are skipped) gets the key groups of its rule in
 * `.sops.yaml`. The data key and every value's ciphertext stay (only the metadata's key entries
 * change), unless `rotate` also makes a new data key.
 *
 * Files are planned and rewritten on a pool of worker threads (`bulk-pool.ts`,
 * `bulk-worker.ts`). Unless `apply` is set, every file is planned first and the caller's
 * `confirm` decides whether the files that would change are rewritten. Each file's report
 * (public facts only: status, keys added and removed, an error's message) reaches the
 * caller through `onReport` as soon as it is known; nothing is printed here.
 */
import { join } from "node:path"
import type { WorkflowIo } from "./io.js"
import { createBulkPool, type BulkPool } from "./bulk-pool.js"
import type { BulkIo, BulkReport, BulkTask, BulkWorkerData } from "./bulk-worker.js"
import { describeSystemError } from "../system/system-error.js"
import {
  locateSopsConfig,
  parseSopsConfig,
  type ConfigParseOptions,
  type SopsConfig,
} from "../policy/config.js"
import { ConfigError } from "../policy/errors.js"

/** Files larger than this found in folders are not looked at (sops files are small). */
const MAX_DISCOVERED_SIZE = 64 * 1024 * 1024

/** `.sops.yaml` as the workers get it. */
export interface BulkConfig {
  /** The parsed config, or undefined when none was found. */
  readonly config: SopsConfig | undefined
  /** Where it was looked for (for "not found" messages). */
  readonly configSearched: readonly string[]
}

/**
 * Finds and parses `.sops.yaml` once, for every file of a bulk update.
 * @param io the working directory, `SOPS_CONFIG`, reading files, warnings
 * @param explicit `--config PATH`
 * @param options whether keys sops does not know are allowed
 * @returns the config (undefined when there is none) and where it was looked for
 * @throws ConfigError when the file can't be read or parsed (UnknownConfigKeyError for a
 *   key sops does not know)
 */
export async function loadBulkConfig(
  io: Pick<WorkflowIo, "cwd" | "env" | "exists" | "readFile" | "warn">,
  explicit: string | undefined,
  options: ConfigParseOptions = {},
): Promise<BulkConfig> {
  const location = locateSopsConfig(
    { cwd: io.cwd, explicit, env: io.env["SOPS_CONFIG"] },
    { exists: (p) => io.exists(p) },
  )
  for (const ignored of location.ignored) {
    io.warn(`ignoring ${ignored}: sops and coffer read only .sops.yaml`)
  }
  if (location.path === undefined) return { config: undefined, configSearched: location.searched }
  let text: string
  try {
    // read as readFileSync(path, "utf8") reads (invalid UTF-8 becomes U+FFFD)
    text = Buffer.from(await io.readFile(location.path)).toString("utf8")
  } catch (cause) {
    throw new ConfigError(
      `can't read ${JSON.stringify(location.path)}: ${describeSystemError(cause)}`,
      { cause },
    )
  }
  const config = parseSopsConfig(text, location.path, options)
  for (const warning of config.warnings) io.warn(warning)
  return { config, configSearched: location.searched }
}

/** The files a bulk update looks at. */
export interface ExpandedPaths {
  /** Every file, in order: named ones, and those found in named folders (sorted by name). */
  readonly files: readonly string[]
  /** The files named directly (not found in a folder). */
  readonly explicit: ReadonlySet<string>
  /** The paths that do not exist (or can't be looked at). */
  readonly missing: readonly string[]
}

/**
 * Files named directly, and every file found in named folders (skipping `.git`, symbolic
 * links, `.sops.yaml` and files over 64 MiB).
 * @param paths files and folders
 * @param io looking at files and listing directories
 * @returns the files, which of them were named, and the paths that are missing
 * @throws the system error when a folder can't be listed
 */
export function expandSopsPaths(
  paths: readonly string[],
  io: Pick<WorkflowIo, "fileKind" | "listDirectory">,
): ExpandedPaths {
  const files: string[] = []
  const explicit = new Set<string>()
  const missing: string[] = []
  const seen = new Set<string>()
  const add = (path: string): void => {
    if (seen.has(path)) return
    seen.add(path)
    files.push(path)
  }
  const walk = (dir: string): void => {
    const entries = [...io.listDirectory(dir)].sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    )
    for (const entry of entries) {
      const path = join(dir, entry.name)
      if (entry.kind === "directory") {
        if (entry.name !== ".git") walk(path)
      } else if (entry.kind === "file" && entry.name !== ".sops.yaml") {
        if (io.fileKind(path).size <= MAX_DISCOVERED_SIZE) add(path)
      }
    }
  }
  for (const path of paths) {
    let isDirectory: boolean
    try {
      isDirectory = io.fileKind(path).kind === "directory"
    } catch {
      missing.push(path)
      continue
    }
    if (isDirectory) walk(path)
    else {
      explicit.add(path)
      add(path)
    }
  }
  return { files, explicit, missing }
}

/** What to update. */
export interface UpdateKeysRequest {
  /** The files (from `expandSopsPaths`). */
  readonly files: readonly string[]
  /** Paths that were not there: reported as failed, first. */
  readonly missing?: readonly string[]
  /** Also make a new data key and re-encrypt every value. */
  readonly rotate: boolean
  /** Rewrite at once, without planning and `confirm` first. */
  readonly apply: boolean
  /** Worker threads at most (one file runs on the calling thread). */
  readonly jobs: number
  /** The Shamir threshold to write (default: the rule's, else the file's). */
  readonly threshold?: number | undefined
  /** The config, from `loadBulkConfig`. */
  readonly config: BulkConfig
  /** The directory paths and rules are relative to. */
  readonly cwd: string
}

/**
 * Which pass a report comes from: `missing` (a path that is not there), `first` (the plan,
 * or the update itself when `apply`), `second` (the update after `confirm`).
 */
export type UpdatePass = "missing" | "first" | "second"

/** How the caller follows (and steers) a bulk update. */
export interface UpdateKeysEvents {
  /** A pass over `total` files starts (`plan`: checking, `apply`: rewriting). */
  readonly onPassStart?: (kind: BulkTask["kind"], total: number) => void
  /** One file's report, as soon as it is known. */
  readonly onReport?: (report: BulkReport, pass: UpdatePass) => void
  /**
   * Whether to rewrite the files that would change; asked once, after the plan, when some
   * would (never when `apply`).
   * @param pending the reports of the files that would change
   * @param reports every report so far, by path
   */
  readonly confirm: (
    pending: readonly BulkReport[],
    reports: ReadonlyMap<string, BulkReport>,
  ) => Promise<boolean>
}

/**
 * Updates the keys of many sops files.
 * @param request the files, what to do, the config
 * @param events progress, reports and the confirmation
 * @param io the effects of the calling thread's tasks (worker threads use this machine's;
 *   default: this machine, `process.env`, no prompts)
 * @returns every file's final report (missing paths first, then in the order they finished);
 *   files declined at `confirm` are `unchanged` with no changes listed
 * @throws what `confirm` throws, InternalError when a worker thread fails
 */
export async function updateKeys(
  request: UpdateKeysRequest,
  events: UpdateKeysEvents,
  io?: BulkIo,
): Promise<BulkReport[]> {
  const reports = new Map<string, BulkReport>()
  for (const path of request.missing ?? []) {
    const report: BulkReport = {
      path,
      status: "failed",
      changes: [],
      error: { message: "no such file or folder", hints: [] },
    }
    reports.set(path, report)
  }
  for (const report of reports.values()) events.onReport?.(report, "missing")
  const { files } = request
  const data: BulkWorkerData = {
    cwd: request.cwd,
    ...request.config,
    threshold: request.threshold,
  }
  const pool = createBulkPool(
    files.length <= 1 ? 0 : Math.min(request.jobs, files.length),
    data,
    io,
  )
  try {
    const run = (
      paths: readonly string[],
      kind: BulkTask["kind"],
      pass: UpdatePass,
    ): Promise<BulkReport[]> => {
      events.onPassStart?.(kind, paths.length)
      return runAll(pool, paths, kind, request.rotate, (report) => {
        reports.set(report.path, report)
        events.onReport?.(report, pass)
      })
    }
    const first = await run(files, request.apply ? "apply" : "plan", "first")
    const pending = first.filter((r) => r.status === "would-update")
    if (pending.length > 0) {
      const proceed = request.apply || (await events.confirm(pending, reports))
      if (proceed) {
        await run(
          pending.map((r) => r.path),
          "apply",
          "second",
        )
      } else {
        for (const [path, r] of reports) {
          if (r.status === "would-update") {
            reports.set(path, { ...r, status: "unchanged", changes: [] })
          }
        }
      }
    }
  } finally {
    await pool.close()
  }
  return [...reports.values()]
}

async function runAll(
  pool: BulkPool,
  paths: readonly string[],
  kind: BulkTask["kind"],
  rotate: boolean,
  onReport: (report: BulkReport) => void,
): Promise<BulkReport[]> {
  return Promise.all(
    paths.map(async (path) => {
      const report = await pool.run({ kind, path, rotate })
      onReport(report)
      return report
    }),
  )
}
