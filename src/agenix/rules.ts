/**
 * agenix's rules file (docs/agenix.md "The agenix command line"): `secrets.nix` evaluates
 * to an attribute set mapping file names to `{ publicKeys = [ "age1…" "ssh-ed25519 AAAA…"
 * ]; armor = true; }`. agenix reads exactly those two attributes (`armor` counts only when
 * it is `true`); the file is named by the `RULES` environment variable, default `./secrets.nix`.
 *
 * The file is evaluated with `nix-instantiate --eval --strict --json` (as agenix does, but
 * once for the whole file instead of twice per secret). As a non-root user without a Nix
 * daemon, evaluation is retried with `--store dummy://` (docs/agenix.md "The agenix command line"),
 * which is enough for the plain data a rules file holds. A rules file whose name ends in
 * `.json` is read as the same data without Nix, for machines that have none.
 *
 * Names are looked up as agenix does (the string given on the command line) and also by
 * path, resolved against the rules file's directory as ragenix does, so `-r` finds every
 * file wherever it is run from. Parsing and lookup are pure; running Nix and reading the
 * file go through `RulesIo`, whose default is the real system.
 */
import { spawn } from "node:child_process"
import { readFile } from "node:fs/promises"
import { dirname, isAbsolute, resolve } from "node:path"
import { AgenixRulesError, NixNotFoundError, NoAgenixRuleError } from "./errors.js"

/** The rules file agenix reads when `RULES` is not set. */
export const DEFAULT_RULES_FILE = "./secrets.nix"

/** One file's rule. */
export interface AgenixRule {
  /** The attribute name, as written in the rules file (`"secrets/db.age"`). */
  readonly name: string
  /** The file's absolute path: the name resolved against the rules file's directory. */
  readonly path: string
  /**
   * The recipients: `age1…`, plugin recipients, `ssh-ed25519 …`/`ssh-rsa …` lines; trimmed,
   * no repeats.
   */
  readonly publicKeys: readonly string[]
  /** Whether the file is written ASCII-armored (`armor = true`). */
  readonly armor: boolean
}

/** A whole rules file. */
export interface AgenixRules {
  /** The rules file's absolute path, for messages. */
  readonly source: string
  /** The directory names are resolved against. */
  readonly directory: string
  /** Every rule, in the (sorted) order Nix prints attribute names. */
  readonly rules: readonly AgenixRule[]
}

/** What loading a rules file needs from the system. */
export interface RulesIo {
  /**
   * Evaluates a Nix file to JSON (`nix-instantiate --eval --strict --json FILE`).
   * @returns the JSON text
   * @throws NixNotFoundError when Nix is not installed; AgenixRulesError when evaluation fails
   */
  evaluateNix(path: string): Promise<string>
  /** @returns the file's text @throws for a missing or unreadable file */
  readFile(path: string): Promise<string>
}

/**
 * The rules file to use: `--rules`, else `RULES`, else `./secrets.nix`.
 * @param env the environment
 * @param flag the `--rules` value, if given
 * @param cwd the working directory relative names are resolved against
 * @returns an absolute path
 */
export function chooseRulesFile(
  env: Readonly<Record<string, string | undefined>>,
  flag: string | undefined,
  cwd: string,
): string {
  const fromEnv = env["RULES"]
  const chosen = flag ?? (fromEnv !== undefined && fromEnv !== "" ? fromEnv : DEFAULT_RULES_FILE)
  return resolve(cwd, chosen)
}

/**
 * Reads and validates a rules file.
 * @param path the rules file's absolute path (`.nix`, or `.json` for the same data)
 * @param io evaluation and file reading (default: the real system)
 * @returns the rules
 * @throws NixNotFoundError, AgenixRulesError
 */
