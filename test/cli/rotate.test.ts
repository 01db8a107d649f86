/**
 * `coffer rotate` as a real process (docs/formats/sops.md "Commands": `rotate`): a new data key, so every
 * value's ciphertext and the MAC change while the plaintext stays; `--add-age` adds a key
 * to the first group, `--rm-age` removes one; without `-i` the result goes to stdout and
 * the file is left alone.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { runCli } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { generateX25519Identity } from "../../src/age/x25519.js"
import { encryptFile } from "../../src/sops/index.js"

function key(dir: string, name: string): { file: string; recipient: string } {
  const identity = generateX25519Identity()
  const file = join(dir, name)
  writeFileSync(file, `${identity.encode()}\n`, { mode: 0o600 })
  return { file, recipient: identity.toRecipient().encode() }
}

const plaintext =
  "db:\n    user: app\n    password: hunter2\nport: 5432\nitems:\n    - one\n    - two\n"

function values(text: string): string[] {
  return text
    .slice(0, text.indexOf("\nsops:\n"))
    .split("\n")
    .filter((l) => l.includes("ENC["))
}

test("rotate -i changes every ciphertext and the MAC, keeps the plaintext; --add-age/--rm-age edit the keys", async (t) => {
  const dir = tmpTree(t)
  const admin = key(dir, "admin.txt")
  const host = key(dir, "host.txt")
  const file = join(dir, "app.yaml")
  writeFileSync(
    file,
    await encryptFile(plaintext, "yaml", { keyGroups: [{ age: [admin.recipient], pgp: [] }] }),
    { mode: 0o640 },
  )
  const before = readFileSync(file, "utf8")

  // without -i: stdout, file untouched
  const printed = await runCli(["rotate", file], {
    env: { SOPS_AGE_KEY_FILE: admin.file, HOME: dir },
  })
  assert.equal(printed.status, 0, printed.stderr)
  assert.equal(readFileSync(file, "utf8"), before)
  assert.notEqual(printed.stdout.toString("utf8"), before)

  const r = await runCli(["rotate", "-i", "--add-age", host.recipient, file], {
    env: { SOPS_AGE_KEY_FILE: admin.file, HOME: dir },
  })
  assert.equal(r.status, 0, r.stderr)
  const after = readFileSync(file, "utf8")
  const oldValues = values(before)
  const newValues = values(after)
  assert.equal(newValues.length, 5)
  assert.equal(newValues.length, oldValues.length)
  for (const [i, v] of newValues.entries()) assert.notEqual(v, oldValues[i])
  const mac = (text: string): string | undefined => /^ {4}mac: (.*)$/m.exec(text)?.[1]
  assert.notEqual(mac(after), mac(before))
  assert.ok(after.includes(host.recipient))
  // the mode is kept
  assert.equal((await import("node:fs")).statSync(file).mode & 0o777, 0o640)

  for (const k of [admin, host]) {
    const d = await runCli(["decrypt", file], { env: { SOPS_AGE_KEY_FILE: k.file, HOME: dir } })
    assert.equal(d.status, 0, d.stderr)
    assert.equal(d.stdout.toString("utf8"), plaintext)
  }

  const removed = await runCli(["rotate", "-i", "--rm-age", admin.recipient, file], {
    env: { SOPS_AGE_KEY_FILE: host.file, HOME: dir },
  })
  assert.equal(removed.status, 0, removed.stderr)
  assert.ok(!readFileSync(file, "utf8").includes(admin.recipient))
  const denied = await runCli(["decrypt", file], {
    env: { SOPS_AGE_KEY_FILE: admin.file, HOME: dir },
  })
  assert.equal(denied.status, 1)
  assert.match(denied.stderr, /could not decrypt the data key/)
})

test("rotate without a key that opens the file fails and leaves it unchanged", async (t) => {
  const dir = tmpTree(t)
  const admin = key(dir, "admin.txt")
  const stranger = key(dir, "stranger.txt")
  const file = join(dir, "app.yaml")
  writeFileSync(
    file,
    await encryptFile(plaintext, "yaml", { keyGroups: [{ age: [admin.recipient], pgp: [] }] }),
  )
  const before = readFileSync(file, "utf8")
  const r = await runCli(["rotate", "-i", file], {
    env: { SOPS_AGE_KEY_FILE: stranger.file, HOME: dir },
  })
  assert.equal(r.status, 1)
  assert.match(r.stderr, /error: ".*app\.yaml": could not decrypt the data key/)
  assert.equal(readFileSync(file, "utf8"), before)
})
