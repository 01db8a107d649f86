/**
 * The audit's effects (docs/audit.md "What is read"): which files a directory holds (git's
 * own list in a git repository, so `.gitignore` and `.git/info/exclude` count as git counts
 * them; a walk that reads `.gitignore` files otherwise), what is staged (`--staged`: the
 * staged content, from git's index), the rules files (`.sops.yaml` as sops finds it,
 * `secrets.nix` through `agenix/rules.ts`), and each file's bytes, read once. The pure
 * audit (`audit/audit.ts`) gets all of it as values.
 */
import { existsSync, readFileSync } from "node:fs"
import { lstat, readFile, readdir } from "node:fs/promises"
import { join, relative, resolve, sep } from "node:path"
import { loadAgenixRules } from "../agenix/rules.js"
import { IoError, ToolError, UsageError } from "../internal/errors.js"
import { locateSopsConfig, parseSopsConfig } from "../policy/config.js"
import type {
  AgenixRulesInput,
  AuditInput,
  KeyBirth,
  RulesProblem,
  SopsRulesInput,
} from "./audit.js"
import type { FileRecord } from "./classify.js"
import { classifyFile } from "./classify.js"
import type { IgnoreFile } from "./gitignore.js"
import { isIgnored, parseGitignore } from "./gitignore.js"
import type { GitResult } from "./git.js"
import { readBlobs, runGit } from "./git.js"
import { findKeyBirths } from "./history.js"

/** Files larger than this are not read (secrets are small; the report lists them as skipped). */
export const MAX_AUDITED_FILE_SIZE: number = 16 * 1024 * 1024

/** What to gather. */
export interface GatherOptions {
  /** The directory to audit (absolute). */
  readonly root: string
  /** `--config PATH` (absolute), else `SOPS_CONFIG`, else `.sops.yaml` from the root upward. */
  readonly config?: string | undefined
  /** `--rules PATH` (absolute, repeatable), else `RULES`, else every `secrets.nix` in the tree. */
  readonly rules: readonly string[]
  readonly env: Readonly<Record<string, string | undefined>>
  /** Only what git has staged. */
  readonly staged: boolean
  readonly maxAgeDays?: number | undefined
  readonly now: Date
}

/** The gathered input and what to warn about. */
export interface Gathered {
  readonly input: AuditInput
  readonly warnings: readonly string[]
  /** Whether the root is inside a git repository. */
  readonly git: boolean
}

/** `/`-separated, relative to the root. */
function toPosix(path: string): string {
  return sep === "/" ? path : path.split(sep).join("/")
}

function splitNul(buffer: Buffer): string[] {
  return buffer
    .toString("utf8")
    .split("\0")
    .filter((p) => p !== "")
}

/**
 * The git prefix of a directory (its path inside the work tree, `""` at the top, ending in
 * `/` otherwise), or undefined when it is not in a git work tree.
 */
async function gitPrefix(root: string): Promise<string | undefined> {
  let result: GitResult
  try {
    result = await runGit(["rev-parse", "--show-prefix"], root)
  } catch {
    return undefined
  }
  if (result.status !== 0) return undefined
  return result.stdout.toString("utf8").trim()
}

/** The files git knows under the root: tracked and untracked, without ignored ones. */
async function gitTreeFiles(root: string): Promise<string[]> {
  const result = await runGit(
    ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    root,
  )
  if (result.status !== 0) {
    throw new IoError(`git ls-files failed in ${JSON.stringify(root)}: ${result.stderr.trim()}`)
  }
  return [...new Set(splitNul(result.stdout))].sort()
}

/** The files staged for the next commit (added, copied, modified, renamed). */
async function gitStagedFiles(root: string): Promise<string[]> {
  const result = await runGit(
    ["diff", "--cached", "--name-only", "-z", "--diff-filter=ACMR", "--relative", "--no-renames"],
    root,
  )
  if (result.status !== 0) {
    throw new IoError(
      `git diff --cached failed in ${JSON.stringify(root)}: ${result.stderr.trim()}`,
    )
  }
  return splitNul(result.stdout).sort()
}

