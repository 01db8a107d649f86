/**
 * `coffer edit` with the real default choice of folder (issue 19 "Plaintext never on a
 * persistent disk during edit"): no COFFER_TMPDIR, as a user runs it. While the editor
 * runs, its file is in a 0700 folder on a RAM file system (tmpfs or ramfs), the file is
 * 0600, and both are gone afterwards; an XDG_RUNTIME_DIR on a disk is passed over.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { runCli, runCommand } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { requireTool } from "../support/tools.js"

test("edit: the plaintext is on a RAM file system while the editor runs, then gone", async (t) => {
  if (!requireTool(t, "stat", "coreutils")) return
  const dir = tmpTree(t, { "app.yaml": "password: hunter2\n" })
  const key = join(dir, "key.txt")
  const keygen = await runCli(["age-keygen", "-o", key])
  const recipient = /^Public key: (age1\S+)$/m.exec(keygen.stderr)?.[1]
  assert.ok(recipient !== undefined, keygen.stderr)
  const file = join(dir, "app.yaml")
  const enc = await runCli(["encrypt", "-i", "--age", recipient, file])
  assert.equal(enc.status, 0, enc.stderr)
  const seen = join(dir, "seen.txt")
  const editor = join(dir, "editor.sh")
  writeFileSync(
    editor,
    `#!/bin/sh\nset -e\nd=$(dirname "$1")\nprintf '%s %s %s %s\\n' "$(stat -f -c %T "$d")" "$(stat -c %a "$d")" "$(stat -c %a "$1")" "$d" >> ${JSON.stringify(seen)}\nsed -i s/hunter2/hunter2x/ "$1"\n`,
    { mode: 0o755 },
  )
  // the environment a user has: no COFFER_TMPDIR; once without XDG_RUNTIME_DIR, once with
  // one on a disk (the test's own folder), which must be passed over
  for (const runtime of [undefined, dir]) {
    const r = await runCli(["edit", file], {
      env: {
        COFFER_TMPDIR: undefined,
        XDG_RUNTIME_DIR: runtime,
        TMPDIR: dir,
        EDITOR: editor,
        VISUAL: undefined,
        SOPS_AGE_KEY_FILE: key,
      },
    })
    assert.equal(r.status, 0, r.stderr)
  }
  const lines = readFileSync(seen, "utf8").trim().split("\n")
  assert.equal(lines.length, 2)
  for (const line of lines) {
    const [fsType, dirMode, fileMode, folder = ""] = line.split(" ")
    assert.match(fsType ?? "", /^(tmpfs|ramfs)$/, line)
    assert.equal(dirMode, "700", line)
    assert.equal(fileMode, "600", line)
    assert.ok(!folder.startsWith(dir), `not in the disk folder: ${line}`)
    assert.equal(existsSync(folder), false, `${folder} is removed after the edit`)
  }
  const back = await runCli(["decrypt", file], { env: { SOPS_AGE_KEY_FILE: key } })
  assert.equal(back.stdout.toString(), "password: hunter2xx\n")
  const stat = await runCommand("stat", ["-f", "-c", "%T", dir])
  assert.doesNotMatch(stat.stdout.toString(), /^(tmpfs|ramfs)/, "the test folder is on a disk")
})
