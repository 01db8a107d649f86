/**
 * `coffer audit --max-age` (docs/audit.md "Key age") on a repository with history: a sops
 * file edited since its data key was made keeps the old key (found through git history,
 * though its `lastmodified` is recent), a rotated one has a new key, an age file's key is
 * as old as its last commit; without git, `lastmodified` is only a lower bound.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { execFileSync } from "node:child_process"
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { runCli } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { requireTool } from "../support/tools.js"
import { encrypt } from "../../src/age/encrypt.js"
import { parseRecipient } from "../../src/age/keyfile.js"
import { generateX25519Identity } from "../../src/age/x25519.js"
import { closeFile, encryptFile, openEncryptedFile, reencryptFile } from "../../src/sops/index.js"
import type { AuditReport } from "../../src/audit/report.js"

const DAY = 86_400_000

function commit(dir: string, message: string, at: Date): void {
  const date = at.toISOString()
  execFileSync("git", ["add", "-A"], { cwd: dir })
  execFileSync("git", ["commit", "-q", "-m", message], {
    cwd: dir,
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: "t",
      GIT_AUTHOR_EMAIL: "t@example.invalid",
      GIT_COMMITTER_NAME: "t",
      GIT_COMMITTER_EMAIL: "t@example.invalid",
      GIT_AUTHOR_DATE: date,
      GIT_COMMITTER_DATE: date,
    },
  })
}

test("--max-age finds each key's birth in git history", async (t) => {
  if (!requireTool(t, "git", "git")) return
  const dir = tmpTree(t)
  const admin = generateX25519Identity()
  const recipient = admin.toRecipient().encode()
  const now = Date.now()
  const long = new Date(now - 400 * DAY)
  const recent = new Date(now - 50 * DAY)
  const groups = { keyGroups: [{ age: [recipient], pgp: [] }] }
  writeFileSync(
    join(dir, ".sops.yaml"),
    `creation_rules:\n  - path_regex: \\.yaml$\n    age: ${recipient}\n`,
  )
  mkdirSync(join(dir, "s"))
  const edited = await encryptFile("a: 1\nb: 2\n", "yaml", groups, { clock: () => long })
  writeFileSync(join(dir, "s/edited.yaml"), edited)
  writeFileSync(
    join(dir, "s/rotated.yaml"),
    await encryptFile("a: 1\n", "yaml", groups, { clock: () => long }),
  )
  writeFileSync(
    join(dir, "s/old.age"),
    await encrypt(new TextEncoder().encode("x"), [await parseRecipient(recipient)]),
  )
  execFileSync("git", ["init", "-q"], { cwd: dir })
  commit(dir, "one", long)

  // an edit keeps the data key (and the ciphertext of b); a rotation makes a new one
  const opened = await openEncryptedFile(edited, "yaml", { identities: [admin] })
  const [branch] = opened.doc.branches
  assert.ok(branch !== undefined)
  const changed = {
    branches: [
      {
        kind: "mapping" as const,
        items: branch.items.map((item) =>
          item.kind === "entry" && item.key === "a"
            ? { ...item, value: { kind: "int" as const, value: 5n } }
            : item,
        ),
      },
    ],
  }
  writeFileSync(join(dir, "s/edited.yaml"), reencryptFile(opened, changed, { clock: () => recent }))
  closeFile(opened)
  writeFileSync(
    join(dir, "s/rotated.yaml"),
    await encryptFile("a: 2\n", "yaml", groups, { clock: () => recent }),
  )
  commit(dir, "two", recent)

  const run = async (cwd: string): Promise<AuditReport> => {
    const r = await runCli(["audit", "--json", "--max-age", "200"], { cwd })
    assert.equal(r.status, 1, r.stderr)
    return JSON.parse(r.stdout.toString()) as AuditReport
  }
  const report = await run(dir)
  const flagged = report.findings.filter((f) => f.class === "key-age")
  assert.deepEqual(
    flagged.map((f) => [f.path, f.details["exact"], f.fix]),
    [
      ["s/edited.yaml", true, "coffer rotate -i s/edited.yaml"],
      ["s/old.age", true, null],
    ],
  )
  const file = (path: string) => report.files.find((f) => f.path === path)?.dataKey
  assert.equal(file("s/edited.yaml")?.source, "history")
  assert.equal(file("s/edited.yaml")?.createdAt, long.toISOString().replace(/\.\d{3}Z$/, "Z"))
  assert.equal(file("s/edited.yaml")?.lastModified, recent.toISOString().replace(/\.\d{3}Z$/, "Z"))
  assert.ok(Math.abs((file("s/edited.yaml")?.ageDays ?? 0) - 400) <= 1)
  assert.equal(file("s/rotated.yaml")?.source, "history")
  assert.ok(Math.abs((file("s/rotated.yaml")?.ageDays ?? 0) - 50) <= 1)
  assert.equal(file("s/old.age")?.source, "commit")
  assert.equal(report.maxAgeDays, 200)

  // without git only lastmodified is known: a lower bound, under the limit here
  const copy = join(tmpTree(t), "copy")
  cpSync(dir, copy, { recursive: true })
  rmSync(join(copy, ".git"), { recursive: true, force: true })
  const r = await runCli(["audit", "--json", "--max-age", "30"], { cwd: copy })
  const bare = JSON.parse(r.stdout.toString()) as AuditReport
  const edit = bare.findings.find((f) => f.class === "key-age" && f.path === "s/edited.yaml")
  assert.ok(edit !== undefined, JSON.stringify(bare.findings))
  assert.equal(edit.details["exact"], false)
  assert.match(edit.message, /data key is at least (49|50|51) days old/)
  assert.equal(bare.files.find((f) => f.path === "s/edited.yaml")?.dataKey.source, "lastmodified")
})
