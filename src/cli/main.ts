/**
 * The `coffer` dispatcher (docs/architecture.md "cli"): maps a command name to a lazily imported
 * module, runs it, prints failures (docs/conventions.md "CLI output") and picks the exit status.
 *
 * Only this file prints errors and chooses exit codes. Command modules are imported on
 * demand so start-up stays fast (`coffer age -d` of a small file: within 1.3x of `node -e 0`,
 * docs/goals.md "Performance targets"): nothing heavy may be imported statically here or in
 * `command-table.ts`, and process.stdout is created only when a command uses it.
 */
import type { CliContext } from "./command.js"
import { commandTable, commands, directPrograms } from "./command-table.js"
import { exitCodeOfToolError, exitCodes, type ExitCode } from "./exit-codes.js"
import { topLevelHelp, versionLine } from "./help.js"
import { isSystemError, reportError, reportErrorAsJson, reportWarning } from "./report.js"
import { InternalError, StdoutClosedError, ToolError, UsageError } from "../internal/errors.js"
import { nearestName } from "../internal/nearest.js"

/**
 * Runs the command line and exits the process with its status.
 * @param program the executable's name (`coffer`, `coffer-age`, `coffer-age-keygen`)
 * @param argv the arguments after the program name
 */
export function run(program: string, argv: readonly string[]): void {
  dispatch(program, argv).then(
    (code) => {
      finish(code)
    },
    (err: unknown) => {
      reportError(process.stderr, err)
      finish(exitCodes.bug)
    },
  )
}

// Creating process.stdout loads Node's stream machinery (and, for a pipe, net): about 10 ms
// that `coffer age -d -o FILE` never needs. It is created on first use, through this.
let stdoutCreated = false

function standardOutput(): NodeJS.WriteStream {
  if (!stdoutCreated) {
    stdoutCreated = true
    process.stdout.on("error", onStdoutError)
  }
  return process.stdout
}

function onStdoutError(err: unknown): void {
  if (isSystemError(err) && err.code === "EPIPE") {
    // The reader went away (`coffer age -d x | head`): stop quietly, as a SIGPIPE would.
    process.exit(exitCodes.failure)
  }
  reportError(process.stderr, err)
  process.exit(exitCodes.failure)
}

function finish(code: ExitCode): void {
  // Flush stdout before exiting; exiting explicitly means no stray handle (an unread
  // stdin, a terminal) can keep the process alive.
  if (!stdoutCreated) process.exit(code)
  standardOutput().write("", () => {
    process.exit(code)
  })
}

async function dispatch(program: string, argv: readonly string[]): Promise<ExitCode> {
  const direct = directPrograms[program]
  if (direct !== undefined) return runCommand(direct, program, argv)
  const [first, ...rest] = argv
  if (
    first === undefined ||
    first === "-h" ||
    first === "--help" ||
    first === "-help" ||
    first === "help"
  ) {
    if (first === "help" && rest[0] !== undefined)
      return runCommand(rest[0], `coffer ${rest[0]}`, ["--help"])
    if (first === undefined) {
      process.stderr.write(topLevelHelp(listCommands()))
      return exitCodes.usage
    }
    standardOutput().write(topLevelHelp(listCommands()))
    return exitCodes.ok
  }
  if (
    first === "--version" ||
    first === "-version" ||
    first === "-V" ||
    first === "-v" ||
    first === "version"
  ) {
    standardOutput().write(versionLine())
    return exitCodes.ok
  }
  if (first.startsWith("-")) {
    reportError(process.stderr, topLevelFlag(argv))
    return exitCodes.usage
  }
  if (!Object.hasOwn(commands, first) && /[./]/.test(first))
    return runCommand("edit", "coffer edit", argv)
  return runCommand(first, `coffer ${first}`, rest)
}

// sops's own command line (`sops -d FILE`, `sops -e -i FILE`, `sops -r FILE`): the action
// flags and the coffer command each one is
const sopsActionFlags: Readonly<Record<string, string>> = {
  "-d": "decrypt",
  "--decrypt": "decrypt",
  "-decrypt": "decrypt",
  "-e": "encrypt",
  "--encrypt": "encrypt",
  "-encrypt": "encrypt",
  "-r": "rotate",
  "--rotate": "rotate",
  "-rotate": "rotate",
}

/** A flag before any command: sops's `-d FILE` form points at the command to run. */
function topLevelFlag(argv: readonly string[]): UsageError {
  const [first = ""] = argv
  const action = argv.find((arg) => Object.hasOwn(sopsActionFlags, arg))
  if (action !== undefined) {
    const command = sopsActionFlags[action] ?? "decrypt"
    const others = argv.filter((arg) => arg !== action)
    return new UsageError(
      `coffer takes a command first: "${action}" is sops's form of "${command}"`,
      {
        hints: [
          `run: coffer ${[command, ...others].map(shellWord).join(" ")}`,
          `run "coffer ${command} --help" for its flags`,
        ],
      },
    )
  }
  return new UsageError(`unknown flag ${JSON.stringify(first)}: coffer takes a command first`, {
    hints: [`run "coffer --help" for the list of commands`],
  })
}

/** A word as a POSIX shell would need it written (for commands shown in hints). */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`
}

function listCommands(): { name: string; summary: string }[] {
  return Object.entries(commands).map(([name, c]) => ({ name, summary: c.summary }))
}

async function runCommand(
  name: string,
  invokedAs: string,
  args: readonly string[],
): Promise<ExitCode> {
  const entry = Object.hasOwn(commands, name) ? commands[name] : undefined
  if (entry === undefined) {
    reportError(process.stderr, unknownCommand(name))
    return exitCodes.usage
  }
  const errorFormat = { json: false }
  const ctx: CliContext = {
    invokedAs,
    env: process.env,
    // a getter: creating process.stdin costs time, and most commands never read it
    get stdin() {
      return process.stdin
    },
    get stdout() {
      return standardOutput()
    },
    // process.stderr is itself created on first use
    get stderr() {
      return process.stderr
    },
    warn: (message) => {
      reportWarning(process.stderr, message)
    },
    note: (message) => {
      process.stderr.write(`${message}\n`)
    },
    commandTable,
    reportErrorsAsJson: () => {
      errorFormat.json = true
    },
  }
  try {
    const module = await entry.load()
    return (await module.run(args, ctx)) ?? exitCodes.ok
  } catch (err) {
    // the reader of standard output went away (`coffer age -d x | head`): stop quietly, as
    // a SIGPIPE would (the same as onStdoutError)
    if (err instanceof StdoutClosedError) return exitCodes.failure
    const code = exitCodeFor(err)
    if (errorFormat.json) reportErrorAsJson(process.stderr, err, code)
    else reportError(process.stderr, err)
    return code
  }
}

function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof InternalError) return exitCodes.bug
  if (err instanceof UsageError) return exitCodes.usage
  if (err instanceof ToolError) return exitCodeOfToolError(err.name)
  if (isSystemError(err)) return exitCodes.failure
  return exitCodes.bug
}

function unknownCommand(name: string): UsageError {
  const names = Object.keys(commands)
  const typo = nearestName(name, names)
  const near =
    typo !== undefined
      ? [typo]
      : names.filter(
          (c) =>
            name.length >= 2 &&
            (c.startsWith(name.slice(0, 2)) || name.startsWith(c) || c.includes(name)),
        )
  return new UsageError(`unknown command ${JSON.stringify(name)}`, {
    hints: [
      ...(near.length > 0
        ? [`did you mean ${near.map((n) => `"coffer ${n}"`).join(" or ")}?`]
        : []),
      `run "coffer --help" for the list of commands`,
    ],
  })
}
