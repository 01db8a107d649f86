/**
 * docs/coming-from.md and the README's "Coming from" table (issue 16 "The product around
 * it"): every row is run. Each side runs with `/bin/sh -c` in its own copy of one folder,
 * the command of today with the real sops, age, age-keygen and ssh-to-age (the peers),
 * the coffer command with `bin/coffer`. Both must exit alike and print the same bytes, and
 * leave the same files: byte for byte, or for sops and age files the same plaintext (as
 * the real sops and age decrypt them) to the same recipients. agenix and sops-nix's
 * installer can't be installed here: their rows check what the coffer command did. The
 * differences table's exit statuses are checked on both sides, and what the coffer side
 * names must be in its error.
 */
import { test } from "node:test"
import type { TestContext } from "node:test"
import assert from "node:assert/strict"
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs"
import { dirname, join, relative } from "node:path"
import { binPath, repoRoot, runCommand } from "../support/cli.js"
import type { RunResult } from "../support/cli.js"
import { requirePeer } from "../support/peers.js"
import { tmpTree } from "../support/tmp.js"
import { requireTool } from "../support/tools.js"

/** A row of a two-column table: the command of today, the coffer command. */
interface Row {
  readonly today: string
  readonly coffer: string
}

/** A row of the differences table: each side's command, exit status and what it names. */
interface DifferenceRow {
  readonly what: string
  readonly today: Side
  readonly coffer: Side
}

/** One side of a difference: the command, its exit status, what it names or prints on. */
interface Side {
  readonly command: string
  readonly status: number
  /** Text its standard error must hold. */
  readonly names?: string
  /** The stream its report goes to. */
  readonly prints?: "output" | "error"
}

function cells(line: string): string[] {
  return line
    .replace(/^\|/, "")
    .replace(/\|\s*$/, "")
    .split(/(?<!\\)\|/)
    .map((c) => c.trim().replace(/\\\|/g, "|"))
}

function codeSpans(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? "")
}

