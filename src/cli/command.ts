/**
 * The contract between the dispatcher (`main.ts`) and a command module in `commands/`.
 *
 * A command module exports `run(args, ctx)`. It throws `ToolError`s for failures and never
 * prints errors or calls `process.exit` itself: `main.ts` reports and picks the exit code.
 */
import type { ExitCode } from "./exit-codes.js"

/** A command of the dispatcher's table, as `coffer completion` reads it. */
export interface CommandListing {
  readonly name: string
  readonly summary: string
  /** Imports the command's module. */
  readonly load: () => Promise<CommandModule>
}

/**
 * What a command may touch: its name as invoked, the environment, the standard streams, and
 * the dispatcher's table of commands.
 */
export interface CliContext {
  /** How the user invoked this command, for messages and help (`coffer age`, `coffer-age`). */
  readonly invokedAs: string
  readonly env: NodeJS.ProcessEnv
  readonly stdin: NodeJS.ReadStream
  readonly stdout: NodeJS.WriteStream
  readonly stderr: NodeJS.WriteStream
  /** Prints `warning: …` on stderr. */
  warn(message: string): void
  /** Prints an informational line on stderr (never data). */
  note(message: string): void
  /** Every command in help order (for `coffer completion`; see `command-table.ts`). */
  readonly commandTable: () => readonly CommandListing[]
  /**
   * From now on, a failure of this command is reported as one JSON object on stderr
   * (`--json`; docs/cli-json.md "Errors") instead of `error:`/`hint:` lines.
   */
  reportErrorsAsJson(): void
}

/** A lazily imported command module. */
export interface CommandModule {
  /**
   * Runs the command. Returns nothing (success) or a specific exit status such as
   * `exitCodes.unchanged`; failures are thrown as `ToolError`s.
   */
  run(args: readonly string[], ctx: CliContext): Promise<ExitCode | undefined>
}