/** Walks a directory that is not a git repository, honouring its `.gitignore` files. */
async function walkTree(root: string): Promise<string[]> {
  const files: string[] = []
  const visit = async (dir: string, ignores: readonly IgnoreFile[]): Promise<void> => {
    const absolute = dir === "" ? root : join(root, dir)
    let here = ignores
    const gitignore = join(absolute, ".gitignore")
    if (existsSync(gitignore)) {
      here = [...ignores, parseGitignore(readFileSync(gitignore, "utf8"), dir)]
    }
    const entries = (await readdir(absolute, { withFileTypes: true })).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    )
    for (const entry of entries) {
      if (entry.name === ".git") continue
      const path = dir === "" ? entry.name : `${dir}/${entry.name}`
      const isDirectory = entry.isDirectory()
      if (isIgnored(path, isDirectory, here)) continue
      if (isDirectory) await visit(path, here)
      else if (entry.isFile() || entry.isSymbolicLink()) files.push(path)
    }
  }
  await visit("", [])
  return files
}

function describe(cause: unknown): string {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code
  if (code === "ENOENT") return "no such file"
  if (code === "EACCES") return "permission denied"
  return cause instanceof Error ? cause.message : String(cause)
}

/**
 * Gathers everything the audit looks at.
 * @param options the directory, rules files, scope and clock
 * @returns the audit's input, warnings, and whether git was used
 * @throws UsageError for `--staged` outside a git repository; IoError when git fails
 */
