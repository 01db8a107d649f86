/**
 * One file of a bulk `updatekeys` (docs/formats/sops.md "Commands" `updatekeys`;
 * docs/goals.md "Bulk changes"), run on a worker thread of `bulk-pool.ts` (or on the
 * calling thread). A task names a file; the worker reads it, finds its creation rule, plans
 * the key change (`policy/plan.ts`) and, for an `apply` task, recovers the data key, wraps
 * it for the rule's keys (or rotates it) and replaces the file atomically. The answer is a
 * report with public facts only: the status, the keys added and removed, an error's message
 * and hints.
 *
 * Age identities are found as sops finds them (`keys/discover.ts`), without prompting
 * (workers can't share a terminal): keys that need a passphrase are reported as failed.
 * Identities are looked up once per worker unless a `_CMD` source makes them depend on the
 * file's recipients.
 */
import { parentPort, workerData } from "node:worker_threads"
import { decryptionOrder, hasCloudKeys } from "./data-key-recovery.js"
import type { WorkflowIo } from "./io.js"
import { rewriteKeys } from "./key-groups.js"
import { systemWorkflowIo } from "./system-io.js"
import type { Identity } from "../age/recipient.js"
import { discoverAgeIdentities } from "../keys/discover.js"
import { ToolError } from "../internal/errors.js"
import type { SopsConfig } from "../policy/config.js"
import { ConfigNotFoundError } from "../policy/errors.js"
import { matchCreationRule } from "../policy/match.js"
import { describeKeyUpdate, planKeyUpdate } from "../policy/plan.js"
import { unwrapDataKey } from "../sops/data-key.js"
import type { Metadata } from "../sops/metadata.js"
import { storeForPath } from "../sops/stores/index.js"

/** What every worker gets at start. */
export interface BulkWorkerData {
  /** The working directory paths and rules are relative to. */
  readonly cwd: string
  /** The parsed `.sops.yaml`, or undefined when none was found. */
  readonly config: SopsConfig | undefined
  /** Where `.sops.yaml` was looked for (for "not found" messages). */
  readonly configSearched: readonly string[]
  /** `--shamir-secret-sharing-threshold`, when given. */
  readonly threshold: number | undefined
}

/** One file to plan (`plan`: what would change) or update (`apply`). */
export interface BulkTask {
  readonly kind: "plan" | "apply"
  readonly path: string
  /** Also make a new data key and re-encrypt every value. */
  readonly rotate: boolean
}

/** What happened to one file (no secrets). */
export interface BulkReport {
  readonly path: string
  readonly status: "updated" | "unchanged" | "would-update" | "failed" | "skipped"
  /** `+ age age1…`, `- pgp 85D7…`, `shamir threshold: 1 -> 2`, `data key: new`. */
  readonly changes: readonly string[]
  /** Why it failed or was skipped. */
  readonly error?: { readonly message: string; readonly hints: readonly string[] }
}

/** What one file's update may touch: no prompts (workers can't share a terminal). */
export type BulkIo = Pick<
  WorkflowIo,
  "env" | "readFile" | "replaceFile" | "discovery" | "gpg" | "cloud"
>

let defaultIo: BulkIo | undefined

/**
 * Plans or applies the key update of one file; never throws.
 * @param task the file and what to do
 * @param data the config and working directory
 * @param io the effects (default: this machine, `process.env`, no prompts)
 * @returns the report
 */
export async function handleBulkTask(
  task: BulkTask,
  data: BulkWorkerData,
  io: BulkIo = (defaultIo ??= systemWorkflowIo({ prompts: false })),
): Promise<BulkReport> {
  try {
    return await updateOne(task, data, io)
  } catch (error) {
    return {
      path: task.path,
      status: "failed",
      changes: [],
      error: {
        message: error instanceof Error ? error.message : String(error),
        hints: error instanceof ToolError ? error.hints : [],
      },
    }
  }
}

