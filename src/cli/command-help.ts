/**
 * A command's `--help` text, captured in-process: the command module runs with `--help` and
 * a context whose standard output is a buffer, so the text is exactly what
 * `coffer COMMAND --help` prints. `coffer completion` reads the flag lines from it, and the
 * man pages are rendered from it (`man-page.ts`, `scripts/man.mjs`), so neither can drift
 * from the help.
 */
import { Writable } from "node:stream"
import type { CliContext, CommandListing, CommandModule } from "./command.js"

/**
 * Runs `module` with `--help` and returns what it printed on standard output.
 * @param module the command's module
 * @param name the command's name in the table (`decrypt`)
 * @param commands the dispatcher's table (some commands read it)
 * @returns the help text, or "" when the command prints none this way
 */
export async function commandHelp(
  module: CommandModule,
  name: string,
  commands: readonly CommandListing[],
): Promise<string> {
  const chunks: Buffer[] = []
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk)
      done()
    },
  })
  const discard = new Writable({
    write(_chunk: Buffer, _encoding, done) {
      done()
    },
  })
  const ctx: CliContext = {
    invokedAs: `coffer ${name}`,
    env: {},
    stdin: process.stdin,
    stdout: sink as unknown as NodeJS.WriteStream,
    stderr: discard as unknown as NodeJS.WriteStream,
    warn: () => undefined,
    note: () => undefined,
    commandTable: () => commands,
    reportErrorsAsJson: () => undefined,
  }
  try {
    await module.run(["--help"], ctx)
  } catch {
    // a command whose help can't be printed this way: no text
  }
  return Buffer.concat(chunks).toString("utf8")
}