export async function gatherAuditInput(options: GatherOptions): Promise<Gathered> {
  const { root } = options
  const warnings: string[] = []
  const problems: RulesProblem[] = []
  const prefix = await gitPrefix(root)
  const git = prefix !== undefined
  if (options.staged && !git) {
    throw new UsageError(
      `--staged needs a git repository, and ${JSON.stringify(root)} is not in one`,
      {
        hints: ["run coffer audit without --staged to audit the whole directory"],
      },
    )
  }
  const treePaths = git ? await gitTreeFiles(root) : await walkTree(root)
  const paths = options.staged ? await gitStagedFiles(root) : treePaths
  const display = (absolute: string): string => toPosix(relative(root, absolute)) || "."

  // the staged content of a file under the root, when --staged
  const staged = options.staged
    ? await readBlobs(
        root,
        [...paths, ".sops.yaml"].map((p) => `:${prefix ?? ""}${p}`),
      )
    : new Map<string, Buffer | undefined>()
  const stagedContent = (path: string): Buffer | undefined => staged.get(`:${prefix ?? ""}${path}`)

  // .sops.yaml, as sops finds it from the audited directory
  let sops: SopsRulesInput | undefined
  const location = locateSopsConfig(
    { cwd: root, explicit: options.config, env: options.env["SOPS_CONFIG"] },
    { exists: existsSync },
  )
  for (const ignored of location.ignored) {
    warnings.push(
      `${display(ignored)} is ignored: sops (and coffer) only read files named .sops.yaml`,
    )
  }
  if (location.path !== undefined) {
    const shown = display(location.path)
    try {
      const fromIndex =
        location.path === join(root, ".sops.yaml") ? stagedContent(".sops.yaml") : undefined
      const text = fromIndex?.toString("utf8") ?? readFileSync(location.path, "utf8")
      // unknown keys are reported (as warnings), not a reason to stop reading the rules
      const config = parseSopsConfig(text, shown, { allowUnknownKeys: true })
      warnings.push(...config.warnings)
      sops = { path: shown, absolutePath: location.path, config, text }
    } catch (cause) {
      problems.push({
        path: shown,
        message: cause instanceof ToolError ? cause.message : `can't read it: ${describe(cause)}`,
        hints: cause instanceof ToolError ? cause.hints : [],
      })
    }
  }
  for (const path of treePaths) {
    if (
      path.endsWith("/.sops.yaml") &&
      sops !== undefined &&
      join(root, path) !== sops.absolutePath
    ) {
      warnings.push(
        `${path} is not used: sops reads the .sops.yaml of the directory it runs in (${sops.path} here)`,
      )
    }
  }

  // secrets.nix files
  const fromEnv = options.env["RULES"]
  const rulesFiles =
    options.rules.length > 0
      ? options.rules
      : fromEnv !== undefined && fromEnv !== ""
        ? [resolve(root, fromEnv)]
        : treePaths
            .filter((p) => p === "secrets.nix" || p.endsWith("/secrets.nix"))
            .map((p) => join(root, p))
  const agenix: AgenixRulesInput[] = []
  for (const file of rulesFiles) {
    const shown = display(file)
    try {
      const rules = await loadAgenixRules(file)
      const source = file.endsWith(".json") ? "" : await readFile(file, "utf8")
      agenix.push({ path: shown, rules, source })
    } catch (cause) {
      problems.push({
        path: shown,
        message: cause instanceof ToolError ? cause.message : `can't read it: ${describe(cause)}`,
        hints: cause instanceof ToolError ? cause.hints : [],
        rules: "agenix",
      })
    }
  }

  // every file, read once
  const files: FileRecord[] = []
  const contents = new Map<string, Uint8Array>()
  const batch = 32
  for (let i = 0; i < paths.length; i += batch) {
    const slice = paths.slice(i, i + batch)
    const records = await Promise.all(
      slice.map(async (path): Promise<FileRecord> => {
        if (options.staged) {
          const bytes = stagedContent(path)
          if (bytes === undefined)
            return { kind: "skipped", path, reason: "not a file in git's index" }
          if (bytes.length > MAX_AUDITED_FILE_SIZE)
            return { kind: "skipped", path, reason: "larger than 16 MiB" }
          return classifyFile(
            path,
            new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
          )
        }
        const absolute = join(root, path)
        try {
          const info = await lstat(absolute)
          if (info.isSymbolicLink()) return { kind: "skipped", path, reason: "a symbolic link" }
          if (!info.isFile()) return { kind: "skipped", path, reason: "not a regular file" }
          if (info.size > MAX_AUDITED_FILE_SIZE)
            return { kind: "skipped", path, reason: "larger than 16 MiB" }
          const buffer = await readFile(absolute)
          const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
          const record = classifyFile(path, bytes)
          if (
            options.maxAgeDays !== undefined &&
            (record.kind === "sops" || record.kind === "age")
          ) {
            contents.set(path, bytes)
          }
          return record
        } catch (cause) {
          // listed by git but deleted from the work tree: nothing to audit
          if ((cause as NodeJS.ErrnoException).code === "ENOENT") {
            return { kind: "skipped", path, reason: "deleted from the work tree" }
          }
          return { kind: "skipped", path, reason: `can't be read: ${describe(cause)}` }
        }
      }),
    )
    files.push(...records)
  }

  let births: ReadonlyMap<string, KeyBirth> | undefined
  if (options.maxAgeDays !== undefined && git && !options.staged) {
    births = await findKeyBirths(root, files, contents)
  }
  return {
    input: {
      root,
      sops,
      agenix,
      problems,
      files: files.filter(
        (f) => !(f.kind === "skipped" && f.reason === "deleted from the work tree"),
      ),
      treePaths,
      ...(births === undefined ? {} : { births }),
      now: options.now,
      scope: options.staged ? "staged" : "tree",
      maxAgeDays: options.maxAgeDays,
    },
    warnings,
    git,
  }
}

/** @returns the directory's path for people, relative to `cwd` when inside it */
export function displayRoot(root: string, cwd: string): string {
  const rel = relative(cwd, root)
  return rel === "" ? "." : rel.startsWith("..") ? root : rel
}
