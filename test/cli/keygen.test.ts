/**
 * `coffer age-keygen` / `coffer-age-keygen` (docs/formats/age.md "Identity and recipient files", "The age and age-keygen command lines"): file mode
 * 0600, never overwriting, the public key on stderr, `-y`, `-pq`.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { runCli } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"

const keyFileFormat =
  /^# created: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)\n# public key: (age1[02-9ac-hj-np-z]{58})\nAGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}\n$/

test("age-keygen to stdout: comments, key, public key on stderr when not a terminal", async () => {
  const r = await runCli(["age-keygen"])
  assert.equal(r.status, 0, r.stderr)
  const m = keyFileFormat.exec(r.stdout.toString())
  assert.ok(m, r.stdout.toString())
  assert.equal(r.stderr, `Public key: ${m[2] ?? ""}\n`)
})

test("age-keygen -o: mode 0600, refuses to overwrite, -y gives the same recipient", async (t) => {
  const dir = tmpTree(t)
  const key = join(dir, "key.txt")
  const r = await runCli(["-o", key], { bin: "coffer-age-keygen" })
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.length, 0)
  assert.equal(statSync(key).mode & 0o777, 0o600)
  const text = readFileSync(key, "utf8")
  const recipient = keyFileFormat.exec(text)?.[2]
  assert.ok(recipient !== undefined)
  assert.equal(r.stderr, `Public key: ${recipient}\n`)

  const again = await runCli(["age-keygen", "-o", key])
  assert.equal(again.status, 1)
  assert.match(again.stderr, /^error: output file ".*key\.txt" already exists/m)
  assert.equal(readFileSync(key, "utf8"), text)

  const y = await runCli(["age-keygen", "-y", key])
  assert.equal(y.status, 0, y.stderr)
  assert.equal(y.stdout.toString(), `${recipient}\n`)
  const yStdin = await runCli(["age-keygen", "-y"], { input: text })
  assert.equal(yStdin.stdout.toString(), `${recipient}\n`)
})

test("age-keygen -y: several identities, CRLF, errors with line numbers", async (t) => {
  const a = await runCli(["age-keygen"])
  const b = await runCli(["age-keygen"])
  const ra = /Public key: (\S+)/.exec(a.stderr)?.[1] ?? ""
  const rb = /Public key: (\S+)/.exec(b.stderr)?.[1] ?? ""
  const dir = tmpTree(t, {
    "two.txt": `${a.stdout.toString()}\r\n${b.stdout.toString().replace(/\n/g, "\r\n")}`,
    "pub.txt": `# nothing\n${ra}\n`,
  })
  const y = await runCli(["age-keygen", "-y", join(dir, "two.txt")])
  assert.equal(y.status, 0, y.stderr)
  assert.equal(y.stdout.toString(), `${ra}\n${rb}\n`)
  const bad = await runCli(["age-keygen", "-y", join(dir, "pub.txt")])
  assert.equal(bad.status, 1)
  assert.match(bad.stderr, /line 2: apparent recipient found in identities file/)
  writeFileSync(join(dir, "empty.txt"), "# only comments\n")
  const empty = await runCli(["age-keygen", "-y", join(dir, "empty.txt")])
  assert.equal(empty.status, 1)
  assert.match(empty.stderr, /no identities found/)
})

test("age-keygen -pq: hybrid identity, -y gives age1pq1…, -pq with -y is refused", async (t) => {
  const dir = tmpTree(t)
  const key = join(dir, "pq.txt")
  const r = await runCli(["age-keygen", "-pq", "-o", key])
  assert.equal(r.status, 0, r.stderr)
  const text = readFileSync(key, "utf8")
  assert.match(text, /^# created: .*\n# public key: age1pq1\w+\nAGE-SECRET-KEY-PQ-1\w+\n$/)
  const recipient = /# public key: (age1pq1\w+)/.exec(text)?.[1] ?? ""
  assert.equal(r.stderr, `Public key: ${recipient}\n`)
  const y = await runCli(["age-keygen", "-y", key])
  assert.equal(y.stdout.toString(), `${recipient}\n`)
  const both = await runCli(["age-keygen", "-pq", "-y", key])
  assert.equal(both.status, 2)
  assert.match(both.stderr, /-pq can't be used with -y/)
  // And the hybrid key works end to end through the age command.
  const enc = await runCli(["age", "-r", recipient, "-a"], { input: "post-quantum" })
  assert.equal(enc.status, 0, enc.stderr)
  const dec = await runCli(["age", "-d", "-i", key], { input: enc.stdout })
  assert.equal(dec.stdout.toString(), "post-quantum")
})

test("age-keygen usage errors", async () => {
  const extra = await runCli(["age-keygen", "file"])
  assert.equal(extra.status, 2)
  assert.match(extra.stderr, /too many arguments/)
  const unknown = await runCli(["age-keygen", "-x"])
  assert.equal(unknown.status, 2)
})
