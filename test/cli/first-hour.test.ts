// What a new user trips on in the first hour (issue 16), through the real bin/coffer:
// habits from sops and age, errors that mislead or let things through.
import { test } from "node:test"
import assert from "node:assert/strict"
import { existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import type { TestContext } from "node:test"
import { repoRoot, runCli } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { sopsEnv } from "../sops/sops-env.js"
import { generateX25519Identity } from "../../src/age/x25519.js"

interface Keyed {
  readonly dir: string
  readonly recipient: string
  readonly env: Record<string, string | undefined>
}

/** A directory with an age key (SOPS_AGE_KEY_FILE points at it) and an isolated HOME. */
function keyed(t: TestContext, files: Readonly<Record<string, string>> = {}): Keyed {
  const identity = generateX25519Identity()
  const dir = tmpTree(t, { "key.txt": `${identity.encode()}\n`, ...files })
  const env = { ...sopsEnv(t).env, SOPS_AGE_KEY_FILE: join(dir, "key.txt") }
  return { dir, recipient: identity.toRecipient().encode(), env }
}

test(".sops.yaml: a misspelt rule key stops encrypt, naming it; --allow-unknown-config-keys warns", async (t) => {
  const other = generateX25519Identity().toRecipient().encode()
  const { dir, recipient, env } = keyed(t, { "secrets/prod/db.yaml": "password: hunter2\n" })
  // the typo would make the first rule a catch-all: prod secrets encrypted to the dev key
  writeFileSync(
    join(dir, ".sops.yaml"),
    `creation_rules:\n  - path_regx: ^secrets/dev/\n    age: ${other}\n  - path_regex: ^secrets/prod/\n    age: ${recipient}\n`,
  )
  const file = join(dir, "secrets/prod/db.yaml")
  const refused = await runCli(["encrypt", "-i", "secrets/prod/db.yaml"], { env, cwd: dir })
  assert.equal(refused.status, 1, refused.stderr)
  assert.match(
    refused.stderr,
    /^error: ".*\.sops\.yaml" line 2: creation rule 1: unknown key "path_regx" \(did you mean "path_regex"\?\)$/m,
  )
  assert.match(refused.stderr, /^hint: .*would match every file/m)
  assert.match(refused.stderr, /^hint: .*--allow-unknown-config-keys/m)
  assert.equal(readFileSync(file, "utf8"), "password: hunter2\n")

  // edit reads the rules for a new file; updatekeys before it looks at any file
  for (const command of [
    ["edit", "secrets/prod/new.yaml"],
    ["updatekeys", "-y", "secrets/prod/db.yaml"],
  ]) {
    const r = await runCli(command, {
      env: { ...env, EDITOR: "true" },
      cwd: dir,
    })
    assert.equal(r.status, 1, `${command.join(" ")}: ${r.stderr}`)
    assert.match(r.stderr, /unknown key "path_regx"/, command.join(" "))
  }

  // allowed: sops's behaviour, with a warning (the catch-all rule wins)
  const allowed = await runCli(
    ["encrypt", "--allow-unknown-config-keys", "-i", "secrets/prod/db.yaml"],
    { env, cwd: dir },
  )
  assert.equal(allowed.status, 0, allowed.stderr)
  assert.match(allowed.stderr, /^warning: .*unknown key "path_regx" .*is ignored$/m)
  assert.match(readFileSync(file, "utf8"), new RegExp(other))
})

test('.sops.yaml: "creation_rule:" (singular) is named, with the key it should be', async (t) => {
  const { dir, recipient, env } = keyed(t, { "a.yaml": "a: 1\n" })
  writeFileSync(join(dir, ".sops.yaml"), `creation_rule:\n  - age: ${recipient}\n`)
  const r = await runCli(["encrypt", "a.yaml"], { env, cwd: dir })
  assert.equal(r.status, 1)
  assert.match(
    r.stderr,
    /^error: .*line 1: unknown key "creation_rule" \(did you mean "creation_rules"\?\)$/m,
  )
  assert.equal(r.stdout.length, 0)
})

test("sops's -d/-e/-r forms point at the command to run, with the same arguments", async () => {
  for (const [args, command] of [
    [["-d", "secrets/app.yaml"], "coffer decrypt secrets/app.yaml"],
    [["--decrypt", "--extract", '["a"]', "f.yaml"], `coffer decrypt --extract '["a"]' f.yaml`],
    [["-e", "-i", "f.yaml"], "coffer encrypt -i f.yaml"],
    [["-i", "-e", "f.yaml"], "coffer encrypt -i f.yaml"],
    [["-r", "f.yaml"], "coffer rotate f.yaml"],
  ] as const) {
    const r = await runCli(args)
    assert.equal(r.status, 2, args.join(" "))
    assert.match(r.stderr, /^error: coffer takes a command first: ".+" is sops's form of "\w+"$/m)
    assert.ok(r.stderr.includes(`hint: run: ${command}\n`), `${args.join(" ")}: ${r.stderr}`)
    // "-e" is not "exec-env"
    assert.doesNotMatch(r.stderr, /exec-env/)
  }
  const other = await runCli(["-x"])
  assert.equal(other.status, 2)
  assert.match(other.stderr, /^error: unknown flag "-x": coffer takes a command first$/m)
})

test("decrypt -i KEYFILE FILE: -i is in-place for sops commands; SOPS_AGE_KEY_FILE is what works", async (t) => {
  const { dir, env } = keyed(t)
  const r = await runCli(["decrypt", "-i", "key.txt", "app.yaml"], { env, cwd: dir })
  assert.equal(r.status, 2)
  assert.match(r.stderr, /^error: coffer decrypt takes one FILE, got 2$/m)
  assert.match(r.stderr, /^hint: -i means --in-place for the sops commands/m)
  assert.match(r.stderr, /^hint: .*SOPS_AGE_KEY_FILE=key\.txt coffer decrypt app\.yaml$/m)
})

test("-o is --output for encrypt, decrypt and rotate", async (t) => {
  const { dir, recipient, env } = keyed(t, { "a.yaml": "a: secret\n" })
  const enc = await runCli(["encrypt", "--age", recipient, "-o", "a.enc.yaml", "a.yaml"], {
    env,
    cwd: dir,
  })
  assert.equal(enc.status, 0, enc.stderr)
  assert.equal(enc.stdout.length, 0)
  const rot = await runCli(["rotate", "-o", "a.rot.yaml", "a.enc.yaml"], { env, cwd: dir })
  assert.equal(rot.status, 0, rot.stderr)
  const dec = await runCli(["decrypt", "-o", "a.out.yaml", "a.rot.yaml"], { env, cwd: dir })
  assert.equal(dec.status, 0, dec.stderr)
  assert.equal(readFileSync(join(dir, "a.out.yaml"), "utf8"), "a: secret\n")
  for (const command of ["encrypt", "decrypt", "rotate"]) {
    const help = await runCli([command, "--help"])
    assert.match(help.stdout.toString(), /^ {4}-o, --output /m, command)
  }
})

test("a mistyped flag gets a did-you-mean, as a mistyped command does", async () => {
  const r = await runCli(["decrypt", "--ouptut", "x", "f.yaml"])
  assert.equal(r.status, 2)
  assert.match(r.stderr, /^error: unknown flag "--ouptut"$/m)
  assert.match(r.stderr, /^hint: did you mean --output\?$/m)
  const rule = await runCli(["updatekeys", "--allow-unknown-config-key", "d"])
  assert.match(rule.stderr, /^hint: did you mean --allow-unknown-config-keys\?$/m)
  const command = await runCli(["decrpyt", "f.yaml"])
  assert.equal(command.status, 2)
  assert.match(command.stderr, /^hint: did you mean "coffer decrypt"\?$/m)
})

test("--version: coffer -v, coffer --version and every command's --version", async () => {
  const expected = /^coffer \d+\.\d+\.\d+\n$/
  for (const args of [
    ["-v"],
    ["--version"],
    ["decrypt", "--version"],
    ["encrypt", "--version"],
    ["updatekeys", "--version"],
    ["install", "--version"],
    ["units", "--version"],
    ["groups", "add", "--version"],
  ]) {
    const r = await runCli(args)
    assert.equal(r.status, 0, `${args.join(" ")}: ${r.stderr}`)
    assert.match(r.stdout.toString(), expected, args.join(" "))
  }
})

test("units --json: the files, units and consumers for programs; with --out, what was written", async (t) => {
  const dir = tmpTree(t, {
    "m.json": readFileSync(join(repoRoot, "test/vectors/host/coffer-manifest.json"), "utf8"),
  })
  const common = ["--coffer", "/usr/bin/coffer", "--manifest-path", "/etc/coffer/m.json"]
  const printed = await runCli(["units", join(dir, "m.json"), "--json", ...common])
  assert.equal(printed.status, 0, printed.stderr)
  const plan = JSON.parse(printed.stdout.toString()) as {
    files: { path: string; text: string }[]
    installUnits: string[]
    consumers: string[]
    written: string[] | null
  }
  assert.deepEqual(plan.installUnits, [
    "coffer-install-secrets-for-users.service",
    "coffer-install-secrets.service",
  ])
  assert.ok(plan.consumers.includes("grafana.service"))
  assert.equal(plan.written, null)
  const drop = plan.files.find((f) => f.path === "grafana.service.d/coffer-secrets.conf")
  assert.match(drop?.text ?? "", /^Requires=coffer-install-secrets\.service$/m)
  // the same text as --print
  const text = await runCli(["units", join(dir, "m.json"), "--print", ...common])
  assert.equal(text.stdout.toString(), plan.files.map((f) => `# ${f.path}\n${f.text}`).join("\n"))
  const out = join(dir, "units")
  const written = await runCli(["units", join(dir, "m.json"), "--json", "--out", out, ...common])
  assert.equal(written.status, 0, written.stderr)
  const report = JSON.parse(written.stdout.toString()) as { written: string[] }
  assert.deepEqual(
    report.written,
    plan.files.map((f) => join(out, f.path)),
  )
  assert.ok(report.written.every((p) => existsSync(p)))
  const both = await runCli(["units", join(dir, "m.json"), "--json", "--print"])
  assert.equal(both.status, 2)
})

test("install: a missing manifest is named in words, {} is refused, an empty list is said", async (t) => {
  const missing = await runCli(["install", "/nonexistent/manifest.json"])
  assert.equal(missing.status, 1)
  assert.equal(
    missing.stderr.split("\n")[0],
    'error: can\'t read the manifest "/nonexistent/manifest.json": no such file or directory',
  )
  assert.doesNotMatch(missing.stderr, /ENOENT/)
  const dir = tmpTree(t, {
    "empty.json": "{}\n",
    "none.json": JSON.stringify({
      secrets: [],
      secretsMountPoint: "/nonexistent-coffer/secrets.d",
      symlinkPath: "/nonexistent-coffer/secrets",
    }),
  })
  const empty = await runCli(["install", "--dry-run", join(dir, "empty.json")])
  assert.equal(empty.status, 1)
  assert.match(
    empty.stderr,
    /^error: manifest ".*empty\.json" has no "secrets" list: there is nothing to install$/m,
  )
  const none = await runCli(["install", "--dry-run", join(dir, "none.json")])
  assert.equal(none.status, 0, none.stderr)
  assert.match(
    none.stderr,
    /^warning: manifest ".*none\.json" lists no secrets and no templates: the new generation is empty, and \/nonexistent-coffer\/secrets will hold nothing$/m,
  )
})

test("decrypt of a plain file with an unknown suffix says it is not a sops file, as for .yaml", async (t) => {
  const { dir, env } = keyed(t, { "notes.txt": "just some notes\n", "plain.yaml": "a: 1\n" })
  const txt = await runCli(["decrypt", "notes.txt"], { env, cwd: dir })
  const yaml = await runCli(["decrypt", "plain.yaml"], { env, cwd: dir })
  assert.equal(txt.status, 1)
  assert.equal(yaml.status, 1)
  assert.match(txt.stderr, /^error: file "notes\.txt": no sops metadata found$/m)
  assert.match(yaml.stderr, /^error: file "plain\.yaml": no sops metadata found$/m)
  assert.doesNotMatch(txt.stderr, /^error: .*JSON/m)
  assert.match(txt.stderr, /^hint: .*--input-type/m)
})

test("decrypt --json: a failure is one JSON object on stderr, with the exit status", async (t) => {
  const { dir, recipient, env } = keyed(t, { "a.yaml": "a: secret\n" })
  const other = generateX25519Identity().toRecipient().encode()
  assert.equal(
    (await runCli(["encrypt", "-i", "--age", other, "a.yaml"], { env, cwd: dir })).status,
    0,
  )
  const r = await runCli(["decrypt", "--json", "a.yaml"], { env, cwd: dir })
  assert.equal(r.status, 1)
  assert.equal(r.stdout.length, 0)
  const lines = r.stderr.trimEnd().split("\n")
  assert.equal(lines.length, 1, r.stderr)
  const parsed = JSON.parse(lines[0] ?? "") as {
    error: { type: string; message: string; hints: string[]; exitStatus: number; bug: boolean }
  }
  assert.equal(parsed.error.exitStatus, 1)
  assert.equal(parsed.error.bug, false)
  assert.match(parsed.error.type, /Error$/)
  assert.match(parsed.error.message, /a\.yaml/)
  assert.ok(
    parsed.error.hints.some((h) => h.includes(other)),
    "the file's recipients are listed",
  )
  assert.ok(!r.stderr.includes(recipient) || parsed.error.hints.length > 0)
  // usage errors too, and a missing --extract path is a data error (1)
  const usage = await runCli(["decrypt", "--json", "--nope", "a.yaml"], { env, cwd: dir })
  assert.equal(usage.status, 2)
  assert.equal((JSON.parse(usage.stderr) as { error: { exitStatus: number } }).error.exitStatus, 2)
})

test("a sops file reached through a symbolic link is changed where it points; the link stays", async (t) => {
  // sops writes through the link (os.Create follows it); coffer does too, atomically
  const { dir, recipient, env } = keyed(t, { "a.yaml": "a: secret\n" })
  mkdirSync(join(dir, "repo"))
  const enc = await runCli(
    ["encrypt", "--age", recipient, "-o", join("repo", "a.enc.yaml"), "a.yaml"],
    { env, cwd: dir },
  )
  assert.equal(enc.status, 0, enc.stderr)
  symlinkSync(join("repo", "a.enc.yaml"), join(dir, "linked.yaml"))
  const set = await runCli(["set", "linked.yaml", '["a"]', '"changed"'], { env, cwd: dir })
  assert.equal(set.status, 0, set.stderr)
  assert.ok(lstatSync(join(dir, "linked.yaml")).isSymbolicLink(), "the link is still a link")
  const rotated = await runCli(["rotate", "-i", "linked.yaml"], { env, cwd: dir })
  assert.equal(rotated.status, 0, rotated.stderr)
  assert.ok(lstatSync(join(dir, "linked.yaml")).isSymbolicLink(), "the link is still a link")
  const dec = await runCli(["decrypt", join("repo", "a.enc.yaml")], { env, cwd: dir })
  assert.equal(dec.status, 0, dec.stderr)
  assert.equal(dec.stdout.toString(), "a: changed\n")
})
