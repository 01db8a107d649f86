/**
 * `coffer completion bash|zsh|fish` (docs/goals.md "Capabilities"): every command in `coffer --help` is in
 * each script with its flags; the bash script passes `bash -n` and completes for real when
 * sourced; zsh and fish scripts pass their shells' syntax check when those are installed
 * (otherwise their text is checked).
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { runCli, runCommand } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { hasTool } from "../support/tools.js"

async function commandNames(): Promise<string[]> {
  const help = await runCli(["--help"])
  assert.equal(help.status, 0)
  const text = help.stdout.toString("utf8")
  const section = text.slice(text.indexOf("Commands:\n"), text.indexOf("\nExamples:"))
  const names = [...section.matchAll(/^ {4}(\S+)/gm)].map((m) => m[1] ?? "")
  assert.ok(names.length >= 10, section)
  return names
}

async function script(shell: string): Promise<string> {
  const r = await runCli(["completion", shell])
  assert.equal(r.status, 0, r.stderr)
  return r.stdout.toString("utf8")
}

test("bash: passes bash -n, has every command, and completes commands, flags and subcommands", async (t) => {
  const text = await script("bash")
  const dir = tmpTree(t, { "coffer.bash": text })
  const file = join(dir, "coffer.bash")
  const syntax = await runCommand("bash", ["-n", file])
  assert.equal(syntax.status, 0, syntax.stderr)
  for (const name of await commandNames())
    assert.match(text, new RegExp(`^ {8}${name}\\) flags=`, "m"), name)

  const complete = async (line: readonly string[]): Promise<string[]> => {
    const probe = join(dir, "probe.sh")
    writeFileSync(
      probe,
      `source ${JSON.stringify(file)}\nCOMP_WORDS=(${line.map((w) => `'${w}'`).join(" ")})\nCOMP_CWORD=${String(line.length - 1)}\n_coffer\nprintf '%s\\n' "\${COMPREPLY[@]}"\n`,
    )
    const r = await runCommand("bash", [probe], { cwd: dir })
    assert.equal(r.status, 0, r.stderr)
    return r.stdout
      .toString("utf8")
      .split("\n")
      .filter((l) => l !== "")
  }
  assert.deepEqual(await complete(["coffer", "updatek"]), ["updatekeys"])
  assert.deepEqual(await complete(["coffer", "updatekeys", "--ro"]), ["--rotate"])
  assert.deepEqual((await complete(["coffer", "rotate", "--add-"])).sort(), [
    "--add-age",
    "--add-kms",
    "--add-pgp",
  ])
  assert.deepEqual(await complete(["coffer", "groups", "de"]), ["delete"])
  assert.deepEqual(await complete(["coffer", "agenix", "--re"]), ["--rekey"])
  assert.deepEqual(await complete(["coffer", "completion", "fi"]), ["fish"])
  assert.deepEqual(await complete(["coffer", "agenix", "coff"]), ["coffer.bash"])
})

test("zsh and fish: every command with its flags (syntax-checked when the shell is installed)", async (t) => {
  const names = await commandNames()
  const zsh = await script("zsh")
  const fish = await script("fish")
  assert.match(zsh, /^#compdef coffer/)
  for (const name of names) {
    assert.match(zsh, new RegExp(`^ {8}\\(${name}\\) flags=\\(`, "m"), `zsh ${name}`)
    assert.match(zsh, new RegExp(`'${name}:`), `zsh ${name} summary`)
    assert.match(fish, new RegExp(`-n '__fish_use_subcommand' -a ${name} -d '`), `fish ${name}`)
  }
  assert.match(zsh, /\(updatekeys\) flags=\(-y --yes --rotate --json/)
  assert.match(fish, /complete -c coffer -n '__fish_seen_subcommand_from rotate' -l add-age/)
  assert.match(fish, /complete -c coffer -n '__fish_seen_subcommand_from agenix' -s e\n/)
  assert.match(fish, /complete -c coffer-age -n 'true' -s r\n/)
  const dir = tmpTree(t, { _coffer: zsh, "coffer.fish": fish })
  if (hasTool("zsh")) {
    const r = await runCommand("zsh", ["-n", join(dir, "_coffer")])
    assert.equal(r.status, 0, r.stderr)
  } else t.diagnostic("zsh is not installed: checked the text only")
  if (hasTool("fish")) {
    const r = await runCommand("fish", ["-n", join(dir, "coffer.fish")])
    assert.equal(r.status, 0, r.stderr)
  } else t.diagnostic("fish is not installed: checked the text only")
})

test("completion needs a known shell", async () => {
  const none = await runCli(["completion"])
  assert.equal(none.status, 2)
  assert.match(none.stderr, /needs a shell/)
  const bad = await runCli(["completion", "tcsh"])
  assert.equal(bad.status, 2)
  assert.match(bad.stderr, /unknown shell "tcsh"/)
})
