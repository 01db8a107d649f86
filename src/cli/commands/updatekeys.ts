/**
 * `coffer updatekeys [-y] [--rotate] [--json] PATH...`: sops's `updatekeys` (docs/formats/sops.md
 * "Commands") over many files and folders at once (docs/goals.md "Bulk changes").
 *
 * Every sops file under the paths (folders recursively; other files are skipped) gets the
 * key groups of its creation rule in `.sops.yaml`. The data key and every value's
 * ciphertext stay (only the metadata's key entries change), unless `--rotate` also makes a
 * new data key. Files are planned and rewritten on a pool of worker threads, one per core
 * (`workflows/update-keys.ts`). The plan (keys added and removed per group) is shown first
 * and confirmed once on a terminal; without a terminal `--yes` is required, and nothing
 * changes without it. A progress bar runs on a terminal; a summary (updated, unchanged, failed with
 * reasons) ends the run, or a JSON report on standard output with `--json`.
 */
import { availableParallelism } from "node:os"
import type { CliContext } from "../command.js"
import { exitCodes, type ExitCode } from "../exit-codes.js"
import { flagIsSet, flagValue, type FlagSpec } from "../flags.js"
import { commandIo, parseCommandLine } from "../sops-file.js"
import { ToolError, UsageError } from "../../internal/errors.js"
import { confirm } from "../../system/terminal.js"
import type { BulkReport } from "../../workflows/bulk-worker.js"
import { expandSopsPaths, loadBulkConfig, updateKeys } from "../../workflows/update-keys.js"

/** Some files could not be updated (the others were, and are listed). */
export class BulkUpdateError extends ToolError {}

/** The flags of `coffer updatekeys` (also read by `coffer completion`). */
export const flagSpecs: readonly FlagSpec[] = [
  { key: "yes", names: ["y", "yes"], kind: "boolean" },
  { key: "rotate", names: ["rotate"], kind: "boolean" },
  { key: "json", names: ["json"], kind: "boolean" },
  { key: "verbose", names: ["verbose"], kind: "boolean" },
  { key: "jobs", names: ["jobs", "j"], kind: "value" },
  { key: "config", names: ["config"], kind: "value" },
  { key: "allowUnknownConfigKeys", names: ["allow-unknown-config-keys"], kind: "boolean" },
  { key: "threshold", names: ["shamir-secret-sharing-threshold"], kind: "value" },
]

function helpText(invokedAs: string): string {
  return `Usage:
    ${invokedAs} [-y] [--rotate] [--json] PATH...

Gives every sops file under PATH (files, or folders searched recursively) the keys of its
creation rule in .sops.yaml: recipients added to or removed from the rule are added to or
removed from the file. The data key and the values stay as they are, so git diffs show
only the key changes. Removed keys could still decrypt old copies: add --rotate to also
make a new data key (every value is re-encrypted).

The changes are shown and confirmed once; without a terminal, --yes is required.

Flags:
    -y, --yes             Don't ask.
    --rotate              Also make a new data key and re-encrypt every value.
    --json                Print a JSON report on standard output.
    --verbose             Also list unchanged files and skipped (non-sops) files.
    --jobs N              Worker threads (default: one per core, here ${String(availableParallelism())}).
    --config PATH         The .sops.yaml to use (default: SOPS_CONFIG, else the first
                          .sops.yaml from the current directory upward).
    --allow-unknown-config-keys
                          Warn about keys of .sops.yaml that sops 3.13 does not know
                          (a config for a newer sops) instead of stopping.
    --shamir-secret-sharing-threshold N
                          The threshold to write (default: the rule's, else the file's).

Examples:
    $ ${invokedAs} secrets/dao/tailscale.yaml
    $ ${invokedAs} -y secrets/
    $ ${invokedAs} -y --rotate --json secrets/ > report.json
`
}

/**
 * Runs `coffer updatekeys`.
 * @throws UsageError, ConfigError, BulkUpdateError
 */
export async function run(args: readonly string[], ctx: CliContext): Promise<ExitCode | undefined> {
  const parsed = parseCommandLine(args, flagSpecs, ctx, helpText)
  if (parsed === undefined) return undefined
  if (parsed.positionals.length === 0) {
    throw new UsageError(`${ctx.invokedAs} needs at least one file or folder`, {
      hints: [`run "${ctx.invokedAs} --help" for examples`],
    })
  }
  const yes = flagIsSet(parsed, "yes")
  const json = flagIsSet(parsed, "json")
  const verbose = flagIsSet(parsed, "verbose")
  const rotate = flagIsSet(parsed, "rotate")
  const jobs = parseCount(flagValue(parsed, "jobs"), "--jobs", 1) ?? availableParallelism()
  const threshold = parseCount(
    flagValue(parsed, "threshold"),
    "--shamir-secret-sharing-threshold",
    0,
  )
  const io = commandIo(ctx)
  const config = await loadBulkConfig(io, flagValue(parsed, "config"), {
    allowUnknownKeys: flagIsSet(parsed, "allowUnknownConfigKeys"),
  })

  const { files, explicit, missing } = expandSopsPaths(parsed.positionals, io)
  const progress = ctx.stderr.isTTY && !json ? new ProgressBar(ctx.stderr) : undefined
  const print = (line: string): void => {
    if (json) return
    if (progress === undefined) ctx.stderr.write(`${line}\n`)
    else progress.print(line)
  }
  let reports: BulkReport[]
  try {
    reports = await updateKeys(
      { files, missing, rotate, apply: yes, jobs, threshold, config, cwd: io.cwd },
      {
        onPassStart: (kind, total) => {
          progress?.start(total, kind === "plan" ? "checking" : "updating")
        },
        onReport: (report, pass) => {
          switch (pass) {
            case "missing":
              printReport(report, print, true)
              return
            case "first":
              printReport(report, print, verbose || explicit.has(report.path))
              break
            case "second":
              if (report.status !== "updated") printReport(report, print, true)
              break
            default: {
              const never: never = pass
              return never
            }
          }
          progress?.tick()
        },
        confirm: (pending, soFar) => askToApply(pending.length, ctx, json, soFar, rotate),
      },
    )
  } finally {
    progress?.clear()
  }
  return finish(reports, parsed.positionals, ctx, json)
}

