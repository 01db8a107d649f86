/**
 * `coffer completion bash|zsh|fish` (docs/goals.md "Capabilities"): every command in `coffer --help` is in
 * each script with its flags; the bash script passes `bash -n` and completes for real when
 * sourced; zsh and fish scripts pass their shells' syntax check when those are installed
 * (otherwise their text is checked).
 */
import { test } from "node:test"
import type { TestContext } from "node:test"
import assert from "node:assert/strict"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { runCli, runCommand } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { requireTool } from "../support/tools.js"

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

test("zsh and fish: every command with its flags, and their shells' syntax check", async (t) => {
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
  // under CI both shells must be there; elsewhere the text checks above still ran
  if (requireTool(t, "zsh", "zsh")) {
    const r = await runCommand("zsh", ["-n", join(dir, "_coffer")])
    assert.equal(r.status, 0, r.stderr)
  }
  if (requireTool(t, "fish", "fish")) {
    const r = await runCommand("fish", ["-n", join(dir, "coffer.fish")])
    assert.equal(r.status, 0, r.stderr)
  }
})

test("completion needs a known shell", async () => {
  const none = await runCli(["completion"])
  assert.equal(none.status, 2)
  assert.match(none.stderr, /needs a shell/)
  const bad = await runCli(["completion", "tcsh"])
  assert.equal(bad.status, 2)
  assert.match(bad.stderr, /unknown shell "tcsh"/)
})

/** What each shell offers for a command line (the last word is the one being completed). */
interface Completers {
  bash(line: readonly string[]): Promise<string[]>
  zsh(line: readonly string[]): Promise<string[]>
  fish(line: readonly string[]): Promise<string[]>
}

