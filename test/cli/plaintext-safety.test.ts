// Plaintext that must not outlive or leak from a command (issue 18 item 9): a `coffer edit`
// killed with SIGKILL leaves its private directory, and the next command that makes one
// removes it and says so; exec-env and exec-file do not hand the variables that lead to
// private keys to the program they run, unless --keep-key-env asks.
import { test } from "node:test"
import assert from "node:assert/strict"
import { spawn } from "node:child_process"
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { binPath, repoRoot, runCli } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { sopsEnv } from "../sops/sops-env.js"

const vectors = join(repoRoot, "test/vectors/sops/sops-age")
const ageKey = join(vectors, "keys/age-key.txt")

test("edit killed with SIGKILL: the next command removes the plaintext it left, and says so", async (t) => {
  const dir = tmpTree(t)
  const ram = join(dir, "ram")
  const file = join(dir, "secret.enc.yaml")
  copyFileSync(join(vectors, "secret.enc.yaml"), file)
  const marker = join(dir, "marker")
  const editor = join(dir, "editor.sh")
  // the editor says where the plaintext is and its own PID, then waits to be killed
  writeFileSync(
    editor,
    `#!/bin/sh\necho "$$ $1" > "${marker}.tmp" && mv "${marker}.tmp" "${marker}"\nexec sleep 60\n`,
    {
      mode: 0o755,
    },
  )
  const { env } = sopsEnv(t, [], { SOPS_AGE_KEY_FILE: ageKey, COFFER_TMPDIR: ram, EDITOR: editor })
  mkdirSync(ram, { mode: 0o700 })
  const child = spawn(binPath(), ["edit", file], {
    env: { ...process.env, ...env, SOPS_EDITOR: undefined, VISUAL: undefined },
    stdio: "ignore",
  })
  const started = { editorPid: 0 }
  t.after(() => {
    if (child.exitCode === null) child.kill("SIGKILL")
    if (started.editorPid > 0) {
      try {
        process.kill(started.editorPid, "SIGKILL")
      } catch {
        // gone
      }
    }
  })
  for (let i = 0; i < 600 && !existsSync(marker); i++) await sleep(50)
  const [pid = "", plaintextPath = ""] = readFileSync(marker, "utf8").trim().split(" ")
  started.editorPid = Number(pid)
  assert.match(readFileSync(plaintextPath, "utf8"), /this is a secret/)
  const exited = new Promise((resolve) => child.once("exit", resolve))
  child.kill("SIGKILL")
  await exited
  process.kill(started.editorPid, "SIGKILL")
  assert.ok(existsSync(plaintextPath), "SIGKILL leaves the plaintext (nothing can run)")

  const next = await runCli(["exec-file", "--no-fifo", file, "true"], { env })
  assert.equal(next.status, 0, next.stderr)
  const leftDir = plaintextPath.slice(0, plaintextPath.lastIndexOf("/"))
  assert.match(
    next.stderr,
    new RegExp(
      `removed ${leftDir}: plaintext left behind by coffer process ${String(child.pid)}, which was killed`,
    ),
  )
  assert.ok(!existsSync(leftDir))
})

test("exec-env and exec-file keep the key variables from the program unless --keep-key-env", async (t) => {
  const key = /^AGE-SECRET-KEY-\w+$/m.exec(readFileSync(ageKey, "utf8"))?.[0] ?? assert.fail()
  const { env } = sopsEnv(t, [], { SOPS_AGE_KEY: key, SOPS_AGE_KEY_FILE: "/nonexistent/key.txt" })
  const file = join(vectors, "secret.enc.env")
  const show = 'echo "key=${SOPS_AGE_KEY:-unset} file=${SOPS_AGE_KEY_FILE:-unset}"'
  for (const command of ["exec-env", "exec-file"]) {
    const dropped = await runCli([command, file, show], { env })
    assert.equal(dropped.status, 0, dropped.stderr)
    assert.equal(dropped.stdout.toString(), "key=unset file=unset\n", command)
    const kept = await runCli([command, "--keep-key-env", file, show], { env })
    assert.equal(kept.status, 0, kept.stderr)
    assert.equal(kept.stdout.toString(), `key=${key} file=/nonexistent/key.txt\n`, command)
  }
})

test("the editor of coffer edit gets no key variable", async (t) => {
  const dir = tmpTree(t)
  const file = join(dir, "secret.enc.yaml")
  copyFileSync(join(vectors, "secret.enc.yaml"), file)
  const marker = join(dir, "seen")
  const editor = join(dir, "editor.sh")
  writeFileSync(editor, `#!/bin/sh\necho "key=\${SOPS_AGE_KEY:-unset}" > "${marker}"\n`, {
    mode: 0o755,
  })
  const key = /^AGE-SECRET-KEY-\w+$/m.exec(readFileSync(ageKey, "utf8"))?.[0] ?? assert.fail()
  const { env } = sopsEnv(t, [], { SOPS_AGE_KEY: key, SOPS_EDITOR: editor })
  const r = await runCli(["edit", file], { env })
  assert.equal(r.status, 3, r.stderr)
  assert.equal(readFileSync(marker, "utf8"), "key=unset\n")
})