export async function loadAgenixRules(
  path: string,
  io: RulesIo = systemRulesIo,
): Promise<AgenixRules> {
  let text: string
  try {
    text = path.endsWith(".json") ? await io.readFile(path) : await io.evaluateNix(path)
  } catch (cause) {
    if (cause instanceof NixNotFoundError || cause instanceof AgenixRulesError) throw cause
    throw new AgenixRulesError(
      `can't read rules file ${JSON.stringify(path)}: ${reasonOf(cause)}`,
      {
        cause,
        hints: [
          "agenix reads the file named by RULES (default ./secrets.nix); run from the directory that has it or set RULES",
        ],
      },
    )
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (cause) {
    throw new AgenixRulesError(`rules file ${JSON.stringify(path)} did not evaluate to JSON`, {
      cause,
    })
  }
  return parseAgenixRules(value, path)
}

/**
 * Validates evaluated rules (pure): an attribute set of `{ publicKeys; armor?; }`.
 * @param value the evaluated rules file
 * @param source the rules file's absolute path (names are resolved against its directory)
 * @returns the rules
 * @throws AgenixRulesError naming the entry and attribute that is wrong
 */
export function parseAgenixRules(value: unknown, source: string): AgenixRules {
  const directory = dirname(source)
  const where = `rules file ${JSON.stringify(source)}`
  if (!isRecord(value)) {
    throw new AgenixRulesError(`${where} must be an attribute set of files`, {
      hints: ['write it as { "secret.age".publicKeys = [ "age1…" ]; }'],
    })
  }
  const rules: AgenixRule[] = []
  for (const [name, entry] of Object.entries(value)) {
    const at = `${where}: ${JSON.stringify(name)}`
    if (!isRecord(entry)) {
      throw new AgenixRulesError(`${at} must be an attribute set with publicKeys`, {
        hints: [`write it as ${JSON.stringify(name)}.publicKeys = [ "age1…" ];`],
      })
    }
    const keys = entry["publicKeys"]
    if (!Array.isArray(keys)) {
      throw new AgenixRulesError(`${at} has no publicKeys list`, {
        hints: ["every file needs publicKeys = [ … ] with at least one age or SSH public key"],
      })
    }
    const publicKeys: string[] = []
    for (const [index, key] of keys.entries()) {
      if (typeof key !== "string") {
        throw new AgenixRulesError(`${at}: publicKeys item ${String(index + 1)} is not a string`, {
          hints: ['public keys are strings: "age1…" or "ssh-ed25519 AAAA…"'],
        })
      }
      const trimmed = key.trim()
      if (trimmed !== "" && !publicKeys.includes(trimmed)) publicKeys.push(trimmed)
    }
    if (publicKeys.length === 0) {
      throw new AgenixRulesError(`${at} has an empty publicKeys list`, {
        hints: ["a file nobody can decrypt is of no use: list at least one public key"],
      })
    }
    const armor = entry["armor"]
    if (armor !== undefined && typeof armor !== "boolean") {
      throw new AgenixRulesError(`${at}: armor must be true or false`)
    }
    rules.push({ name, path: resolve(directory, name), publicKeys, armor: armor === true })
  }
  return { source, directory, rules }
}

/**
 * Finds the rule of a file named on the command line: by the name as given (agenix), else
 * by path (the argument resolved against `cwd` against each rule's resolved path).
 * @param rules the rules file
 * @param file the file as given on the command line
 * @param cwd the working directory
 * @returns the rule
 * @throws NoAgenixRuleError listing the names the rules file has
 */
export function findAgenixRule(rules: AgenixRules, file: string, cwd: string): AgenixRule {
  const byName = rules.rules.find((r) => r.name === file)
  if (byName !== undefined) return byName
  const absolute = isAbsolute(file) ? resolve(file) : resolve(cwd, file)
  const byPath = rules.rules.find((r) => r.path === absolute)
  if (byPath !== undefined) return byPath
  const names = rules.rules.map((r) => JSON.stringify(r.name))
  throw new NoAgenixRuleError(
    `${JSON.stringify(file)} has no entry in rules file ${JSON.stringify(rules.source)}`,
    {
      hints: [
        names.length === 0
          ? "the rules file lists no files"
          : `it lists ${names.slice(0, 10).join(", ")}${names.length > 10 ? ", …" : ""}`,
        `add ${JSON.stringify(file)}.publicKeys = [ … ]; to it (names are relative to ${rules.directory})`,
      ],
    },
  )
}

/** The real system: `nix-instantiate` from PATH and the file system. */
export const systemRulesIo: RulesIo = {
  evaluateNix: async (path) => {
    const args = ["--eval", "--strict", "--json", path]
    const first = await runNixInstantiate(args)
    if (first.status === 0) return first.stdout
    // spec (docs/agenix.md "The agenix command line"): without access to the Nix daemon's socket,
    // plain evaluation fails; a dummy store is enough for data-only files.
    if (/daemon-socket|Permission denied/.test(first.stderr)) {
      const retry = await runNixInstantiate(["--store", "dummy://", ...args])
      if (retry.status === 0) return retry.stdout
      throw evaluationError(path, retry.stderr)
    }
    throw evaluationError(path, first.stderr)
  },
  readFile: (path) => readFile(path, "utf8"),
}

interface ProcessResult {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
}

function runNixInstantiate(args: readonly string[]): Promise<ProcessResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn("nix-instantiate", args, { stdio: ["ignore", "pipe", "pipe"] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on("data", (d: Buffer) => out.push(d))
    child.stderr.on("data", (d: Buffer) => err.push(d))
    child.on("error", (cause: NodeJS.ErrnoException) => {
      if (cause.code === "ENOENT") {
        reject(
          new NixNotFoundError("nix-instantiate is not installed, so secrets.nix can't be read", {
            cause,
            hints: [
              "install nix (Debian: apt-get install nix-bin)",
              "or give the same rules as JSON: RULES=secrets.json (nix-instantiate --eval --strict --json secrets.nix > secrets.json)",
            ],
          }),
        )
      } else reject(cause)
    })
    child.on("close", (status) => {
      resolvePromise({
        status,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      })
    })
  })
}

/** Nix's own message, reduced to its first error line and its location. */
function evaluationError(path: string, stderr: string): AgenixRulesError {
  const lines = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "")
  const message = lines.find((l) => l.startsWith("error:")) ?? lines[0] ?? "nix-instantiate failed"
  const location = lines.find((l) => l.startsWith("at "))
  return new AgenixRulesError(
    `can't evaluate rules file ${JSON.stringify(path)}: ${message.replace(/^error:\s*/, "")}`,
    {
      hints: [
        ...(location === undefined ? [] : [location]),
        `check it with: nix-instantiate --eval --strict --json ${path}`,
      ],
    },
  )
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
}

function reasonOf(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  if (code === "ENOENT") return "no such file"
  if (code === "EACCES") return "permission denied"
  return error instanceof Error ? error.message : String(error)
}
