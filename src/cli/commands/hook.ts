/**
 * `coffer hook install|uninstall|show` (docs/audit.md "Pre-commit hook"): writes git's
 * pre-commit hook so every commit runs `coffer audit --staged` and is refused when it
 * holds plaintext. The hook goes where git looks for it (`git rev-parse --git-path
 * hooks/pre-commit`, which follows `core.hooksPath` and worktrees). An existing hook that
 * is not coffer's is never overwritten, unless `--force` (which keeps it beside, as
 * `pre-commit.before-coffer`).
 */
import { existsSync, readFileSync, realpathSync, renameSync, unlinkSync } from "node:fs"
import { dirname, isAbsolute, join, relative, resolve } from "node:path"
import { mkdirSync } from "node:fs"
import type { CliContext } from "../command.js"
import type { ExitCode } from "../exit-codes.js"
import { flagIsSet, flagValue, type FlagSpec } from "../flags.js"
import { replaceFile } from "../../system/replace-file.js"
import { parseCommandLine } from "../sops-file.js"
import { UsageError } from "../../internal/errors.js"
import { HookExistsError } from "../../audit/errors.js"
import { runGit } from "../../audit/git.js"
import { HOOK_MARKER, decideHookInstall, hookScript } from "../../audit/hook.js"

/** The subcommands (also read by `coffer completion`). */
export const subcommands: readonly string[] = ["install", "uninstall", "show"]

/** The flags of `coffer hook` (also read by `coffer completion`). */
export const flagSpecs: readonly FlagSpec[] = [
  { key: "force", names: ["force"], kind: "boolean" },
  { key: "command", names: ["command"], kind: "value" },
]

function helpText(invokedAs: string): string {
  return `Usage:
    ${invokedAs} install [--force] [--command CMD]
    ${invokedAs} uninstall
    ${invokedAs} show [--command CMD]

install writes git's pre-commit hook in the current repository: every commit then runs
"coffer audit --staged", which checks only what is staged and refuses the commit when it
holds plaintext (a file a creation rule says to encrypt, a secret-looking value in clear,
a private key). An existing hook that is not coffer's is left alone: add the line
"coffer audit --staged" to it, or replace it with --force (the old one is kept as
pre-commit.before-coffer). uninstall removes coffer's hook (only coffer's); show prints it.

Flags:
    --force          Replace a pre-commit hook that is not coffer's (kept beside it).
    --command CMD    How the hook runs coffer (default: the absolute path of the coffer
                     that installs it, as "show" prints; "coffer" takes it from PATH).

Examples:
    $ ${invokedAs} install
    $ ${invokedAs} install --command coffer
    $ git commit -m "add the db password"       # refused if it holds plaintext
    $ ${invokedAs} uninstall
`
}

/** The running coffer's `bin/coffer`, absolute. */
function defaultCommand(): string {
  const script = process.argv[1]
  if (script === undefined || script === "") return "coffer"
  try {
    return realpathSync(script)
  } catch {
    return resolve(script)
  }
}

async function hookPath(cwd: string): Promise<string> {
  const result = await runGit(["rev-parse", "--git-path", "hooks/pre-commit"], cwd)
  if (result.status !== 0) {
    throw new UsageError(`${JSON.stringify(cwd)} is not in a git repository`, {
      hints: ["run it in the repository whose commits should be checked (git init first)"],
    })
  }
  const path = result.stdout.toString("utf8").trim()
  return isAbsolute(path) ? path : resolve(cwd, path)
}

/**
 * Runs `coffer hook`.
 * @throws UsageError; HookExistsError when another pre-commit hook is in the way
 */
export async function run(args: readonly string[], ctx: CliContext): Promise<ExitCode | undefined> {
  const parsed = parseCommandLine(args, flagSpecs, ctx, helpText)
  if (parsed === undefined) return undefined
  const [action, ...extra] = parsed.positionals
  if (action === undefined || !subcommands.includes(action) || extra.length > 0) {
    throw new UsageError(
      action === undefined
        ? `${ctx.invokedAs} needs install, uninstall or show`
        : `unknown ${ctx.invokedAs} action ${JSON.stringify(action)}`,
      { hints: [`run "${ctx.invokedAs} --help" for examples`] },
    )
  }
  const script = hookScript(flagValue(parsed, "command") ?? defaultCommand())
  if (action === "show") {
    ctx.stdout.write(script)
    return undefined
  }
  const cwd = process.cwd()
  const path = await hookPath(cwd)
  const shown = relative(cwd, path) || path
  const existing = existsSync(path) ? readFileSync(path, "utf8") : undefined
  if (action === "uninstall") {
    if (existing === undefined) {
      ctx.note(`no pre-commit hook at ${shown}: nothing to remove`)
      return undefined
    }
    if (!existing.includes(HOOK_MARKER)) {
      throw new HookExistsError(`${shown} is not coffer's pre-commit hook: it was left alone`, {
        hints: ["remove the coffer audit --staged line from it by hand, if you added one"],
      })
    }
    unlinkSync(path)
    ctx.note(`removed ${shown}`)
    return undefined
  }
  const decision = decideHookInstall(existing, script)
  switch (decision) {
    case "unchanged":
      ctx.note(`${shown} is already coffer's pre-commit hook`)
      return undefined
    case "foreign":
      if (!flagIsSet(parsed, "force")) {
        throw new HookExistsError(
          `${shown} already exists and is not coffer's: it was left alone`,
          {
            hints: [
              "add this line to it: coffer audit --staged || exit 1",
              "or replace it with coffer hook install --force (the old one is kept as pre-commit.before-coffer)",
            ],
          },
        )
      }
      renameSync(path, join(dirname(path), "pre-commit.before-coffer"))
      ctx.note(`kept the old hook as ${join(dirname(shown), "pre-commit.before-coffer")}`)
      break
    case "create":
    case "update":
      break
    default: {
      const never: never = decision
      return never
    }
  }
  mkdirSync(dirname(path), { recursive: true })
  await replaceFile(path, script, 0o755)
  ctx.note(
    `${decision === "update" ? "updated" : "installed"} ${shown}: commits now run coffer audit --staged`,
  )
  return undefined
}
