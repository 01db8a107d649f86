/**
 * `coffer updatekeys` as a real process (docs/formats/sops.md "Commands": `updatekeys`;
 * docs/goals.md "Bulk changes"): a rule gains a recipient and `updatekeys -y` over a folder of 50 files adds it
 * on the worker pool without touching the values (ciphertext, lastmodified and MAC byte
 * for byte; the new key decrypts); `--json`; no terminal without `--yes` changes nothing;
 * `--rotate` changes every ciphertext; a file that can't be opened fails alone; on a
 * terminal the plan is confirmed once and a progress bar is drawn and cleared.
 */
import { test, type TestContext } from "node:test"
import assert from "node:assert/strict"
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import { runCli } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { requireTool } from "../support/tools.js"
import { runInPty } from "./pty.js"
import { generateX25519Identity } from "../../src/age/x25519.js"
import { encryptFile } from "../../src/sops/index.js"

interface Key {
  readonly file: string
  readonly recipient: string
}

function makeKey(dir: string, name: string): Key {
  const identity = generateX25519Identity()
  const file = join(dir, name)
  writeFileSync(file, `${identity.encode()}\n`, { mode: 0o600 })
  return { file, recipient: identity.toRecipient().encode() }
}

function writeRule(dir: string, recipients: readonly string[]): void {
  writeFileSync(
    join(dir, ".sops.yaml"),
    `creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    key_groups:\n      - age:\n${recipients.map((r) => `          - ${r}\n`).join("")}`,
  )
}

/** The part of a YAML sops file before its metadata: the values' ciphertext. */
function valuesOf(text: string): string {
  const at = text.indexOf("\nsops:\n")
  assert.ok(at > 0, text)
  return text.slice(0, at)
}

function metadataLine(text: string, key: string): string | undefined {
  return new RegExp(`^    ${key}: .*$`, "m").exec(text)?.[0]
}

async function makeTree(t: TestContext, count: number, keys: readonly Key[]): Promise<string> {
  const dir = tmpTree(t)
  mkdirSync(join(dir, "secrets", "nested"), { recursive: true })
  for (let i = 0; i < count; i++) {
    const sub = i % 2 === 0 ? "secrets" : join("secrets", "nested")
    const text = await encryptFile(
      `token: tskey-${String(i)}\nport: ${String(8000 + i)}\n`,
      "yaml",
      {
        keyGroups: [{ age: keys.map((k) => k.recipient), pgp: [] }],
      },
    )
    writeFileSync(join(dir, sub, `app${String(i)}.yaml`), text)
  }
  writeFileSync(join(dir, "secrets", "README.md"), "not a sops file\n")
  return dir
}

function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>()
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      if (e.isDirectory()) walk(p)
      else out.set(p, readFileSync(p, "utf8"))
    }
  }
  walk(join(dir, "secrets"))
  return out
}

test("updatekeys -y over a folder of 50 files adds the rule's new recipient and keeps every value", async (t) => {
  const dir = tmpTree(t)
  const admin = makeKey(dir, "admin.txt")
  const host = makeKey(dir, "host.txt")
  const tree = await makeTree(t, 50, [admin])
  writeRule(tree, [admin.recipient])
  const env = { SOPS_AGE_KEY_FILE: admin.file, HOME: dir }
  const before = snapshot(tree)

  const nothing = await runCli(["updatekeys", "-y", "secrets"], { cwd: tree, env })
  assert.equal(nothing.status, 0, nothing.stderr)
  assert.match(nothing.stderr, /updated 0, unchanged 50, failed 0, skipped 1 \(not sops files\)/)
  assert.deepEqual(snapshot(tree), before)

  writeRule(tree, [admin.recipient, host.recipient])
  const r = await runCli(["updatekeys", "-y", "secrets"], { cwd: tree, env })
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stderr, /updated {4}secrets\/app0\.yaml\n {4}\+ age age1/)
  assert.match(r.stderr, /updated 50, unchanged 0, failed 0, skipped 1 \(not sops files\)/)
  const after = snapshot(tree)
  let checked = 0
  for (const [path, old] of before) {
    const now = after.get(path) ?? ""
    if (path.endsWith("README.md")) {
      assert.equal(now, old)
      continue
    }
    assert.equal(valuesOf(now), valuesOf(old), `values of ${path} changed`)
    assert.equal(metadataLine(now, "mac"), metadataLine(old, "mac"))
    assert.equal(metadataLine(now, "lastmodified"), metadataLine(old, "lastmodified"))
    assert.ok(now.includes(host.recipient) && !old.includes(host.recipient))
    checked += 1
  }
  assert.equal(checked, 50)

  // the new recipient's key decrypts
  const d = await runCli(["decrypt", "secrets/nested/app7.yaml"], {
    cwd: tree,
    env: { SOPS_AGE_KEY_FILE: host.file, HOME: dir },
  })
  assert.equal(d.status, 0, d.stderr)
  assert.equal(d.stdout.toString("utf8"), "token: tskey-7\nport: 8007\n")

  // --json: a report for scripts on stdout
  const json = await runCli(["updatekeys", "-y", "--json", "secrets"], { cwd: tree, env })
  assert.equal(json.status, 0, json.stderr)
  const report = JSON.parse(json.stdout.toString("utf8")) as {
    files: { path: string; status: string }[]
    summary: Record<string, number>
  }
  assert.deepEqual(report.summary, { updated: 0, unchanged: 50, failed: 0, skipped: 1 })
  assert.equal(report.files.length, 51)
  assert.equal(json.stderr, "")
})

