// Checks that generated OpenSSH keys are the files OpenSSH itself reads and writes.
import { test } from "node:test"
import assert from "node:assert/strict"
import { execFileSync } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { generateSshEd25519KeyPair } from "./ssh-keygen.js"
import { requireTool } from "../../test/support/tools.js"
import { tmpTree } from "../../test/support/tmp.js"

test("ssh-keygen derives the same public key from a generated private key", (t) => {
  if (!requireTool(t, "ssh-keygen", "openssh-client")) return
  const dir = tmpTree(t)
  const files = generateSshEd25519KeyPair("root@demo")
  const keyPath = join(dir, "id_ed25519")
  writeFileSync(keyPath, files.privateKey, { mode: 0o600 })
  const derived = execFileSync("ssh-keygen", ["-y", "-f", keyPath], { encoding: "utf8" })
  assert.equal(derived.trim(), files.publicKey.trim())
})

test("a generated key survives ssh-keygen rewriting it with a new comment", (t) => {
  if (!requireTool(t, "ssh-keygen", "openssh-client")) return
  const dir = tmpTree(t)
  const files = generateSshEd25519KeyPair("")
  const keyPath = join(dir, "k")
  writeFileSync(keyPath, files.privateKey, { mode: 0o600 })
  execFileSync("ssh-keygen", ["-c", "-C", "renamed", "-f", keyPath], { stdio: "ignore" })
  const rewritten = readFileSync(keyPath, "utf8")
  assert.match(rewritten, /^-----BEGIN OPENSSH PRIVATE KEY-----\n/)
  const derived = execFileSync("ssh-keygen", ["-y", "-f", keyPath], { encoding: "utf8" })
  assert.equal(derived.trim().split(" ")[1], files.publicKey.trim().split(" ")[1])
})
