// Writes the man pages into dist/man/ from the help texts (docs/conventions.md "Man pages"):
// coffer.1 from `coffer --help`, and coffer-COMMAND.1 from each command's `--help`, captured
// by running the compiled command module with --help (src/cli/command-help.ts), the very
// code `coffer COMMAND --help` runs. package.json's "man" field lists these files; a test
// (test/cli/man.test.ts) checks the list and renders every page against the help.
import { mkdirSync, rmSync, writeFileSync } from "node:fs"
import { commandTable } from "../dist/src/cli/command-table.js"
import { commandHelp } from "../dist/src/cli/command-help.js"
import { cofferVersion, topLevelHelp } from "../dist/src/cli/help.js"
import { renderManPage } from "../dist/src/cli/man-page.js"

const outdir = "dist/man"
rmSync(outdir, { recursive: true, force: true })
mkdirSync(outdir, { recursive: true })

const commands = commandTable()
const pages = commands.map((c) => `coffer-${c.name}`)

// coffer(1): the top-level help, whose first line ("coffer 0.1.0: what it is") is the NAME
const [title = "", ...rest] = topLevelHelp(commands).split("\n")
const tagline = title.replace(/^coffer \S+: /, "")
writeFileSync(
  `${outdir}/coffer.1`,
  renderManPage({
    name: "coffer",
    summary: tagline,
    help: rest.join("\n"),
    version: cofferVersion,
    seeAlso: pages,
  }),
)

for (const command of commands) {
  const help = await commandHelp(await command.load(), command.name, commands)
  if (!help.startsWith("Usage:")) {
    throw new Error(
      `man: "coffer ${command.name} --help" printed no help (got ${JSON.stringify(help.slice(0, 60))})`,
    )
  }
  writeFileSync(
    `${outdir}/coffer-${command.name}.1`,
    renderManPage({
      name: `coffer-${command.name}`,
      summary: command.summary,
      help,
      version: cofferVersion,
      seeAlso: ["coffer"],
    }),
  )
}
