/**
 * `coffer audit` as a real process on the generated repository of `fixture.ts`, which has
 * one of every finding (docs/audit.md "Findings"): each is asserted in the JSON (class,
 * path, details, fix), in the matrix (who can read what), and in the terminal output;
 * colours only on a terminal and never with NO_COLOR; `--fail-on`; a directory that is not
 * a git repository (its .gitignore honoured); nothing secret in any output.
 */
import { test, type TestContext } from "node:test"
import assert from "node:assert/strict"
import { execFileSync } from "node:child_process"
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { binPath, runCli } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { requireTool } from "../support/tools.js"
import { runInPty } from "../cli/pty.js"
import type { AuditReport, Finding } from "../../src/audit/report.js"
import { buildKnownRepository, type KnownRepository } from "./fixture.js"

const ESC = String.fromCharCode(27)

async function known(t: TestContext): Promise<KnownRepository | undefined> {
  if (!requireTool(t, "git", "git")) return undefined
  if (!requireTool(t, "nix-instantiate", "nix-bin")) return undefined
  return buildKnownRepository(tmpTree(t))
}

async function auditJson(
  dir: string,
  args: readonly string[] = [],
): Promise<{ report: AuditReport; status: number | null; stderr: string }> {
  const r = await runCli(["audit", "--json", ...args], { cwd: dir, env: { HOME: dir } })
  return {
    report: JSON.parse(r.stdout.toString()) as AuditReport,
    status: r.status,
    stderr: r.stderr,
  }
}

function find(report: AuditReport, cls: string, path: string): Finding {
  const f = report.findings.find((x) => x.class === cls && x.path === path)
  assert.ok(
    f !== undefined,
    `no ${cls} finding for ${path}; got ${JSON.stringify(report.findings.map((x) => [x.class, x.path]))}`,
  )
  return f
}

const EXPECTED: readonly (readonly [string, string])[] = [
  ["plaintext-file", "secrets/agenix/wifi.age"],
  ["plaintext-file", "secrets/dao/plain.yaml"],
  ["plaintext-value", "secrets/web/app.env"],
  ["plaintext-value", "secrets/web/edited.yaml"],
  ["identity-file", "deploy/id_ed25519"],
  ["identity-file", "keys/admin.txt"],
  ["stale", "secrets/agenix/db.age"],
  ["stale", "secrets/dao/db.yaml"],
  ["stale", "secrets/web/api.json"],
  ["undecryptable", "other/orphan.yaml"],
  ["unreadable", "broken.yaml"],
  ["unmatched-file", "other/orphan.yaml"],
  ["unmatched-file", "secrets/agenix/stray.age"],
  ["unused-rule", ".sops.yaml"],
  ["unused-rule", ".sops.yaml"],
  ["unused-rule", "secrets/agenix/secrets.nix"],
  ["unused-key", ".sops.yaml"],
  ["unused-key", "secrets/agenix/secrets.nix"],
]

function secretsOf(repo: KnownRepository): string[] {
  return [
    ...Object.values(repo.keys).map((k) => k.secret),
    "hunter2-hunter2",
    "s3cr3t-by-hand",
    "not-encrypted-at-all",
    "wifi-password-in-clear",
    "correct-horse-battery",
    repo.dao.privateKey.split("\n")[1] ?? "",
  ]
}

