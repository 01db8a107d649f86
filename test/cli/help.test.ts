/**
 * `coffer --help`, `--version` and every command's help (MISSION.md C8: help with examples).
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { join } from "node:path"
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

test("every command has --help with examples, on stdout, exit 0", async () => {
  for (const args of [
    ["age", "--help"],
    ["age-keygen", "-h"],
    ["ssh-to-age", "-help"],
    ["help", "age"],
  ]) {
    const r = await runCli(args)
    assert.equal(r.status, 0, args.join(" "))
    assert.match(r.stdout.toString(), /Usage:[\s\S]*Examples:/, args.join(" "))
  }
  const direct = await runCli(["--help"], { bin: "coffer-age" })
  assert.match(direct.stdout.toString(), /^Usage:\n {4}coffer-age /)
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
