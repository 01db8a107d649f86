/**
 * How failures reach the user (docs/conventions.md "CLI output"): `error: …` and one `hint: …` per
 * hint on stderr, `warning: …` for warnings. A `ToolError` is the user's to fix; anything
 * else (an `InternalError`, a stray exception) is our bug and says so. Messages never
 * carry secrets: errors are built without them (docs/conventions.md "Errors").
 */
import { InternalError, ToolError } from "../internal/errors.js"

/** Something lines can be written to (stderr). */
export interface LineSink {
  write(text: string): unknown
}

/** Whether `err` is a Node system error (ENOENT, EACCES, EPIPE…). */
export function isSystemError(err: unknown): err is NodeJS.ErrnoException & { code: string } {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === "string"
}

/**
 * The lines that describe `err`, without a trailing newline.
 * @returns `error: …` followed by `hint: …` lines
 */
export function describeError(err: unknown): string[] {
  if (err instanceof ToolError && !(err instanceof InternalError)) {
    return [`error: ${oneLine(err.message)}`, ...err.hints.map((h) => `hint: ${oneLine(h)}`)]
  }
  if (isSystemError(err) && !(err instanceof InternalError)) {
    // A system error that escaped without being named by its caller: still the user's
    // environment (a missing file, a full disk), not a bug in our logic.
    return [`error: ${oneLine(err.message)}`]
  }
  const message = err instanceof Error ? err.message : String(err)
  const hints = err instanceof ToolError ? err.hints : []
  return [
    `error: ${oneLine(message)}`,
    ...hints.map((h) => `hint: ${oneLine(h)}`),
    "hint: this is a bug in coffer, please report it (with the command you ran, not your keys or secrets)",
  ]
}

/** Prints `err` on `sink` as `error:`/`hint:` lines. */
export function reportError(sink: LineSink, err: unknown): void {
  sink.write(describeError(err).join("\n") + "\n")
  if (process.env["COFFER_DEBUG"] === "1" && err instanceof Error && err.stack !== undefined) {
    sink.write(err.stack + "\n")
  }
}

/** The JSON object a `--json` command prints on stderr when it fails (docs/cli-json.md). */
export interface ErrorJson {
  readonly error: {
    /** The error's class (`NoIdentityMatchError`, `MacMismatchError`…), or `Error`. */
    readonly type: string
    readonly message: string
    readonly hints: readonly string[]
    /** The exit status the command ends with. */
    readonly exitStatus: number
    /** Whether this is a bug in coffer rather than something to fix in the input. */
    readonly bug: boolean
  }
}

/**
 * The JSON form of a failure: the same words as `describeError`, as fields.
 * @param status the exit status the command will end with
 */
export function errorJson(err: unknown, status: number): ErrorJson {
  const lines = describeError(err)
  const [first = "error: "] = lines
  const bug = !(err instanceof ToolError && !(err instanceof InternalError)) && !isSystemError(err)
  return {
    error: {
      type: err instanceof Error ? err.name : "Error",
      message: first.replace(/^error: /, ""),
      hints: lines.slice(1).map((l) => l.replace(/^hint: /, "")),
      exitStatus: status,
      bug: bug || err instanceof InternalError,
    },
  }
}

/** Prints `err` on `sink` as one line of JSON (`errorJson`). */
export function reportErrorAsJson(sink: LineSink, err: unknown, status: number): void {
  sink.write(`${JSON.stringify(errorJson(err, status))}\n`)
}

/** Prints `warning: message` on `sink`. */
export function reportWarning(sink: LineSink, message: string): void {
  sink.write(`warning: ${oneLine(message)}\n`)
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ")
}
