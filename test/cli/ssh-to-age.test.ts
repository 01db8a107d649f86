/**
 * `coffer ssh-to-age` as Mic92/ssh-to-age: public keys (one per line, ssh-keyscan format,
 * other key types skipped), `-private-key`, `-i`, `-o`, passphrase-protected keys.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync, statSync } from "node:fs"
import { join } from "node:path"
import { runCli, runCommand } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { requireTool } from "../support/tools.js"

test("public and private conversions agree, and decrypt what the SSH key's age recipient encrypts", async (t) => {
  if (!requireTool(t, "ssh-keygen", "openssh-client")) return
  const dir = tmpTree(t)
  const key = join(dir, "id_ed25519")
  await runCommand("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key])
  const pub = await runCli(["ssh-to-age"], { input: readFileSync(`${key}.pub`) })
  assert.equal(pub.status, 0, pub.stderr)
  const recipient = pub.stdout.toString()
  assert.match(recipient, /^age1[02-9ac-hj-np-z]{58}\n$/)
  const out = join(dir, "key.txt")
  const priv = await runCli(["ssh-to-age", "-private-key", "-i", key, "-o", out])
  assert.equal(priv.status, 0, priv.stderr)
  assert.equal(statSync(out).mode & 0o777, 0o600)
  assert.match(readFileSync(out, "utf8"), /^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}\n$/)
  const y = await runCli(["age-keygen", "-y", out])
  assert.equal(y.stdout.toString(), recipient)
})

test("several keys in ssh-keyscan format: ed25519 converted, others skipped with a note", async (t) => {
  if (!requireTool(t, "ssh-keygen", "openssh-client")) return
  const dir = tmpTree(t)
  const lines: string[] = ["# host.example:22 SSH-2.0-OpenSSH_9.2"]
  for (const type of ["rsa", "ed25519", "ed25519"]) {
    const key = join(dir, `k-${lines.length}`)
    await runCommand("ssh-keygen", ["-q", "-t", type, "-N", "", "-f", key])
    lines.push(`host.example ${readFileSync(`${key}.pub`, "utf8").trim()}`)
  }
  const r = await runCli(["ssh-to-age", "-i", "-"], { input: `${lines.join("\n")}\n` })
  assert.equal(r.status, 0, r.stderr)
  assert.equal(
    r.stdout
      .toString()
      .split("\n")
      .filter((l) => l.startsWith("age1")).length,
    2,
  )
  assert.match(r.stderr, /^skipped key: .*ssh-rsa/m)
})

test("an encrypted private key takes SSH_TO_AGE_PASSPHRASE or -stdinpass; a wrong one fails without echoing it", async (t) => {
  if (!requireTool(t, "ssh-keygen", "openssh-client")) return
  const dir = tmpTree(t)
  const key = join(dir, "id_ed25519")
  await runCommand("ssh-keygen", ["-q", "-t", "ed25519", "-N", "s3cret-pass", "-f", key])
  const env = await runCli(["ssh-to-age", "-private-key", "-i", key], {
    env: { SSH_TO_AGE_PASSPHRASE: "s3cret-pass" },
  })
  assert.equal(env.status, 0, env.stderr)
  assert.match(env.stdout.toString(), /^AGE-SECRET-KEY-1/)
  const stdin = await runCli(["ssh-to-age", "-private-key", "-stdinpass", "-i", key], {
    input: "s3cret-pass\n",
  })
  assert.equal(stdin.stdout.toString(), env.stdout.toString())
  const wrong = await runCli(["ssh-to-age", "-private-key", "-i", key], {
    env: { SSH_TO_AGE_PASSPHRASE: "wrong-pass" },
  })
  assert.equal(wrong.status, 1)
  assert.ok(!wrong.stderr.includes("wrong-pass"))
  assert.match(wrong.stderr, /^error: /m)
})

test("invalid input and usage errors", async () => {
  const bad = await runCli(["ssh-to-age"], { input: "ssh-ed25519 not-base64!\n" })
  assert.equal(bad.status, 1)
  assert.match(bad.stderr, /standard input line 1/)
  const positional = await runCli(["ssh-to-age", "key.pub"])
  assert.equal(positional.status, 2)
  assert.match(positional.stderr, /hint: .*-i/)
})