async function updateOne(task: BulkTask, data: BulkWorkerData, io: BulkIo): Promise<BulkReport> {
  // decoded as readFile(path, "utf8") decodes (invalid UTF-8 becomes U+FFFD)
  const text = Buffer.from(await io.readFile(task.path)).toString("utf8")
  const store = storeForPath(task.path)
  let metadata: Metadata
  try {
    metadata = store.parseEncrypted(text).metadata
  } catch (error) {
    return {
      path: task.path,
      status: "skipped",
      changes: [],
      error: {
        message: `not a sops file (${error instanceof Error ? error.message : String(error)})`,
        hints: [],
      },
    }
  }
  if (data.config === undefined) {
    throw new ConfigNotFoundError("no .sops.yaml found, so the file's keys can't be updated", {
      hints: [
        `looked in ${data.configSearched.slice(0, 3).join(", ")}${data.configSearched.length > 3 ? ", …" : ""}`,
        "updatekeys sets each file's keys to those of its creation rule: create .sops.yaml or pass --config",
      ],
    })
  }
  const { rule } = matchCreationRule(data.config, task.path, data.cwd)
  if (rule.keyGroups.length === 0) {
    throw new ConfigNotFoundError(
      `creation rule ${String(rule.index + 1)} of ${JSON.stringify(data.config.path)} lists no keys`,
      { hints: ["add age: or pgp: keys (or key_groups:) to the rule"] },
    )
  }
  // sops keeps the file's threshold (issue #810); coffer also applies the rule's when it sets one
  const wantedThreshold =
    data.threshold ?? (rule.shamirThreshold > 0 ? rule.shamirThreshold : undefined)
  const plan = planKeyUpdate(
    metadata.keyGroups,
    metadata.shamirThreshold,
    rule.keyGroups,
    wantedThreshold,
  )
  const changes = [
    ...describeKeyUpdate(plan),
    ...(task.rotate ? ["data key: new (every value re-encrypted)"] : []),
  ]
  if (plan.unchanged && !task.rotate) return { path: task.path, status: "unchanged", changes }
  if (task.kind === "plan") return { path: task.path, status: "would-update", changes }
  const pgp = io.gpg()
  const out = await rewriteKeys(
    text,
    store,
    { groups: rule.keyGroups, threshold: plan.thresholdAfter, rotate: task.rotate },
    {
      pgp,
      cloud: () => io.cloud?.(),
      recoverDataKey: async (m) =>
        unwrapDataKey(
          m,
          {
            identities: await identitiesFor(m, io),
            pgp,
            ...(hasCloudKeys(m) ? { cloud: io.cloud?.() } : {}),
          },
          { decryptionOrder: decryptionOrder(io.env["SOPS_DECRYPTION_ORDER"]) },
        ),
    },
  )
  await io.replaceFile(task.path, out)
  return { path: task.path, status: "updated", changes }
}

/** The identities found without `_CMD` sources, looked up once per io (per worker). */
const cachedIdentities = new WeakMap<BulkIo, Promise<readonly Identity[]>>()

/** The age identities for a file; looked up once unless a `_CMD` source depends on recipients. */
function identitiesFor(metadata: Metadata, io: BulkIo): Promise<readonly Identity[]> {
  const recipients = metadata.keyGroups.flatMap((g) => g.age.map((k) => k.recipient.trim()))
  if (recipients.length === 0) return Promise.resolve([])
  const perFile =
    (io.env["SOPS_AGE_KEY_CMD"] ?? "") !== "" ||
    (io.env["SOPS_AGE_SSH_PRIVATE_KEY_CMD"] ?? "") !== ""
  if (perFile) {
    return discoverAgeIdentities(io.discovery(), { recipients }).then((d) => d.identities)
  }
  let cached = cachedIdentities.get(io)
  if (cached === undefined) {
    cached = discoverAgeIdentities(io.discovery()).then((d) => d.identities)
    cachedIdentities.set(io, cached)
  }
  return cached
}

// The worker entry: answer each task with its report.
const startData = workerData as (BulkWorkerData & { cofferBulkWorker?: boolean }) | null
if (parentPort !== null && startData?.cofferBulkWorker === true) {
  const port = parentPort
  port.on("message", (task: BulkTask) => {
    void handleBulkTask(task, startData).then((report) => {
      port.postMessage(report)
    })
  })
}
