/**
 * `coffer agenix` as a real process (docs/agenix.md "The agenix command line"): a `secrets.nix` with two files and three
 * keys (two age keys, one ssh-ed25519 key from ssh-keygen) evaluated by nix-instantiate;
 * `-e` from standard input and with a scripted $EDITOR on a terminal; `-r` after a key is
 * added and removed (only changed files are rewritten); `-d`; and Debian's `age` decrypts
 * every result with each listed key.
 */
import { test, type TestContext } from "node:test"
import assert from "node:assert/strict"
import {
  chmodSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  symlinkSync,
  writeFileSync,
} from "node:fs"
import { join } from "node:path"
import { runCli, runCommand } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { requireTool } from "../support/tools.js"
import { runInPty, shellQuote } from "./pty.js"

interface Setup {
  readonly dir: string
  readonly k1: string
  readonly k2: string
  readonly host: string
  readonly r1: string
  readonly r2: string
  readonly hostPub: string
  readonly env: Readonly<Record<string, string>>
}

async function setup(t: TestContext): Promise<Setup | undefined> {
  if (!requireTool(t, "age", "age")) return undefined
  if (!requireTool(t, "nix-instantiate", "nix-bin")) return undefined
  if (!requireTool(t, "ssh-keygen", "openssh-client")) return undefined
  const dir = tmpTree(t)
  const keys: string[] = []
  for (const name of ["k1.txt", "k2.txt"]) {
    const r = await runCommand("age-keygen", ["-o", join(dir, name)])
    assert.equal(r.status, 0, r.stderr)
    const recipient = /Public key: (age1\w+)/.exec(r.stderr)?.[1]
    assert.ok(recipient !== undefined, r.stderr)
    keys.push(recipient)
  }
  const host = join(dir, "ssh_host_ed25519_key")
  const ssh = await runCommand("ssh-keygen", [
    "-q",
    "-t",
    "ed25519",
    "-N",
    "",
    "-C",
    "host",
    "-f",
    host,
  ])
  assert.equal(ssh.status, 0, ssh.stderr)
  const runtime = join(dir, "runtime")
  mkdirSync(runtime, { mode: 0o700 })
  return {
    dir,
    k1: join(dir, "k1.txt"),
    k2: join(dir, "k2.txt"),
    host,
    r1: keys[0] ?? "",
    r2: keys[1] ?? "",
    hostPub: readFileSync(`${host}.pub`, "utf8").trim(),
    // HOME without ~/.ssh keys, so only -i identities count; a private runtime dir to
    // check that no plaintext is left behind (COFFER_TMPDIR: coffer puts it there)
    env: { HOME: dir, XDG_RUNTIME_DIR: runtime, COFFER_TMPDIR: runtime },
  }
}

function writeRules(s: Setup, a: readonly string[], b: readonly string[]): void {
  const list = (keys: readonly string[]): string => keys.map((k) => JSON.stringify(k)).join(" ")
  writeFileSync(
    join(s.dir, "secrets.nix"),
    `let\n  k1 = "${s.r1}";\n  k2 = "${s.r2}";\n  host = "${s.hostPub}";\nin {\n` +
      `  "a.age".publicKeys = [ ${list(a)} ];\n` +
      `  "sub/b.age" = { publicKeys = [ ${list(b)} ]; armor = true; };\n}\n`,
  )
}

async function ageDecrypt(file: string, identity: string): Promise<string> {
  const r = await runCommand("age", ["-d", "-i", identity, file])
  assert.equal(r.status, 0, `age -d -i ${identity} ${file}: ${r.stderr}`)
  return r.stdout.toString("utf8")
}

async function agenix(
  s: Setup,
  args: readonly string[],
  input = "",
): Promise<Awaited<ReturnType<typeof runCli>>> {
  return runCli(["agenix", ...args], { cwd: s.dir, env: s.env, input })
}

test("agenix -e creates secrets that Debian age decrypts with each listed key", async (t) => {
  const s = await setup(t)
  if (s === undefined) return
  writeRules(s, [s.r1, s.hostPub], [s.r1, s.r2])
  const a = await agenix(s, ["-e", "a.age"], "tskey-auth-aaa")
  assert.equal(a.status, 0, a.stderr)
  assert.match(a.stderr, /a\.age created for 2 keys/)
  mkdirSync(join(s.dir, "sub"))
  const b = await agenix(s, ["-e", "sub/b.age"], "db-password")
  assert.equal(b.status, 0, b.stderr)
  assert.match(
    readFileSync(join(s.dir, "sub/b.age"), "utf8"),
    /^-----BEGIN AGE ENCRYPTED FILE-----\n/,
  )
  for (const identity of [s.k1, s.host]) {
    assert.equal(await ageDecrypt(join(s.dir, "a.age"), identity), "tskey-auth-aaa")
  }
  for (const identity of [s.k1, s.k2]) {
    assert.equal(await ageDecrypt(join(s.dir, "sub/b.age"), identity), "db-password")
  }
  // k2 is not a recipient of a.age
  const denied = await runCommand("age", ["-d", "-i", s.k2, join(s.dir, "a.age")])
  assert.notEqual(denied.status, 0)

  const d = await agenix(s, ["-d", "a.age", "-i", s.host])
  assert.equal(d.status, 0, d.stderr)
  assert.equal(d.stdout.toString("utf8"), "tskey-auth-aaa")
  assert.deepEqual(readdirSync(s.env["XDG_RUNTIME_DIR"] ?? ""), [])
})