/** The rows of every table whose cells start with a command, in a markdown text. */
function commandRows(markdown: string): { rows: Row[]; differences: DifferenceRow[] } {
  const rows: Row[] = []
  const differences: DifferenceRow[] = []
  for (const line of markdown.split("\n")) {
    if (!line.startsWith("|") || /^\|\s*-/.test(line)) continue
    const row = cells(line)
    if (row.length === 2 && row.every((c) => c.startsWith("`"))) {
      rows.push({
        today: codeSpans(row[0] ?? "")[0] ?? "",
        coffer: codeSpans(row[1] ?? "")[0] ?? "",
      })
    } else if (row.length === 3 && row[1]?.startsWith("`") === true) {
      const side = (cell: string): Side => {
        const [command = "", ...rest] = codeSpans(cell)
        const status = /` exits (\d+)/.exec(cell)
        assert.ok(status !== null, `"${cell}" says which status it exits with`)
        const names = /\b(?:names|naming) `([^`]+)`/.exec(cell)?.[1]
        assert.ok(rest.length === 0 || names !== undefined, cell)
        const prints = /printing it on standard (output|error)/.exec(cell)?.[1]
        return {
          command,
          status: Number(status[1]),
          ...(names === undefined ? {} : { names }),
          ...(prints === "output" || prints === "error" ? { prints } : {}),
        }
      }
      const [whatCell = "", todayCell = "", cofferCell = ""] = row
      differences.push({
        what: whatCell,
        today: side(todayCell),
        coffer: side(cofferCell),
      })
    }
  }
  return { rows, differences }
}

const guide = readFileSync(join(repoRoot, "docs/coming-from.md"), "utf8")
const readme = readFileSync(join(repoRoot, "README.md"), "utf8")

/** The peers the commands of today run. */
const peerNames = ["sops", "age", "age-keygen", "ssh-to-age"] as const

/** The folder both sides start from, and how to run a command in a copy of it. */
interface Bench {
  readonly template: string
  readonly bin: string
  /** Runs `command` with sh in a fresh copy of the folder. */
  run(command: string, label: string): Promise<{ dir: string; result: RunResult }>
  /** Runs a peer (or any command of the bin folder) in `dir`. */
  tool(dir: string, args: readonly string[]): Promise<RunResult>
}

const plainApp = "db:\n    password: hunter2\napi_key: xyz\n"

async function makeBench(t: TestContext): Promise<Bench | null> {
  if (!requireTool(t, "ssh-keygen", "openssh-client")) return null
  if (!requireTool(t, "nix-instantiate", "nix-bin")) return null
  const peers = new Map<string, string>()
  for (const name of peerNames) {
    const path = requirePeer(t, name)
    if (path === null) return null
    peers.set(name, path)
  }
  const root = tmpTree(t, {})
  const bin = join(root, "bin")
  mkdirSync(bin)
  for (const [name, path] of peers) symlinkSync(path, join(bin, name))
  for (const name of ["coffer", "coffer-age", "coffer-age-keygen"])
    symlinkSync(binPath(name), join(bin, name))
  const template = join(root, "template")
  mkdirSync(join(template, "secrets"), { recursive: true })
  mkdirSync(join(template, "home"))
  // a clean environment: nothing of the test runner's (EDITOR, SOPS_*, a real HOME)
  const cleared = Object.fromEntries(Object.keys(process.env).map((k) => [k, undefined]))
  const envFor = (dir: string): Record<string, string | undefined> => ({
    ...cleared,
    PATH: `${bin}:${dirname(process.execPath)}:/usr/bin:/bin`,
    HOME: join(dir, "home"),
    LANG: "C.UTF-8",
    SOPS_AGE_KEY_FILE: join(dir, "key.txt"),
  })
  const tool = async (dir: string, args: readonly string[]): Promise<RunResult> => {
    const [command = "", ...rest] = args
    const r = await runCommand(peers.get(command) ?? command, rest, {
      cwd: dir,
      env: envFor(dir),
    })
    return r
  }
  const must = async (args: readonly string[], input?: string): Promise<string> => {
    const [command = "", ...rest] = args
    const r = await runCommand(peers.get(command) ?? command, rest, {
      cwd: template,
      env: envFor(template),
      ...(input === undefined ? {} : { input }),
    })
    assert.equal(r.status, 0, `${args.join(" ")}: ${r.stderr}`)
    return r.stdout.toString("utf8")
  }
  const write = (name: string, text: string): void => {
    writeFileSync(join(template, name), text)
  }
  await must(["age-keygen", "-o", "key.txt"])
  await must(["age-keygen", "-o", "key2.txt"])
  const r1 = (await must(["age-keygen", "-y", "key.txt"])).trim()
  const r2 = (await must(["age-keygen", "-y", "key2.txt"])).trim()
  write(".sops.yaml", `creation_rules:\n  - path_regex: ^secrets/\n    age: ${r1},${r2}\n`)
  write("typo.sops.yaml", `creation_rules:\n  - path_regx: ^secrets/\n    age: ${r1}\n`)
  write("secrets/app.yaml", plainApp)
  // to the first key only, so that updatekeys has a recipient to add
  await must(["sops", "-e", "-i", "--age", r1, "secrets/app.yaml"])
  write("secrets/app.env", "API_KEY=xyz\nDB_HOST=db.internal\n")
  await must(["sops", "-e", "-i", "secrets/app.env"])
  write("secrets/new.yaml", "token: abc\n")
  const app = readFileSync(join(template, "secrets/app.yaml"), "utf8")
  const tampered = app.replace(
    /(mac: ENC\[AES256_GCM,data:)(.)/,
    (_m, head: string, c: string) => `${head}${c === "A" ? "B" : "A"}`,
  )
  assert.notEqual(tampered, app)
  write("secrets/tampered.yaml", tampered)
  write("recipients.txt", `${r1}\n`)
  write("secret.txt", "a secret\n")
  await must(["age", "-R", "recipients.txt", "-o", "secret.age", "secret.txt"])
  await must(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "me", "-f", "id_ed25519"])
  await must(["age", "-R", "id_ed25519.pub", "-o", "ssh.age", "secret.txt"])
  write("secrets.nix", `{ "db.age".publicKeys = [ "${r1}" "${r2}" ]; }\n`)
  // to the first key only, so that agenix -r has a recipient to add
  await must(["age", "-r", r1, "-o", "db.age"], "hunter2")

  let runs = 0
  return {
    template,
    bin,
    tool,
    async run(command, label) {
      runs += 1
      const dir = join(root, `${String(runs)}-${label}`)
      cpSync(template, dir, { recursive: true })
      writeFileSync(
        join(dir, "manifest.json"),
        JSON.stringify({
          secrets: [
            {
              name: "db_password",
              key: "db/password",
              path: join(dir, "run/secrets/db_password"),
              owner: "root",
              group: "root",
              mode: "0400",
              sopsFile: join(dir, "secrets/app.yaml"),
              format: "yaml",
              restartUnits: [],
              reloadUnits: [],
              neededForUsers: false,
            },
          ],
          templates: [],
          placeholderBySecretName: {},
          secretsMountPoint: join(dir, "run/secrets.d"),
          symlinkPath: join(dir, "run/secrets"),
          keepGenerations: 1,
          sshKeyPaths: [],
          ageKeyFile: join(dir, "key.txt"),
          ageSshKeyPaths: [],
          useTmpfs: false,
          userMode: false,
          logging: { keyImport: true, secretChanges: true },
        }),
      )
      const result = await runCommand("/bin/sh", ["-c", command], { cwd: dir, env: envFor(dir) })
      return { dir, result }
    },
  }
}

function filesUnder(dir: string): string[] {
  const out: string[] = []
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name)
      if (statSync(p).isDirectory()) walk(p)
      else out.push(relative(dir, p))
    }
  }
  walk(dir)
  // manifest.json names its own folder, so it differs between the two sides
  return out.filter((f) => !f.startsWith("home/") && f !== "manifest.json").sort()
}

