/**
 * age 1.3.2's limits on hostile headers, side by side with the real age (built by
 * scripts/peers.sh; docs/formats/age.md "Header limits", "scrypt"): a header of 2 MiB is
 * read and one byte more is refused, 1,024 stanzas are read and 1,025 refused, 128 stanza
 * arguments after the type are read and 129 refused, by both tools and on both of coffer's
 * readers (a file, standard input). A scrypt work factor whose memory can't be allocated is
 * a normal error (exit 1), not a bug report.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { totalmem } from "node:os"
import { randomBytes } from "node:crypto"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { runCli, runCommand } from "../support/cli.js"
import { requirePeer } from "../support/peers.js"
import { tmpTree } from "../support/tmp.js"

const MAC_LINE = `--- ${"A".repeat(43)}\n`

/** A header of one grease stanza, exactly `size` bytes long, then a nonce. */
function ofSize(size: number): string {
  const fixed = 22 + 7 + MAC_LINE.length
  const fullLines = Math.floor((size - fixed - 1) / 65)
  const arg = "x".repeat(size - fixed - 65 * fullLines)
  const header = `age-encryption.org/v1\n-> g ${arg}\n${`${"A".repeat(64)}\n`.repeat(fullLines)}\n${MAC_LINE}`
  assert.equal(header.length, size)
  return `${header}${"n".repeat(16)}`
}

const cases: { name: string; text: string; refused: RegExp | null; ageRefused: RegExp | null }[] = [
  { name: "2 MiB header", text: ofSize(2 * 1024 * 1024), refused: null, ageRefused: null },
  {
    name: "2 MiB + 1 header",
    text: ofSize(2 * 1024 * 1024 + 1),
    refused: /header is larger than 2 MiB/,
    ageRefused: /header exceeds 2 MiB/,
  },
  {
    name: "1,024 stanzas",
    text: `age-encryption.org/v1\n${"-> g\n\n".repeat(1024)}${MAC_LINE}`,
    refused: null,
    ageRefused: null,
  },
  {
    name: "1,025 stanzas",
    text: `age-encryption.org/v1\n${"-> g\n\n".repeat(1025)}${MAC_LINE}`,
    refused: /more than 1024 recipient stanzas/,
    ageRefused: /more than 1024 recipient stanzas/,
  },
  {
    name: "128 arguments",
    text: `age-encryption.org/v1\n-> g${" a".repeat(128)}\n\n${MAC_LINE}`,
    refused: null,
    ageRefused: null,
  },
  {
    name: "129 arguments",
    text: `age-encryption.org/v1\n-> g${" a".repeat(129)}\n\n${MAC_LINE}`,
    refused: /more than 128 arguments/,
    ageRefused: /malformed stanza/,
  },
]

test("header limits: coffer refuses exactly what age 1.3.2 refuses", async (t) => {
  const age = requirePeer(t, "age")
  const keygen = requirePeer(t, "age-keygen")
  if (age === null || keygen === null) return
  const dir = tmpTree(t)
  const key = join(dir, "key.txt")
  assert.equal((await runCommand(keygen, ["-o", key])).status, 0)
  for (const c of cases) {
    const file = join(dir, "file.age")
    writeFileSync(file, c.text)
    const go = await runCommand(age, ["-d", "-i", key, file])
    assert.equal(go.status, 1, c.name)
    if (c.ageRefused === null) assert.match(go.stderr, /no identity matched/, c.name)
    else assert.match(go.stderr, c.ageRefused, c.name)
    for (const viaStdin of [false, true]) {
      const ours = viaStdin
        ? await runCli(["age", "-d", "-i", key], { input: readFileSync(file) })
        : await runCli(["age", "-d", "-i", key, file])
      const label = `${c.name}${viaStdin ? " (standard input)" : ""}`
      assert.equal(ours.status, 1, `${label}: ${ours.stderr}`)
      assert.match(ours.stderr, c.refused ?? /no identity matched/, label)
      assert.doesNotMatch(ours.stderr, /bug in coffer/, label)
    }
  }
})

test("-j batchpass: a work factor too large for memory is a normal error, not a bug", async (t) => {
  if (totalmem() >= 512 * 1024 ** 3) {
    t.skip("this machine may have 1 TiB: scrypt would really run")
    return
  }
  const dir = tmpTree(t)
  const file = join(dir, "wf30.age")
  const b64 = (n: number): string => randomBytes(n).toString("base64").replace(/=+$/, "")
  writeFileSync(
    file,
    `age-encryption.org/v1\n-> scrypt ${b64(16)} 30\n${b64(32)}\n--- ${b64(32)}\n`,
  )
  const result = await runCli(["age", "-d", "-j", "batchpass", file], {
    env: { AGE_PASSPHRASE: "not the secret", AGE_PASSPHRASE_MAX_WORK_FACTOR: "30" },
  })
  assert.equal(result.status, 1, result.stderr)
  assert.match(result.stderr, /^error: scrypt work factor 30 needs 1 TiB of memory/)
  assert.doesNotMatch(result.stderr, /malloc|bug in coffer/)
})