async function completers(t: TestContext, dir: string): Promise<Completers> {
  // the scripts outside the folder whose files complete
  const scripts = mkdtempSync(join(tmpdir(), "coffer-completion-"))
  const bashFile = join(scripts, "coffer.bash")
  const zshFile = join(scripts, "_coffer")
  const fishFile = join(scripts, "coffer.fish")
  t.after(() => {
    rmSync(scripts, { recursive: true, force: true })
  })
  writeFileSync(bashFile, await script("bash"))
  writeFileSync(zshFile, await script("zsh"))
  writeFileSync(fishFile, await script("fish"))
  const quote = (w: string): string => `'${w.replace(/'/g, `'\\''`)}'`
  const lines = (r: { status: number | null; stdout: Buffer; stderr: string }): string[] => {
    assert.equal(r.status, 0, r.stderr)
    return r.stdout
      .toString("utf8")
      .split("\n")
      .filter((l) => l !== "")
      .sort()
  }
  const env = { PATH: process.env["PATH"], HOME: scripts }
  return {
    async bash(line) {
      const [program = "coffer"] = line
      const fn = { coffer: "_coffer", "coffer-age": "_coffer_age" }[program] ?? "_coffer_age_keygen"
      const probe = `source ${quote(bashFile)}\nCOMP_WORDS=(${line.map(quote).join(" ")})\nCOMP_CWORD=${String(line.length - 1)}\n${fn}\nprintf '%s\\n' "\${COMPREPLY[@]}"\n`
      return lines(await runCommand("bash", ["-c", probe], { cwd: dir, env }))
    },
    async zsh(line) {
      // the completion system's functions the script calls, printing what they offer
      const probe = [
        "compdef() { : }",
        `_describe() { local name; for name in \${(P)\${@[-1]}}; do name=\${name%%:*}; [[ $name == $PREFIX* ]] && print -r -- $name; done }`,
        `compadd() { [[ $1 == -- ]] && shift; local w; for w in "$@"; do [[ $w == $PREFIX* ]] && print -r -- $w; done }`,
        `_files() { print -r -- $PREFIX*(N) }`,
        `source ${quote(zshFile)}`,
        `service=${quote(line[0] ?? "coffer")}`,
        `words=(${line.map(quote).join(" ")})`,
        `CURRENT=${String(line.length)}`,
        `PREFIX=${quote(line.at(-1) ?? "")}`,
        "_coffer",
        "true",
      ].join("\n")
      const r = await runCommand("zsh", ["-f", "-c", probe], { cwd: dir, env })
      return lines(r).flatMap((l) => l.split(" "))
    },
    async fish(line) {
      const probe = `source ${quote(fishFile)}; complete -C ${quote(line.join(" "))}`
      const r = await runCommand("fish", ["--no-config", "-c", probe], { cwd: dir, env })
      return lines(r).map((l) => l.split("\t")[0] ?? "")
    },
  }
}

test("bash, zsh and fish offer the same words: commands, flags, subcommands, files", async (t) => {
  if (!requireTool(t, "zsh", "zsh") || !requireTool(t, "fish", "fish")) return
  const dir = tmpTree(t, { "secrets/app.yaml": "a: 1\n", "settings.json": "{}\n" })
  const shells = await completers(t, dir)
  const cases: [readonly string[], readonly string[]][] = [
    [["coffer", "updatek"], ["updatekeys"]],
    [
      ["coffer", "ex"],
      ["exec-env", "exec-file"],
    ],
    [
      ["coffer", "rotate", "--add-"],
      ["--add-age", "--add-kms", "--add-pgp"],
    ],
    [
      ["coffer", "groups", ""],
      ["add", "delete"],
    ],
    [["coffer", "groups", "add", "--shamir"], ["--shamir-secret-sharing-threshold"]],
    [
      ["coffer", "hook", ""],
      ["install", "show", "uninstall"],
    ],
    [["coffer", "tailscale", ""], ["up"]],
    [
      ["coffer", "tailscale", "up", "--adv"],
      ["--advertise-exit-node", "--advertise-routes", "--advertise-tags"],
    ],
    [
      ["coffer", "completion", ""],
      ["bash", "fish", "zsh"],
    ],
    [["coffer", "decrypt", "--output-t"], ["--output-type"]],
    [["coffer", "install", "--dry"], ["--dry-run"]],
    [["coffer", "decrypt", "sec"], ["secrets/"]],
    [
      ["coffer-age", "--rec"],
      ["--recipient", "--recipients-file"],
    ],
    [["coffer-age-keygen", "-p"], ["-pq"]],
  ]
  for (const [line, expected] of cases) {
    for (const shell of ["bash", "zsh", "fish"] as const) {
      let got = await shells[shell](line)
      // a folder: bash offers "secrets", zsh's glob and fish "secrets/"
      if (expected.some((w) => w.endsWith("/"))) got = got.map((w) => w.replace(/\/?$/, "/"))
      assert.deepEqual(got, [...expected].sort(), `${shell}: ${line.join(" ")}`)
    }
  }
})

test("each command's subcommands, as its usage lines show them, complete in every shell", async (t) => {
  if (!requireTool(t, "zsh", "zsh") || !requireTool(t, "fish", "fish")) return
  const dir = tmpTree(t, {})
  const shells = await completers(t, dir)
  let withSubcommands = 0
  for (const name of await commandNames()) {
    const help = (await runCli([name, "--help"])).stdout.toString("utf8")
    const usage = help.slice(0, help.indexOf("\n\n"))
    const shown = new Set<string>()
    for (const m of usage.matchAll(new RegExp(`^ {4}coffer ${name} ([a-z][a-z|-]*)(?: |$)`, "gm")))
      for (const word of (m[1] ?? "").split("|")) shown.add(word)
    if (shown.size > 0) withSubcommands += 1
    for (const shell of ["bash", "zsh", "fish"] as const) {
      const got = (await shells[shell](["coffer", name, ""])).filter((w) => !w.includes("/"))
      assert.deepEqual(got, [...shown].sort(), `${shell}: coffer ${name} <TAB>`)
    }
  }
  assert.ok(withSubcommands >= 4, "groups, hook, tailscale and completion have subcommands")
})