test("agenix -e runs $EDITOR on a terminal; no change means no rewrite; a failing editor changes nothing", async (t) => {
  const s = await setup(t)
  if (s === undefined) return
  if (!requireTool(t, "script", "util-linux")) return
  writeRules(s, [s.r1, s.hostPub], [s.r1])
  assert.equal((await agenix(s, ["-e", "a.age"], "old value\n")).status, 0)
  const editor = join(s.dir, "editor.sh")
  // the scripted editor records its file's mode and directory, then rewrites the file
  writeFileSync(
    editor,
    `#!/bin/sh\nstat -c '%a' "$1" > ${shellQuote(join(s.dir, "mode"))}\nstat -c '%a' "$(dirname "$1")" >> ${shellQuote(join(s.dir, "mode"))}\nsed -i 's/old/new/' "$1"\n`,
  )
  chmodSync(editor, 0o755)
  const coffer = join(process.cwd(), "bin", "coffer")
  const edited = await runInPty([coffer, "agenix", "-e", "a.age", "-i", s.k1], [], {
    cwd: s.dir,
    env: { ...s.env, EDITOR: editor },
  })
  assert.equal(edited.status, 0, edited.transcript)
  assert.deepEqual(readFileSync(join(s.dir, "mode"), "utf8").split("\n"), ["600", "700", ""])
  assert.equal(await ageDecrypt(join(s.dir, "a.age"), s.host), "new value\n")

  const before = readFileSync(join(s.dir, "a.age"))
  const same = await runInPty([coffer, "agenix", "-e", "a.age", "-i", s.k1], [], {
    cwd: s.dir,
    env: { ...s.env, EDITOR: "true" },
  })
  assert.equal(same.status, 0, same.transcript)
  assert.match(same.transcript, /wasn't changed, skipping re-encryption/)
  assert.deepEqual(readFileSync(join(s.dir, "a.age")), before)

  const failing = await agenix(s, ["-e", "a.age", "-i", s.k1, "--editor", "false"])
  assert.equal(failing.status, 1)
  assert.match(
    failing.stderr,
    /error: the editor "false" exited with status 1: nothing was changed/,
  )
  assert.deepEqual(readFileSync(join(s.dir, "a.age")), before)
  assert.deepEqual(readdirSync(s.env["XDG_RUNTIME_DIR"] ?? ""), [])
})

test("agenix -r rekeys only the files whose keys changed, and Debian age reads the result", async (t) => {
  const s = await setup(t)
  if (s === undefined) return
  writeRules(s, [s.r1, s.hostPub], [s.r1])
  mkdirSync(join(s.dir, "sub"))
  assert.equal((await agenix(s, ["-e", "a.age"], "A")).status, 0)
  assert.equal((await agenix(s, ["-e", "sub/b.age"], "B")).status, 0)
  const b0 = readFileSync(join(s.dir, "sub/b.age"))

  const nothing = await agenix(s, ["-r", "-i", s.k1])
  assert.equal(nothing.status, 0, nothing.stderr)
  assert.match(nothing.stderr, /unchanged {2}a\.age\n/)
  assert.match(nothing.stderr, /rekeyed 0, unchanged 2, missing 0, failed 0/)

  // a key is added to b.age: only b.age is rewritten, and k2 can now read it
  writeRules(s, [s.r1, s.hostPub], [s.r1, s.r2])
  const a0 = readFileSync(join(s.dir, "a.age"))
  const added = await agenix(s, ["-r", "-i", s.host, "-i", s.k1])
  assert.equal(added.status, 0, added.stderr)
  assert.match(added.stderr, /rekeyed {4}sub\/b\.age \(no stanza for age1/)
  assert.match(added.stderr, /unchanged {2}a\.age/)
  assert.deepEqual(readFileSync(join(s.dir, "a.age")), a0)
  assert.notDeepEqual(readFileSync(join(s.dir, "sub/b.age")), b0)
  assert.equal(await ageDecrypt(join(s.dir, "sub/b.age"), s.k2), "B")
  assert.equal(await ageDecrypt(join(s.dir, "sub/b.age"), s.k1), "B")

  // the host key is removed from a.age: it can no longer decrypt it
  writeRules(s, [s.r1, s.r2], [s.r1, s.r2])
  const removed = await agenix(s, ["-r", "-i", s.k1])
  assert.equal(removed.status, 0, removed.stderr)
  assert.match(
    removed.stderr,
    /rekeyed {4}a\.age \(no stanza for age1.*1 stanza for recipients not in the rule/,
  )
  assert.notEqual((await runCommand("age", ["-d", "-i", s.host, join(s.dir, "a.age")])).status, 0)
  assert.equal(await ageDecrypt(join(s.dir, "a.age"), s.k2), "A")

  // --force rewrites matching files too
  const forced = await agenix(s, ["-r", "--force", "-i", s.k1])
  assert.match(forced.stderr, /rekeyed 2, unchanged 0/)
})

test("agenix -r: a file written by Debian age is rekeyed once; undecryptable and missing files don't stop the rest", async (t) => {
  const s = await setup(t)
  if (s === undefined) return
  writeRules(s, [s.r1], [s.r2])
  const enc = await runCommand("age", ["-r", s.r1, "-o", join(s.dir, "a.age")], {
    input: "from go",
  })
  assert.equal(enc.status, 0, enc.stderr)
  // sub/b.age is missing; a.age is from Go age (random ephemeral keys)
  const first = await agenix(s, ["-r", "-i", s.k1])
  assert.equal(first.status, 0, first.stderr)
  assert.match(first.stderr, /rekeyed {4}a\.age/)
  assert.match(first.stderr, /missing {4}sub\/b\.age \(does not exist, skipped\)/)
  assert.match((await agenix(s, ["-r", "-i", s.k1])).stderr, /unchanged {2}a\.age/)

  // b.age exists but only k2 opens it: reported, the run goes on, the exit status says so
  mkdirSync(join(s.dir, "sub"))
  assert.equal((await agenix(s, ["-e", "sub/b.age"], "B")).status, 0)
  writeRules(s, [s.r1, s.r2], [s.r2])
  const partial = await agenix(s, ["-r", "-i", s.k1])
  assert.equal(partial.status, 1)
  assert.match(partial.stderr, /rekeyed {4}a\.age/)
  assert.match(partial.stderr, /failed {5}sub\/b\.age: no identity matched/)
  assert.match(partial.stderr, /error: 1 of 2 files could not be rekeyed/)
  assert.equal(await ageDecrypt(join(s.dir, "a.age"), s.k2), "from go")
})

test("agenix errors: unknown file, no identities, bad rules, nix-instantiate missing; JSON rules work without Nix", async (t) => {
  const s = await setup(t)
  if (s === undefined) return
  writeRules(s, [s.r1], [s.r1])
  const unknown = await agenix(s, ["-e", "c.age"], "x")
  assert.equal(unknown.status, 1)
  assert.match(unknown.stderr, /error: "c\.age" has no entry in rules file/)
  assert.match(unknown.stderr, /hint: it lists "a\.age", "sub\/b\.age"/)

  assert.equal((await agenix(s, ["-e", "a.age"], "x")).status, 0)
  const noIdentity = await agenix(s, ["-d", "a.age"])
  assert.equal(noIdentity.status, 2)
  assert.match(noIdentity.stderr, /error: no identities to decrypt with/)

  writeFileSync(join(s.dir, "broken.nix"), '{ "a.age".publicKeys = [ ')
  const broken = await runCli(["agenix", "-d", "a.age", "-i", s.k1], {
    cwd: s.dir,
    env: { ...s.env, RULES: "broken.nix" },
  })
  assert.equal(broken.status, 1)
  assert.match(broken.stderr, /error: can't evaluate rules file ".*broken\.nix": syntax error/)

  // PATH with node only: no nix-instantiate
  const bin = join(s.dir, "bin")
  mkdirSync(bin)
  symlinkSync(process.execPath, join(bin, "node"))
  const noNix = await runCli(["agenix", "-d", "a.age", "-i", s.k1], {
    cwd: s.dir,
    env: { ...s.env, PATH: bin },
  })
  assert.equal(noNix.status, 1)
  assert.match(noNix.stderr, /error: nix-instantiate is not installed/)
  assert.match(noNix.stderr, /hint: install nix \(Debian: apt-get install nix-bin\)/)

  writeFileSync(join(s.dir, "secrets.json"), JSON.stringify({ "a.age": { publicKeys: [s.r1] } }))
  const json = await runCli(["agenix", "-d", "a.age", "-i", s.k1], {
    cwd: s.dir,
    env: { ...s.env, PATH: bin, RULES: "secrets.json" },
  })
  assert.equal(json.status, 0, json.stderr)
  assert.equal(json.stdout.toString("utf8"), "x")

  const usage = await agenix(s, ["-e", "a.age", "-r"])
  assert.equal(usage.status, 2)
  assert.match(usage.stderr, /-e, -r and -d can't be combined/)
})