test("audit --json reports every finding of the known repository, and exactly those", async (t) => {
  const repo = await known(t)
  if (repo === undefined) return
  const { report, status, stderr } = await auditJson(repo.dir)
  assert.equal(status, 1, stderr)
  assert.match(stderr, /^error: 11 findings at or above --fail-on stale/m)
  assert.equal(report.schema, "coffer-audit/v1")
  assert.deepEqual(
    report.findings.map((f) => [f.class, f.path]),
    EXPECTED.map(([c, p]) => [c, p]),
  )
  for (const f of report.findings)
    assert.equal(
      f.level,
      f.class.startsWith("plaintext") || f.class === "identity-file"
        ? "plaintext"
        : ["stale", "undecryptable", "unreadable", "key-age"].includes(f.class)
          ? "stale"
          : "warning",
    )
  assert.deepEqual(report.rules, { sops: ".sops.yaml", agenix: ["secrets/agenix/secrets.nix"] })
  assert.equal(report.summary.encrypted, 10)
  // .gitignore: ignored/leak.txt is never read
  assert.ok(!report.findings.some((f) => f.path.startsWith("ignored/")))

  // identities: named by anchors and secrets.nix names; dao's SSH key and ssh-to-age key are one
  const ids = report.identities.map((i) => i.id)
  for (const name of ["admin", "alice", "dao", "web", "old", "carol", "spare"])
    assert.ok(ids.includes(name), name)
  const dao = report.identities.find((i) => i.id === "dao")
  assert.ok(dao !== undefined)
  assert.deepEqual(dao.keys.map((k) => k.type).sort(), ["age", "ssh-ed25519"])
  assert.equal(dao.group, "hosts")
  assert.equal(report.identities.find((i) => i.id === "admin")?.group, "users")
  assert.equal(report.identities.find((i) => i.id === "carol")?.group, "users")
  const bob = report.identities.find((i) => i.keys.some((k) => k.key === repo.keys.bob.recipient))
  assert.ok(bob !== undefined)
  assert.equal(bob.name, null)
  assert.equal(bob.listed, false)

  // stale, per key group, with the fixing command
  const db = find(report, "stale", "secrets/dao/db.yaml")
  assert.deepEqual(db.details["groups"], [{ index: 0, missing: [], extra: [bob.id] }])
  assert.equal(db.fix, "coffer updatekeys -y --rotate secrets/dao/db.yaml")
  const api = find(report, "stale", "secrets/web/api.json")
  assert.deepEqual(api.details["groups"], [{ index: 0, missing: ["web"], extra: [] }])
  assert.equal(api.fix, "coffer updatekeys -y secrets/web/api.json")
  const age = find(report, "stale", "secrets/agenix/db.age")
  assert.deepEqual(age.details["groups"], [{ index: 0, missing: ["dao"], extra: [] }])
  assert.deepEqual(age.details["armor"], { file: true, rule: false })
  assert.equal(age.fix, "coffer agenix --rules secrets/agenix/secrets.nix -r")

  // plaintext
  assert.equal(
    find(report, "plaintext-file", "secrets/dao/plain.yaml").fix,
    "coffer encrypt -i secrets/dao/plain.yaml",
  )
  const clear = find(report, "plaintext-value", "secrets/web/app.env")
  assert.equal(clear.details["location"], "password_unencrypted")
  assert.equal(clear.details["expected"], false)
  const edited = find(report, "plaintext-value", "secrets/web/edited.yaml")
  assert.equal(edited.details["location"], "token")
  assert.equal(edited.details["expected"], true)
  assert.deepEqual(find(report, "identity-file", "keys/admin.txt").details, {
    kind: "age-identity",
    line: 3,
    passphraseProtected: false,
  })
  assert.equal(
    find(report, "identity-file", "deploy/id_ed25519").details["kind"],
    "ssh-private-key",
  )

  // the others
  assert.deepEqual(find(report, "undecryptable", "other/orphan.yaml").details["recipients"], [
    bob.id,
  ])
  const unused = report.findings.filter((f) => f.class === "unused-rule" && f.path === ".sops.yaml")
  assert.deepEqual(
    unused.map((f) => [(f.details["rule"] as { index: number }).index, f.details["shadowedBy"]]),
    [
      [3, null],
      [4, 0],
    ],
  )
  assert.deepEqual(
    report.findings.filter((f) => f.class === "unused-key").map((f) => f.details["name"]),
    ["old", "spare"],
  )

  // who can read what
  const access = (path: string): Readonly<Record<string, string>> => {
    const file = report.files.find((f) => f.path === path)
    assert.ok(file !== undefined, path)
    return file.access
  }
  assert.deepEqual(access("secrets/dao/tailscale.yaml"), { admin: "read", dao: "read" })
  assert.deepEqual(access("secrets/dao/db.yaml"), { admin: "read", dao: "read", [bob.id]: "extra" })
  assert.deepEqual(access("secrets/web/api.json"), { admin: "read", web: "missing" })
  assert.deepEqual(access("secrets/shared/db.yaml"), {
    admin: "share",
    alice: "share",
    dao: "share",
    web: "share",
  })
  assert.deepEqual(access("secrets/agenix/tailscale.age"), { dao: "read", carol: "unverified" })
  assert.deepEqual(access("secrets/agenix/db.age"), { dao: "missing", carol: "unverified" })
  assert.equal(report.files.find((f) => f.path === "secrets/shared/db.yaml")?.threshold, 2)
  assert.equal(report.files.find((f) => f.path === "secrets/agenix/stray.age")?.anonymousStanzas, 1)

  // no secret anywhere in what the audit prints
  const text = JSON.stringify(report) + stderr
  for (const secret of secretsOf(repo))
    assert.ok(!text.includes(secret), "a secret leaked into the report")
})