function printReport(report: BulkReport, print: (line: string) => void, showQuiet: boolean): void {
  switch (report.status) {
    case "updated":
      print(`updated    ${report.path}`)
      for (const line of report.changes) print(`    ${line}`)
      return
    case "would-update":
      print(`${report.path}:`)
      for (const line of report.changes) print(`    ${line}`)
      return
    case "unchanged":
      if (showQuiet) print(`unchanged  ${report.path} (already matches its rule)`)
      return
    case "skipped":
      if (showQuiet) print(`skipped    ${report.path}: not a sops file`)
      return
    case "failed":
      print(`failed     ${report.path}: ${report.error?.message ?? "unknown error"}`)
      for (const hint of report.error?.hints.slice(0, 3) ?? []) print(`    hint: ${hint}`)
      return
    default: {
      const never: never = report.status
      return never
    }
  }
}

async function askToApply(
  count: number,
  ctx: CliContext,
  json: boolean,
  reports: ReadonlyMap<string, BulkReport>,
  rotate: boolean,
): Promise<boolean> {
  const what = `${String(count)} file${count === 1 ? "" : "s"}`
  if (!ctx.stdin.isTTY) {
    if (json) printJson(reports.values(), ctx)
    throw new UsageError(
      `${what} would change, and there is no terminal to confirm on: nothing was changed`,
      {
        hints: ["run with --yes (-y) to apply the changes shown above"],
      },
    )
  }
  const ok = await confirm(
    `${rotate ? "update keys and rotate the data key of" : "update the keys of"} ${what}?`,
  )
  // updateKeys then lists the files that would have changed as unchanged
  if (!ok) ctx.note("nothing was changed")
  return ok
}

function finish(
  all: readonly BulkReport[],
  paths: readonly string[],
  ctx: CliContext,
  json: boolean,
): ExitCode {
  const count = (status: BulkReport["status"]): number =>
    all.filter((r) => r.status === status).length
  const failed = all.filter((r) => r.status === "failed")
  if (json) printJson(all, ctx)
  else {
    const sopsFiles = all.length - count("skipped")
    if (sopsFiles === 0 && failed.length === 0) {
      ctx.note(`no sops files found in ${paths.join(", ")}`)
    }
    ctx.note(
      `updated ${String(count("updated"))}, unchanged ${String(count("unchanged"))}, failed ${String(failed.length)}${count("skipped") > 0 ? `, skipped ${String(count("skipped"))} (not sops files)` : ""}`,
    )
  }
  if (failed.length > 0) {
    throw new BulkUpdateError(
      `${String(failed.length)} of ${String(all.length - count("skipped"))} files could not be updated`,
      {
        hints: [
          ...failed.slice(0, 5).map((r) => `${r.path}: ${r.error?.message ?? "unknown error"}`),
          "the other files were updated; fix these and run updatekeys again",
        ],
      },
    )
  }
  return exitCodes.ok
}

function printJson(reports: Iterable<BulkReport>, ctx: CliContext): void {
  const files = [...reports].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  const summary: Record<string, number> = { updated: 0, unchanged: 0, failed: 0, skipped: 0 }
  for (const f of files) {
    const key = f.status === "would-update" ? "wouldUpdate" : f.status
    summary[key] = (summary[key] ?? 0) + 1
  }
  ctx.stdout.write(`${JSON.stringify({ files, summary }, null, 2)}\n`)
}

function parseCount(text: string | undefined, flag: string, min: number): number | undefined {
  if (text === undefined) return undefined
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > 255) {
    throw new UsageError(
      `${flag} must be a number from ${String(min)} to 255, got ${JSON.stringify(text)}`,
    )
  }
  return Number(text)
}

/**
 * A one-line progress bar on a terminal (stderr), redrawn at most every 80 ms, with lines
 * printed above it, and cleared at the end. Hand-written: it is smaller than any package.
 */
class ProgressBar {
  readonly #out: NodeJS.WriteStream
  #total = 0
  #done = 0
  #label = ""
  #lastDraw = 0

  constructor(out: NodeJS.WriteStream) {
    this.#out = out
  }

  start(total: number, label: string): void {
    this.#total = total
    this.#done = 0
    this.#label = label
    this.#draw(true)
  }

  tick(): void {
    this.#done += 1
    this.#draw(this.#done === this.#total)
  }

  print(line: string): void {
    this.#out.write(`\r\x1b[K${line}\n`)
    this.#draw(true)
  }

  clear(): void {
    this.#out.write("\r\x1b[K")
  }

  #draw(force: boolean): void {
    const now = Date.now()
    if (!force && now - this.#lastDraw < 80) return
    this.#lastDraw = now
    if (this.#total === 0) return
    const width = Math.max(10, Math.min(40, (this.#out.columns || 80) - 40))
    const filled = Math.round((this.#done / this.#total) * width)
    const bar = `${"#".repeat(filled)}${"-".repeat(width - filled)}`
    this.#out.write(
      `\r\x1b[K${this.#label} [${bar}] ${String(this.#done)}/${String(this.#total)} files`,
    )
  }
}