test("updatekeys without a terminal needs --yes and changes nothing; --rotate changes every ciphertext", async (t) => {
  const dir = tmpTree(t)
  const admin = makeKey(dir, "admin.txt")
  const host = makeKey(dir, "host.txt")
  const tree = await makeTree(t, 4, [admin])
  writeRule(tree, [admin.recipient, host.recipient])
  const env = { SOPS_AGE_KEY_FILE: admin.file, HOME: dir }
  const before = snapshot(tree)

  const refused = await runCli(["updatekeys", "secrets"], { cwd: tree, env })
  assert.equal(refused.status, 2, refused.stderr)
  assert.match(refused.stderr, /secrets\/app0\.yaml:\n {4}\+ age age1/)
  assert.match(
    refused.stderr,
    /error: 4 files would change, and there is no terminal to confirm on: nothing was changed\nhint: run with --yes/,
  )
  assert.deepEqual(snapshot(tree), before)

  const rotated = await runCli(["updatekeys", "-y", "--rotate", "--jobs", "2", "secrets"], {
    cwd: tree,
    env,
  })
  assert.equal(rotated.status, 0, rotated.stderr)
  assert.match(rotated.stderr, /data key: new/)
  for (const [path, old] of before) {
    if (path.endsWith("README.md")) continue
    const now = readFileSync(path, "utf8")
    const oldValues = valuesOf(old).split("\n")
    const newValues = valuesOf(now).split("\n")
    assert.equal(newValues.length, oldValues.length)
    for (const [i, line] of newValues.entries())
      assert.notEqual(line, oldValues[i], `${path}: ${line}`)
    assert.notEqual(metadataLine(now, "mac"), metadataLine(old, "mac"))
  }
  const d = await runCli(["decrypt", "secrets/app2.yaml"], {
    cwd: tree,
    env: { SOPS_AGE_KEY_FILE: host.file, HOME: dir },
  })
  assert.equal(d.stdout.toString("utf8"), "token: tskey-2\nport: 8002\n")
})

test("updatekeys: a file nobody here can open fails alone; the others are updated", async (t) => {
  const dir = tmpTree(t)
  const admin = makeKey(dir, "admin.txt")
  const other = makeKey(dir, "other.txt")
  const host = makeKey(dir, "host.txt")
  const tree = await makeTree(t, 3, [admin])
  writeFileSync(
    join(tree, "secrets", "foreign.yaml"),
    await encryptFile("x: 1\n", "yaml", { keyGroups: [{ age: [other.recipient], pgp: [] }] }),
  )
  writeRule(tree, [admin.recipient, host.recipient])
  const r = await runCli(["updatekeys", "-y", "secrets", "missing.yaml"], {
    cwd: tree,
    env: { SOPS_AGE_KEY_FILE: admin.file, HOME: dir },
  })
  assert.equal(r.status, 1)
  assert.match(r.stderr, /failed {5}secrets\/foreign\.yaml: could not decrypt the data key/)
  assert.match(r.stderr, /failed {5}missing\.yaml: no such file or folder/)
  assert.match(r.stderr, /updated 3, unchanged 0, failed 2/)
  assert.match(r.stderr, /error: 2 of 5 files could not be updated/)
  assert.ok(!readFileSync(join(tree, "secrets", "foreign.yaml"), "utf8").includes(host.recipient))
})

test("updatekeys on a terminal shows the plan, asks once, and draws a progress bar it clears", async (t) => {
  if (!requireTool(t, "script", "util-linux")) return
  const dir = tmpTree(t)
  const admin = makeKey(dir, "admin.txt")
  const host = makeKey(dir, "host.txt")
  const tree = await makeTree(t, 6, [admin])
  writeRule(tree, [admin.recipient, host.recipient])
  const coffer = join(process.cwd(), "bin", "coffer")
  const declined = await runInPty([coffer, "updatekeys", "secrets"], ["n"], {
    cwd: tree,
    env: { SOPS_AGE_KEY_FILE: admin.file, HOME: dir },
    promptPattern: /\[y\/N\]/g,
  })
  assert.equal(declined.status, 0, declined.transcript)
  assert.match(declined.transcript, /update the keys of 6 files\? \[y\/N\]/)
  assert.match(declined.transcript, /nothing was changed/)
  assert.ok(!readFileSync(join(tree, "secrets", "app0.yaml"), "utf8").includes(host.recipient))

  const accepted = await runInPty([coffer, "updatekeys", "secrets"], ["y"], {
    cwd: tree,
    env: { SOPS_AGE_KEY_FILE: admin.file, HOME: dir },
    promptPattern: /\[y\/N\]/g,
  })
  assert.equal(accepted.status, 0, accepted.transcript)
  assert.match(accepted.transcript, /updating \[#+-*\] \d+\/6 files/)
  assert.ok(
    accepted.transcript.includes("\r\u001b[Kupdated 6, unchanged 0, failed 0"),
    "the bar is cleared before the summary",
  )
  assert.ok(readFileSync(join(tree, "secrets", "app0.yaml"), "utf8").includes(host.recipient))
})