test("the terminal table shows every finding class, the fixes and the matrix; no colours when piped", async (t) => {
  const repo = await known(t)
  if (repo === undefined) return
  const r = await runCli(["audit"], { cwd: repo.dir, env: { HOME: repo.dir } })
  assert.equal(r.status, 1)
  const out = r.stdout.toString()
  assert.doesNotMatch(out, new RegExp(ESC + "\\["))
  const sections: readonly [string, RegExp][] = [
    [
      "plaintext-file",
      /^Plaintext files that should be encrypted \(2\)\n {2}secrets\/agenix\/wifi\.age +is listed in secrets\/agenix\/secrets\.nix but is not an age file\n.*fix: coffer agenix --rules secrets\/agenix\/secrets\.nix -e wifi\.age$/m,
    ],
    [
      "plaintext-value",
      /^Values in clear in encrypted files \(2\)\n {2}secrets\/web\/app\.env +password_unencrypted is in clear: its key "password_unencrypted" names a secret$/m,
    ],
    [
      "identity-file",
      /^Private keys in the repository \(2\)\n {2}deploy\/id_ed25519 +holds an OpenSSH private key on line 1$/m,
    ],
    [
      "stale",
      /^ {2}secrets\/dao\/db\.yaml +differs from creation rule 1: extra age1\S+\n +fix: coffer updatekeys -y --rotate secrets\/dao\/db\.yaml$/m,
    ],
    [
      "undecryptable",
      /^Files no listed key can decrypt \(1\)\n {2}other\/orphan\.yaml +none of its keys is listed in the rules$/m,
    ],
    [
      "unreadable",
      /^Files that can't be read \(1\)\n {2}broken\.yaml +looks like a sops file but can't be read/m,
    ],
    [
      "unmatched-file",
      /^Encrypted files no rule matches \(2\)\n {2}other\/orphan\.yaml +is a sops file that no creation rule in \.sops\.yaml matches$/m,
    ],
    [
      "unused-rule",
      /creation rule 5 \(secrets\/dao\/db\\\.yaml\$\) matches no encrypted file: rule 1 comes first for every file it matches$/m,
    ],
    [
      "unused-key",
      /^Keys no rule uses \(2\)\n {2}\.sops\.yaml +old \(line 8\) is declared but no rule uses it$/m,
    ],
  ]
  for (const [cls, pattern] of sections) assert.match(out, pattern, cls)
  // the matrix: a header naming the identities, one row per encrypted file
  assert.match(out, /^Who can read what$/m)
  const header = out.split("\n").find((l) => /^\s+admin\s+alice\s+dao\s+web\s+carol/.test(l))
  assert.ok(header !== undefined, out)
  const row = out.split("\n").find((l) => l.startsWith("secrets/web/api.json"))
  assert.ok(row !== undefined)
  const col = (name: string): string =>
    row.charAt(header.indexOf(name) + Math.floor((name.length - 1) / 2))
  assert.equal(col("admin"), "●")
  assert.equal(col("web"), "+")
  assert.equal(col("dao"), "·")
  assert.match(out, /^6 plaintext, 5 stale, 7 warnings in 10 encrypted files and \d+ identities$/m)
  for (const secret of secretsOf(repo))
    assert.ok(!out.includes(secret), "a secret leaked into the table")
})

