/**
 * `coffer groups add|delete` as a real process (docs/formats/sops.md "Key groups and Shamir", "Commands"): adding a group
 * with a Shamir threshold of 2 means both groups are needed; deleting it brings back one
 * group that opens alone; values, lastmodified and the MAC stay through the round trip.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { runCli } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { generateX25519Identity } from "../../src/age/x25519.js"
import { encryptFile } from "../../src/sops/index.js"

function key(dir: string, name: string): { file: string; recipient: string; line: string } {
  const identity = generateX25519Identity()
  const file = join(dir, name)
  const line = `${identity.encode()}\n`
  writeFileSync(file, line, { mode: 0o600 })
  return { file, recipient: identity.toRecipient().encode(), line }
}

const plaintext = "api_key: abc123\nport: 8080\n"

function valuesAndMac(text: string): string {
  const body = text.slice(0, text.indexOf("\nsops:\n"))
  const mac = /^ {4}mac: .*$/m.exec(text)?.[0] ?? ""
  const lastModified = /^ {4}lastmodified: .*$/m.exec(text)?.[0] ?? ""
  return `${body}\n${mac}\n${lastModified}`
}

test("groups add with a threshold of 2 needs both groups; groups delete goes back to one", async (t) => {
  const dir = tmpTree(t)
  const admin = key(dir, "admin.txt")
  const ops = key(dir, "ops.txt")
  writeFileSync(join(dir, "both.txt"), admin.line + ops.line)
  const file = join(dir, "app.yaml")
  writeFileSync(
    file,
    await encryptFile(plaintext, "yaml", { keyGroups: [{ age: [admin.recipient], pgp: [] }] }),
  )
  const original = readFileSync(file, "utf8")
  const decryptWith = (keyFile: string): ReturnType<typeof runCli> =>
    runCli(["decrypt", file], { env: { SOPS_AGE_KEY_FILE: keyFile, HOME: dir } })

  const printed = await runCli(
    [
      "groups",
      "add",
      "--file",
      file,
      "--age",
      ops.recipient,
      "--shamir-secret-sharing-threshold",
      "2",
    ],
    { env: { SOPS_AGE_KEY_FILE: admin.file, HOME: dir } },
  )
  assert.equal(printed.status, 0, printed.stderr)
  assert.equal(readFileSync(file, "utf8"), original, "without -i the file is not touched")
  assert.match(printed.stdout.toString("utf8"), /key_groups:/)

  const added = await runCli(
    [
      "groups",
      "add",
      "--file",
      file,
      "-i",
      "--age",
      ops.recipient,
      "--shamir-secret-sharing-threshold",
      "2",
    ],
    { env: { SOPS_AGE_KEY_FILE: admin.file, HOME: dir } },
  )
  assert.equal(added.status, 0, added.stderr)
  const two = readFileSync(file, "utf8")
  assert.match(two, /\n {4}key_groups:\n {8}- age:\n/)
  assert.match(two, /\n {4}shamir_threshold: 2\n/)
  assert.equal(valuesAndMac(two), valuesAndMac(original))

  // one group alone is not enough any more
  const alone = await decryptWith(admin.file)
  assert.equal(alone.status, 1)
  assert.match(alone.stderr, /1 of the 2 key groups needed could be decrypted/)
  const both = await decryptWith(join(dir, "both.txt"))
  assert.equal(both.status, 0, both.stderr)
  assert.equal(both.stdout.toString("utf8"), plaintext)

  // delete group 0 (admin's): ops alone opens the file again
  const deleted = await runCli(["groups", "delete", "--file", file, "-i", "0"], {
    env: { SOPS_AGE_KEY_FILE: join(dir, "both.txt"), HOME: dir },
  })
  assert.equal(deleted.status, 0, deleted.stderr)
  const one = readFileSync(file, "utf8")
  assert.doesNotMatch(one, /key_groups:/)
  assert.ok(!one.includes(admin.recipient) && one.includes(ops.recipient))
  assert.equal(valuesAndMac(one), valuesAndMac(original))
  const opsAlone = await decryptWith(ops.file)
  assert.equal(opsAlone.status, 0, opsAlone.stderr)
  assert.equal(opsAlone.stdout.toString("utf8"), plaintext)
  assert.equal((await decryptWith(admin.file)).status, 1)
})

test("groups errors: bad index, the only group, a threshold that can't be met, no keys", async (t) => {
  const dir = tmpTree(t)
  const admin = key(dir, "admin.txt")
  const file = join(dir, "app.yaml")
  writeFileSync(
    file,
    await encryptFile(plaintext, "yaml", { keyGroups: [{ age: [admin.recipient], pgp: [] }] }),
  )
  const env = { SOPS_AGE_KEY_FILE: admin.file, HOME: dir }
  const only = await runCli(["groups", "delete", "--file", file, "0"], { env })
  assert.equal(only.status, 2)
  assert.match(only.stderr, /can't delete the only key group/)
  const range = await runCli(["groups", "delete", "--file", file, "3"], { env })
  assert.match(range.stderr, /key group 3 does not exist/)
  const noKeys = await runCli(["groups", "add", "--file", file], { env })
  assert.match(noKeys.stderr, /the new key group needs keys/)
  const tooHigh = await runCli(
    [
      "groups",
      "add",
      "--file",
      file,
      "--age",
      admin.recipient,
      "--shamir-secret-sharing-threshold",
      "3",
    ],
    { env },
  )
  assert.equal(tooHigh.status, 1)
  assert.match(tooHigh.stderr, /a shamir threshold of 3 can't be met with 2 key groups/)
  const unknown = await runCli(["groups", "merge"], { env })
  assert.equal(unknown.status, 2)
})
