/**
 * `coffer --help`, `--version` and every command's help (docs/goals.md "Capabilities": help with examples).
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { commands } from "../../src/cli/command-table.js"
import { exitCodes } from "../../src/cli/exit-codes.js"
import { repoRoot, runCli } from "../support/cli.js"

test("coffer --help lists the commands with examples", async () => {
  const r = await runCli(["--help"])
  assert.equal(r.status, 0)
  const text = r.stdout.toString()
  for (const name of ["age", "age-keygen", "ssh-to-age"])
    assert.match(text, new RegExp(`^    ${name} `, "m"))
  assert.match(text, /Examples:/)
})

test("coffer --version matches package.json", async () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
    version: string
  }
  const r = await runCli(["--version"])
  assert.equal(r.stdout.toString(), `coffer ${pkg.version}\n`)
})

/** The command names of `coffer --help`, in order. */
async function commandNames(): Promise<string[]> {
  const r = await runCli(["--help"])
  const text = r.stdout.toString()
  const section = text.slice(text.indexOf("Commands:\n"), text.indexOf("\nExamples:"))
  return [...section.matchAll(/^ {4}(\S+) /gm)].map((m) => m[1] ?? "")
}

test("every command has --help with examples, on stdout, exit 0; help COMMAND is the same", async () => {
  const names = await commandNames()
  assert.deepEqual(names, Object.keys(commands))
  for (const name of names) {
    for (const args of [
      [name, "--help"],
      [name, "-h"],
      ["help", name],
    ]) {
      const r = await runCli(args)
      const what = args.join(" ")
      assert.equal(r.status, 0, `${what}: ${r.stderr}`)
      assert.equal(r.stderr, "", what)
      const text = r.stdout.toString()
      assert.match(text, new RegExp(`^Usage:\n {4}coffer ${name}[ \n]`), what)
      assert.match(text, /\nExamples:\n {4}\$ /, what)
    }
  }
  const direct = await runCli(["--help"], { bin: "coffer-age" })
  assert.match(direct.stdout.toString(), /^Usage:\n {4}coffer-age /)
  const keygen = await runCli(["-help"], { bin: "coffer-age-keygen" })
  assert.match(keygen.stdout.toString(), /^Usage:\n {4}coffer-age-keygen /)
})

test("coffer --help lists every exit status coffer uses", async () => {
  const r = await runCli(["--help"])
  const text = r.stdout.toString()
  const section = text.slice(text.indexOf("\nExit status:\n"))
  const listed = new Set<number>()
  for (const m of section.matchAll(/^ {4}(\d+)(?:-(\d+))? {2,}\S/gm)) {
    const from = Number(m[1])
    for (let code = from; code <= Number(m[2] ?? from); code++) listed.add(code)
  }
  assert.deepEqual(
    [...listed].sort((a, b) => a - b),
    Object.values(exitCodes).sort((a, b) => a - b),
  )
})

test("an unknown command fails with a suggestion; no arguments prints the help on stderr", async () => {
  const r = await runCli(["agee"])
  assert.equal(r.status, 2)
  assert.match(r.stderr, /^error: unknown command "agee"/m)
  assert.match(r.stderr, /hint: did you mean "coffer age/)
  const none = await runCli([])
  assert.equal(none.status, 2)
  assert.match(none.stderr, /Commands:/)
  assert.equal(none.stdout.length, 0)
})