test("colours on a terminal, none with NO_COLOR", async (t) => {
  const repo = await known(t)
  if (repo === undefined) return
  if (!requireTool(t, "script", "bsdutils")) return
  const colored = await runInPty([binPath(), "audit", "--fail-on", "never"], [], {
    cwd: repo.dir,
    env: { HOME: repo.dir, TERM: "xterm" },
  })
  assert.equal(colored.status, 0, colored.transcript)
  assert.match(colored.transcript, new RegExp(`${ESC}\\[31mStale recipients`))
  const plain = await runInPty([binPath(), "audit", "--fail-on", "never"], [], {
    cwd: repo.dir,
    env: { HOME: repo.dir, TERM: "xterm", NO_COLOR: "1" },
  })
  assert.equal(plain.status, 0)
  assert.doesNotMatch(plain.transcript, new RegExp(`${ESC}\\[\\d+m`))
  assert.match(plain.transcript, /Stale recipients/)
})

test("--fail-on picks what fails: levels, classes, never", async (t) => {
  const repo = await known(t)
  if (repo === undefined) return
  const run = async (value: string): Promise<number | null> =>
    (await runCli(["audit", "--fail-on", value], { cwd: repo.dir, env: { HOME: repo.dir } })).status
  assert.equal(await run("never"), 0)
  assert.equal(await run("plaintext"), 1)
  assert.equal(await run("unused-key"), 1)
  assert.equal(await run("key-age"), 0)
  const bad = await runCli(["audit", "--fail-on", "sometimes"], { cwd: repo.dir })
  assert.equal(bad.status, 2)
  assert.match(bad.stderr, /^error: --fail-on: unknown level or finding class "sometimes"/m)

  // fix what fails at "stale" and the audit passes at that level
  for (const path of [
    "secrets/dao/plain.yaml",
    "secrets/web/app.env",
    "secrets/web/edited.yaml",
    "keys/admin.txt",
    "deploy/id_ed25519",
    "secrets/agenix/wifi.age",
    "secrets/agenix/db.age",
    "secrets/dao/db.yaml",
    "secrets/web/api.json",
    "other/orphan.yaml",
    "broken.yaml",
  ]) {
    rmSync(join(repo.dir, path))
  }
  const clean = await runCli(["audit", "--json"], { cwd: repo.dir, env: { HOME: repo.dir } })
  assert.equal(clean.status, 0, clean.stderr)
  const report = JSON.parse(clean.stdout.toString()) as AuditReport
  assert.ok(
    report.findings.every((f) => f.level === "warning"),
    JSON.stringify(report.findings),
  )
})