const isSopsFile = (text: string): boolean => /^sops:|"sops": \{|^sops_version=/m.test(text)

/** The age recipients a sops file's metadata lists, sorted. */
function sopsRecipients(text: string): string[] {
  return [...new Set(text.match(/age1[02-9ac-hj-np-z]{58}/g) ?? [])].sort()
}

/** Checks two folders hold the same files, as the real tools read them. */
async function assertSameFiles(bench: Bench, a: string, b: string, what: string): Promise<void> {
  assert.deepEqual(filesUnder(b), filesUnder(a), `${what}: the same files`)
  for (const file of filesUnder(a)) {
    const left = readFileSync(join(a, file))
    const right = readFileSync(join(b, file))
    if (left.equals(right)) continue
    const text = left.toString("utf8")
    const other = right.toString("utf8")
    if (isSopsFile(text)) {
      assert.ok(isSopsFile(other), `${what}: ${file} is a sops file on both sides`)
      const plain = await bench.tool(a, ["sops", "-d", file])
      const theirs = await bench.tool(b, ["sops", "-d", file])
      assert.equal(plain.status, 0, plain.stderr)
      assert.equal(theirs.status, 0, `${what}: sops -d ${file} of coffer's: ${theirs.stderr}`)
      assert.equal(theirs.stdout.toString(), plain.stdout.toString(), `${what}: ${file}`)
      assert.deepEqual(sopsRecipients(other), sopsRecipients(text), `${what}: ${file} recipients`)
    } else if (text.startsWith("age-encryption.org/v1\n")) {
      const plain = await bench.tool(a, ["age", "-d", "-i", "key.txt", file])
      const theirs = await bench.tool(b, ["age", "-d", "-i", "key.txt", file])
      assert.equal(theirs.status, 0, `${what}: age -d ${file} of coffer's: ${theirs.stderr}`)
      assert.deepEqual(theirs.stdout, plain.stdout, `${what}: ${file}`)
      const stanzas = (s: string): string[] =>
        s
          .split("\n")
          .filter((l) => l.startsWith("-> "))
          .map((l) => l.split(" ")[1] ?? "")
      assert.deepEqual(stanzas(other), stanzas(text), `${what}: ${file} stanza types`)
    } else if (text.includes("AGE-SECRET-KEY-1")) {
      // a new identity: random, but the real age-keygen must read coffer's
      const theirs = await bench.tool(b, ["age-keygen", "-y", file])
      assert.equal(theirs.status, 0, `${what}: age-keygen -y ${file}: ${theirs.stderr}`)
      assert.match(theirs.stdout.toString(), /^age1[02-9ac-hj-np-z]{58}\n$/)
      assert.equal(statSync(join(b, file)).mode & 0o777, statSync(join(a, file)).mode & 0o777)
    } else {
      assert.equal(other, text, `${what}: ${file}`)
    }
  }
}

/** What a coffer-only row must have done (its tool of today is not installable here). */
const cofferOnly: Readonly<
  Record<string, (bench: Bench, dir: string, result: RunResult) => Promise<void>>
> = {
  "coffer agenix -d db.age -i key.txt": (_bench, _dir, r) => {
    assert.equal(r.stdout.toString(), "hunter2")
    return Promise.resolve()
  },
  "printf hunter3 | coffer agenix -e db.age -i key.txt": async (bench, dir) => {
    for (const key of ["key.txt", "key2.txt"]) {
      const opened = await bench.tool(dir, ["age", "-d", "-i", key, "db.age"])
      assert.equal(opened.stdout.toString(), "hunter3", `${key}: ${opened.stderr}`)
    }
  },
  "coffer agenix -r -i key.txt": async (bench, dir) => {
    const before = await bench.tool(bench.template, ["age", "-d", "-i", "key2.txt", "db.age"])
    assert.notEqual(before.status, 0, "db.age starts without the second key")
    const opened = await bench.tool(dir, ["age", "-d", "-i", "key2.txt", "db.age"])
    assert.equal(opened.stdout.toString(), "hunter2", opened.stderr)
  },
  "coffer install --dry-run manifest.json": (_bench, dir, r) => {
    assert.match(
      r.stdout.toString(),
      /^dry run: would write generation 1 in ".*run\/secrets\.d" with 1 file/m,
    )
    assert.equal(existsSync(join(dir, "run")), false, "a dry run writes nothing")
    return Promise.resolve()
  },
}

/** Whether the command of today runs a peer (else only the coffer side runs). */
function runsPeer(command: string): boolean {
  const program = command.replace(/^(?:[A-Z_]+=(?:'[^']*'|\S*)\s+)+/, "").split(/\s+/)[0]
  return (peerNames as readonly string[]).includes(program ?? "")
}

test("the guide's and the README's tables list the same commands, every one checked", () => {
  const { rows, differences } = commandRows(guide)
  assert.ok(rows.length >= 20, `${String(rows.length)} rows`)
  assert.ok(differences.length >= 5)
  const keys = new Set(rows.map((r) => r.coffer))
  assert.equal(keys.size, rows.length, "each coffer command once")
  for (const row of rows) {
    assert.ok(
      runsPeer(row.today) || Object.hasOwn(cofferOnly, row.coffer),
      `row "${row.today}": neither a peer runs it nor does a check say what coffer must do`,
    )
    assert.match(
      row.coffer,
      /^(?:[A-Z_]+=(?:'[^']*'|\S+) |printf \S+ \| )?coffer(?:-age)? /,
      row.coffer,
    )
  }
  for (const command of Object.keys(cofferOnly)) assert.ok(keys.has(command), command)
  const section = readme.slice(
    readme.indexOf("## Coming from"),
    readme.indexOf("\n## ", readme.indexOf("## Coming from") + 3),
  )
  const fromReadme = commandRows(section)
  assert.ok(fromReadme.rows.length >= 8, "the README has a table of its own")
  for (const row of fromReadme.rows)
    assert.ok(
      rows.some((r) => r.today === row.today && r.coffer === row.coffer),
      `README row "${row.today}" | "${row.coffer}" is in docs/coming-from.md`,
    )
  for (const row of fromReadme.differences)
    assert.ok(
      differences.some((d) => JSON.stringify(d) === JSON.stringify(row)),
      `README difference "${row.what}" is in docs/coming-from.md`,
    )
})

test("every command of today and its coffer command: same output, same files", async (t) => {
  const bench = await makeBench(t)
  if (bench === null) return
  const { rows, differences } = commandRows(guide)
  for (const row of rows) {
    const ours = await bench.run(row.coffer, "coffer")
    const what = `"${row.coffer}"`
    if (!runsPeer(row.today)) {
      assert.equal(ours.result.status, 0, `${what}: ${ours.result.stderr}`)
      const check = cofferOnly[row.coffer]
      assert.ok(check !== undefined, what)
      await check(bench, ours.dir, ours.result)
      continue
    }
    const theirs = await bench.run(row.today, "today")
    assert.equal(theirs.result.status, 0, `"${row.today}" (the peer): ${theirs.result.stderr}`)
    assert.equal(ours.result.status, 0, `${what}: ${ours.result.stderr}`)
    // a report that goes to another stream is a difference the guide lists
    const elsewhere = differences.some(
      (d) => d.coffer.command === row.coffer && d.coffer.prints !== d.today.prints,
    )
    if (!elsewhere) {
      assert.equal(
        ours.result.stdout.toString("utf8"),
        theirs.result.stdout.toString("utf8"),
        `${what} prints what "${row.today}" prints`,
      )
    }
    await assertSameFiles(bench, theirs.dir, ours.dir, what)
  }
})

test("the differences on purpose: each side's exit status as the guide says", async (t) => {
  const bench = await makeBench(t)
  if (bench === null) return
  for (const row of commandRows(guide).differences) {
    const theirs = await bench.run(row.today.command, "today")
    assert.equal(
      theirs.result.status,
      row.today.status,
      `${row.what}: "${row.today.command}" (the peer): ${theirs.result.stderr}`,
    )
    const ours = await bench.run(row.coffer.command, "coffer")
    assert.equal(
      ours.result.status,
      row.coffer.status,
      `${row.what}: "${row.coffer.command}": ${ours.result.stderr}`,
    )
    if (row.coffer.names !== undefined)
      assert.ok(ours.result.stderr.includes(row.coffer.names), ours.result.stderr)
    for (const [side, run] of [
      [row.today, theirs],
      [row.coffer, ours],
    ] as const) {
      if (side.prints === "output") assert.notEqual(run.result.stdout.length, 0, side.command)
      if (side.prints === "error") {
        assert.equal(run.result.stdout.length, 0, side.command)
        assert.notEqual(run.result.stderr.trim(), "", side.command)
      }
    }
    if (row.coffer.status === 1 || row.coffer.status === 2)
      assert.match(ours.result.stderr, /^error: /m, row.what)
  }
})
