/**
 * `coffer audit [DIR]` (docs/audit.md): who can read which secret, which files are stale
 * against their rules, and what plaintext should not be in the tree. The tree and the rules
 * are read by `audit/repository.ts`, judged by `audit/audit.ts`, and shown as a table, JSON
 * (`--json`) or one HTML page (`--html FILE`). Nothing is decrypted.
 */
import { resolve } from "node:path"
import type { CliContext } from "../command.js"
import type { ExitCode } from "../exit-codes.js"
import { flagIsSet, flagValue, flagValues, type FlagSpec } from "../flags.js"
import { replaceFile } from "../../system/replace-file.js"
import { parseCommandLine } from "../sops-file.js"
import { UsageError } from "../../internal/errors.js"
import { auditRepository } from "../../audit/audit.js"
import { AuditFindingsError } from "../../audit/errors.js"
import { DEFAULT_FAIL_ON, failingFindings, parseFailOn } from "../../audit/fail-on.js"
import { renderHtml } from "../../audit/render-html.js"
import { renderTable } from "../../audit/render-table.js"
import { displayRoot, gatherAuditInput } from "../../audit/repository.js"

/** The flags of `coffer audit` (also read by `coffer completion`). */
export const flagSpecs: readonly FlagSpec[] = [
  { key: "json", names: ["json"], kind: "boolean" },
  { key: "html", names: ["html"], kind: "value" },
  { key: "failOn", names: ["fail-on"], kind: "value" },
  { key: "staged", names: ["staged"], kind: "boolean" },
  { key: "maxAge", names: ["max-age"], kind: "value" },
  { key: "config", names: ["config"], kind: "value" },
  { key: "rules", names: ["rules"], kind: "value" },
  { key: "noMatrix", names: ["no-matrix"], kind: "boolean" },
]

function helpText(invokedAs: string): string {
  return `Usage:
    ${invokedAs} [--json | --html FILE] [--fail-on LEVEL] [--max-age DAYS] [DIR]
    ${invokedAs} --staged                  (in a pre-commit hook)

Reads every file of DIR (default: the current directory) that git tracks or would track
(.gitignore is honoured), with the rules in .sops.yaml and every secrets.nix, and reports:
  - stale files: recipients that differ from the file's rule, per key group, with the
    command that fixes them;
  - encrypted files no rule matches, files no listed key can decrypt, rules that match no
    file, keys that no rule uses;
  - who can read what: identities (named by their YAML anchor or secrets.nix name) by file;
  - plaintext: files a rule says should be encrypted, values in clear that look like
    secrets, private keys (AGE-SECRET-KEY-1…, SSH and PGP private keys);
  - with --max-age, data keys older than that.
Nothing is decrypted and no key is needed.

Flags:
    --json                Print the report as JSON (schema: docs/audit.md).
    --html FILE           Also write the report as one self-contained HTML page.
    --fail-on LEVEL       Exit 1 when a finding at LEVEL or above exists: plaintext,
                          stale (default), warning, never; or finding classes, comma
                          separated (stale,unused-key).
    --staged              Only what git has staged, as a pre-commit hook does (default
                          --fail-on plaintext). See "coffer hook install".
    --max-age DAYS        Report data keys older than DAYS (also 90d, 12w, 1y).
    --config PATH         The .sops.yaml (default: SOPS_CONFIG, else the first .sops.yaml
                          from DIR upward).
    --rules PATH          A secrets.nix (repeatable; default: RULES, else every
                          secrets.nix in DIR).
    --no-matrix           Leave the matrix out of the terminal output.

Exit status: 0 when nothing at or above --fail-on was found, 1 otherwise, 2 for a wrong
command line.

Examples:
    $ ${invokedAs}
    $ ${invokedAs} --json . | jq '.findings[] | select(.class == "stale") | .fix'
    $ ${invokedAs} --html audit.html --fail-on never
    $ ${invokedAs} --max-age 180 --fail-on warning infra/
`
}

/**
 * `--max-age`: days, or a number followed by d, w, m (30 days) or y (365 days).
 * @throws UsageError for anything else
 */
function parseMaxAge(text: string): number {
  const m = /^(\d+)([dwmy]?)$/.exec(text.trim())
  if (m === null || Number(m[1]) === 0) {
    throw new UsageError(
      `--max-age must be a number of days (or 12w, 6m, 1y), got ${JSON.stringify(text)}`,
    )
  }
  const unit = { "": 1, d: 1, w: 7, m: 30, y: 365 }[m[2] as "" | "d" | "w" | "m" | "y"]
  return Number(m[1]) * unit
}

/**
 * Runs `coffer audit`.
 * @throws UsageError; AuditFindingsError when findings at or above --fail-on exist
 */
export async function run(args: readonly string[], ctx: CliContext): Promise<ExitCode | undefined> {
  const parsed = parseCommandLine(args, flagSpecs, ctx, helpText)
  if (parsed === undefined) return undefined
  if (parsed.positionals.length > 1) {
    throw new UsageError(`${ctx.invokedAs} takes one DIR, got ${String(parsed.positionals.length)}`)
  }
  const cwd = process.cwd()
  const root = resolve(cwd, parsed.positionals[0] ?? ".")
  const staged = flagIsSet(parsed, "staged")
  const failOn = parseFailOn(
    flagValue(parsed, "failOn") ?? (staged ? "plaintext" : DEFAULT_FAIL_ON),
  )
  const maxAgeText = flagValue(parsed, "maxAge")
  const maxAgeDays = maxAgeText === undefined ? undefined : parseMaxAge(maxAgeText)
  const config = flagValue(parsed, "config")
  const json = flagIsSet(parsed, "json")
  const html = flagValue(parsed, "html")

  const gathered = await gatherAuditInput({
    root,
    config: config === undefined ? undefined : resolve(cwd, config),
    rules: flagValues(parsed, "rules").map((r) => resolve(cwd, r)),
    env: ctx.env,
    staged,
    maxAgeDays,
    now: new Date(),
  })
  for (const warning of gathered.warnings) ctx.warn(warning)
  const report = auditRepository(gathered.input)
  const rootLabel = displayRoot(root, cwd)

  if (html !== undefined) {
    // public facts only (paths, recipients, rule patterns): an ordinary file mode
    await replaceFile(resolve(cwd, html), renderHtml(report, { rootLabel }), 0o644)
    if (!json) ctx.note(`wrote ${html}`)
  }
  if (json) ctx.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
  else {
    const noColor = ctx.env["NO_COLOR"] !== undefined && ctx.env["NO_COLOR"] !== ""
    const color = ctx.stdout.isTTY && !noColor && ctx.env["TERM"] !== "dumb"
    ctx.stdout.write(
      renderTable(report, {
        color,
        width: ctx.stdout.isTTY ? ctx.stdout.columns || 100 : 160,
        rootLabel,
        matrix: !flagIsSet(parsed, "noMatrix"),
      }),
    )
  }
  const failing = failingFindings(report, failOn)
  if (failing.length > 0) {
    const classes = [...new Set(failing.map((f) => f.class))]
    throw new AuditFindingsError(
      `${String(failing.length)} finding${failing.length === 1 ? "" : "s"} at or above --fail-on ${flagValue(parsed, "failOn") ?? (staged ? "plaintext" : DEFAULT_FAIL_ON)} (${classes.join(", ")})`,
      {
        hints: [
          ...(staged
            ? ["nothing was committed; fix the files above, git add them and commit again"]
            : []),
          "each finding above says how to fix it; --fail-on never only reports",
        ],
      },
    )
  }
  return undefined
}