test("without Nix: secrets.nix can't be read, said with what to do; its age files are not judged", async (t) => {
  const repo = await known(t)
  if (repo === undefined) return
  // a PATH with git and node but no nix-instantiate
  const bin = tmpTree(t)
  const git = execFileSync("sh", ["-c", "command -v git"], { encoding: "utf8" }).trim()
  symlinkSync(git, join(bin, "git"))
  symlinkSync(process.execPath, join(bin, "node"))
  const env = { HOME: repo.dir, PATH: bin }
  const json = await runCli(["audit", "--json"], { cwd: repo.dir, env })
  const report = JSON.parse(json.stdout.toString()) as AuditReport
  const unreadable = find(report, "unreadable", "secrets/agenix/secrets.nix")
  assert.match(unreadable.message, /nix-instantiate is not installed/)
  assert.match(
    find(report, "unmatched-file", "secrets/agenix/db.age").message,
    /no readable secrets\.nix lists \(secrets\/agenix\/secrets\.nix can't be read\)/,
  )
  // the terminal says what to do
  const table = await runCli(["audit", "--no-matrix"], { cwd: repo.dir, env })
  const out = table.stdout.toString()
  assert.match(out, /secrets\/agenix\/secrets\.nix +nix-instantiate is not installed/)
  assert.match(out, /^ +hint: install nix \(Debian: apt-get install nix-bin\)$/m)
  assert.match(out, /^ +hint: or give the same rules as JSON: RULES=/m)

  // an agenix repository alone: its age file is not "undecryptable" for want of the rules
  if (!requireTool(t, "ssh-keygen", "openssh-client") || !requireTool(t, "age", "age")) return
  const agenix = tmpTree(t)
  mkdirSync(join(agenix, "secrets"))
  const key = join(tmpTree(t), "dao")
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key])
  const pub = readFileSync(`${key}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" ")
  writeFileSync(
    join(agenix, "secrets", "secrets.nix"),
    `let dao = "${pub}"; in { "db.age".publicKeys = [ dao ]; }\n`,
  )
  execFileSync("age", ["-R", `${key}.pub`, "-o", join(agenix, "secrets", "db.age")], {
    input: "db-password",
  })
  execFileSync("git", ["init", "-q"], { cwd: agenix })
  const alone = await runCli(["audit", "--json"], { cwd: agenix, env: { HOME: agenix, PATH: bin } })
  const found = (JSON.parse(alone.stdout.toString()) as AuditReport).findings
  assert.deepEqual(
    found.map((f) => [f.class, f.path]),
    [
      ["unreadable", "secrets/secrets.nix"],
      ["unmatched-file", "secrets/db.age"],
    ],
  )
  // with Nix, the same repository is clean
  const clean = await runCli(["audit", "--json"], { cwd: agenix, env: { HOME: agenix } })
  assert.equal(clean.status, 0, clean.stderr)
})

test("a directory that is not a git repository is walked with its .gitignore", async (t) => {
  const repo = await known(t)
  if (repo === undefined) return
  const copy = join(tmpTree(t), "copy")
  cpSync(repo.dir, copy, { recursive: true })
  rmSync(join(copy, ".git"), { recursive: true, force: true })
  const { report, status } = await auditJson(copy)
  assert.equal(status, 1)
  assert.deepEqual(
    report.findings.map((f) => [f.class, f.path]),
    EXPECTED.map(([c, p]) => [c, p]),
  )
})

test("audit DIR from elsewhere, and bad command lines", async (t) => {
  const repo = await known(t)
  if (repo === undefined) return
  const outside = tmpTree(t)
  const r = await runCli(["audit", "--json", "--fail-on", "never", repo.dir], {
    cwd: outside,
    env: { HOME: outside },
  })
  assert.equal(r.status, 0, r.stderr)
  const report = JSON.parse(r.stdout.toString()) as AuditReport
  assert.equal(report.root, repo.dir)
  assert.equal(report.findings.length, EXPECTED.length)
  const two = await runCli(["audit", "a", "b"], { cwd: outside })
  assert.equal(two.status, 2)
  const age = await runCli(["audit", "--max-age", "soon"], { cwd: outside })
  assert.equal(age.status, 2)
  assert.match(age.stderr, /--max-age must be a number of days/)
  const help = await runCli(["audit", "--help"])
  assert.equal(help.status, 0)
  assert.match(help.stdout.toString(), /Usage:[\s\S]*Examples:/)
})
