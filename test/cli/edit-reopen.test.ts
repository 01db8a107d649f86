// `coffer edit` on a terminal: an edit that no longer parses offers to reopen the editor
// with the edit kept (yes: fix it and save; no: nothing changes). Driven through a real
// pseudo-terminal (util-linux `script`), since the offer is only made on a terminal.
import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { binPath, runCli } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { requireTool } from "../support/tools.js"
import { runInPty } from "./pty.js"
import { generateX25519Identity } from "../../src/age/x25519.js"

/** An editor that breaks the YAML on its first run and, on the next, fixes what it finds. */
const editorScript = `#!/bin/sh
count=$(cat "$COUNTER" 2>/dev/null || echo 0)
count=$((count + 1))
echo "$count" > "$COUNTER"
if [ "$count" = 1 ]; then
  printf 'password: [unclosed\\n' > "$1"
else
  grep -q '^password: \\[unclosed' "$1" || exit 7
  printf 'password: fixed-in-second-round\\n' > "$1"
fi
`

async function setup(t: Parameters<typeof tmpTree>[0]): Promise<{
  dir: string
  file: string
  env: Record<string, string>
}> {
  const identity = generateX25519Identity()
  const dir = tmpTree(t, {
    "key.txt": `${identity.encode()}\n`,
    "app.yaml": "password: original\n",
    "editor.sh": editorScript,
  })
  const file = join(dir, "app.yaml")
  const encrypted = await runCli(["encrypt", "-i", "--age", identity.toRecipient().encode(), file])
  assert.equal(encrypted.status, 0, encrypted.stderr)
  const env = {
    SOPS_AGE_KEY_FILE: join(dir, "key.txt"),
    EDITOR: `sh ${join(dir, "editor.sh")}`,
    SOPS_EDITOR: `sh ${join(dir, "editor.sh")}`,
    COUNTER: join(dir, "count"),
    HOME: dir,
  }
  return { dir, file, env }
}

test("a syntax error on a terminal: answering yes reopens the editor on the edit, then saves", async (t) => {
  if (!requireTool(t, "script", "bsdutils")) return
  const { dir, file, env } = await setup(t)
  const r = await runInPty([binPath(), "edit", file], ["y"], {
    env,
    cwd: dir,
    promptPattern: /reopen the editor/g,
  })
  assert.equal(r.status, 0, r.transcript)
  assert.equal(readFileSync(join(dir, "count"), "utf8").trim(), "2", "the editor ran twice")
  const decrypted = await runCli(["decrypt", file], { env })
  assert.equal(decrypted.stdout.toString(), "password: fixed-in-second-round\n")
})

test("a syntax error on a terminal: answering no leaves the file exactly as it was", async (t) => {
  if (!requireTool(t, "script", "bsdutils")) return
  const { dir, file, env } = await setup(t)
  const before = readFileSync(file)
  const r = await runInPty([binPath(), "edit", file], ["n"], {
    env,
    cwd: dir,
    promptPattern: /reopen the editor/g,
  })
  assert.notEqual(r.status, 0, r.transcript)
  assert.match(r.transcript, /is not valid/)
  assert.deepEqual(readFileSync(file), before)
  writeFileSync(join(dir, "count"), "0")
})
