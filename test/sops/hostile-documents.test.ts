// Hostile sops documents through bin/coffer (issue 18 items 1 and 5), beside the real sops
// 3.13.2 where it decides the expected behaviour: a YAML alias bomb and deep nesting give a
// one-line error and exit 1 quickly from encrypt, decrypt and filestatus (they used to run for
// minutes at gigabytes of RSS, or abort Node with "FATAL ERROR: RegExpCompiler Allocation
// failed"); duplicate keys are refused as sops refuses them.
import assert from "node:assert/strict"
import { test } from "node:test"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { runCli, runCommand } from "../support/cli.js"
import { requirePeer } from "../support/peers.js"
import { tmpTree } from "../support/tmp.js"
import { sopsEnv } from "./sops-env.js"
import { generateX25519Identity } from "../../src/age/x25519.js"

function aliasBomb(levels: number, width: number): string {
  const lines = ['a0: &a0 "lol"']
  for (let i = 1; i <= levels; i++) {
    lines.push(
      `a${String(i)}: &a${String(i)} [${Array(width)
        .fill(`*a${String(i - 1)}`)
        .join(", ")}]`,
    )
  }
  return lines.join("\n") + "\n"
}

// a sops section that parses (the data key is never needed: parsing fails first)
const fakeMetadata = `sops:
    age:
        - recipient: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
          enc: |
            -----BEGIN AGE ENCRYPTED FILE-----
            YWdlLWVuY3J5cHRpb24ub3JnL3YxCg==
            -----END AGE ENCRYPTED FILE-----
    lastmodified: "2026-01-01T00:00:00Z"
    mac: ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]
    unencrypted_suffix: _unencrypted
    version: 3.13.2
`

const files: Readonly<Record<string, string>> = {
  "bomb.yaml": aliasBomb(9, 9),
  "bomb-second-document.yaml": `x: 1\n---\n${aliasBomb(9, 9)}`,
  "bomb-encrypted.yaml": aliasBomb(9, 9) + fakeMetadata,
  "deep.yaml": "[".repeat(1000),
  "deep-under-key.yaml": `a: ${"[".repeat(1000)}`,
  "deep-encrypted.yaml": `a: ${"[".repeat(2000)}${"]".repeat(2000)}\n${fakeMetadata}`,
  "deep.json": `{"a": ${"[".repeat(100_000)}${"]".repeat(100_000)}}`,
}

function assertCleanFailure(
  r: { status: number | null; signal: NodeJS.Signals | null; stderr: string },
  message: RegExp,
  what: string,
): void {
  assert.equal(r.signal, null, `${what}: killed by ${String(r.signal)}`)
  assert.equal(r.status, 1, `${what}: exit ${String(r.status)}\n${r.stderr}`)
  assert.doesNotMatch(r.stderr, /FATAL|this is a bug|at .*\.js:\d+/, what)
  const first = r.stderr.split("\n")[0] ?? ""
  assert.match(first, /^error: /, what)
  assert.match(first, message, what)
}

test(
  "encrypt, decrypt and filestatus refuse an alias bomb and deep nesting at once",
  { timeout: 120_000 },
  async (t) => {
    const dir = tmpTree(t, files)
    const { env } = sopsEnv(t, [], { SOPS_AGE_KEY: generateX25519Identity().encode() })
    const recipient = generateX25519Identity().toRecipient().encode()
    const cases: [string, RegExp][] = [
      ["bomb.yaml", /excessive aliasing/],
      ["bomb-second-document.yaml", /line \d+: .*excessive aliasing/],
      ["deep.yaml", /nested more than 256 levels deep/],
      ["deep-under-key.yaml", /nested more than 256 levels deep/],
      ["deep.json", /nested more than 256 levels deep/],
    ]
    for (const [name, message] of cases) {
      const file = join(dir, name)
      const r = await runCli(["encrypt", "--age", recipient, file], { env, timeoutMs: 20_000 })
      assertCleanFailure(r, message, `encrypt ${name}`)
    }
    for (const [name, message] of [
      ["bomb-encrypted.yaml", /excessive aliasing/],
      ["deep-encrypted.yaml", /nested more than 256 levels deep/],
    ] as const) {
      const file = join(dir, name)
      const decrypt = await runCli(["decrypt", file], { env, timeoutMs: 20_000 })
      assertCleanFailure(decrypt, message, `decrypt ${name}`)
      // sops's filestatus fails on a file it cannot load (only "no metadata" is "not encrypted")
      const status = await runCli(["filestatus", file], { env, timeoutMs: 20_000 })
      assertCleanFailure(status, message, `filestatus ${name}`)
    }
  },
)

test(
  "the real sops refuses the same bomb, deep file and duplicate keys",
  { timeout: 60_000 },
  async (t) => {
    const sops = requirePeer(t, "sops")
    if (sops === null) return
    const dir = tmpTree(t, {
      ...files,
      "duplicate.yaml": 'a: 1\nb:\n    c: 1\n    "c": 2\n',
    })
    const { env } = sopsEnv(t)
    const recipient = generateX25519Identity().toRecipient().encode()
    const expectations: [string, RegExp, RegExp][] = [
      // [file, sops's message, coffer's message]
      ["bomb.yaml", /excessive aliasing/, /excessive aliasing/],
      ["deep.yaml", /did not find expected node content/, /nested more than 256 levels deep/],
      [
        "duplicate.yaml",
        /mapping key "c" already defined at line 3/,
        /line 4: duplicate key "c" \(first at line 3\)/,
      ],
    ]
    for (const [name, sopsMessage, cofferMessage] of expectations) {
      const file = join(dir, name)
      const bySops = await runCommand(sops, ["encrypt", "--age", recipient, file], {
        env,
        timeoutMs: 20_000,
      })
      assert.notEqual(bySops.status, 0, `sops encrypt ${name}`)
      assert.match(bySops.stderr, sopsMessage, `sops encrypt ${name}`)
      const byCoffer = await runCli(["encrypt", "--age", recipient, file], {
        env,
        timeoutMs: 20_000,
      })
      assertCleanFailure(byCoffer, cofferMessage, `coffer encrypt ${name}`)
    }
  },
)

test("a document too large for Node's memory is a one-line error with its size and the limit (issue 17)", async (t) => {
  // with a 64 MiB old space the heap limit is about 112 MiB, so the limit is about 1.2 MiB
  const lines: string[] = []
  for (let i = 0; i < 40_000; i++) lines.push(`key${String(i)}: value number ${String(i)} of many`)
  const dir = tmpTree(t, {
    "big.yaml": `${lines.join("\n")}\n`,
    "big.enc.yaml": `${lines.join("\n")}\n${fakeMetadata}`,
  })
  const { env } = sopsEnv(t, [], {
    SOPS_AGE_KEY: generateX25519Identity().encode(),
    NODE_OPTIONS: "--max-old-space-size=64",
  })
  const recipient = generateX25519Identity().toRecipient().encode()
  const message =
    /^error: ".*big(\.enc)?\.yaml" is 1\.\d MiB, larger than the 1\.\d MiB coffer reads as a sops document with the memory Node may use$/
  const out = join(dir, "out.yaml")
  const encrypt = await runCli(
    ["encrypt", "--age", recipient, "--output", out, join(dir, "big.yaml")],
    {
      env,
    },
  )
  assertCleanFailure(encrypt, message, "encrypt")
  assert.match(encrypt.stderr, /NODE_OPTIONS=--max-old-space-size/)
  assert.ok(!existsSync(out), "nothing written")
  const decrypt = await runCli(["decrypt", join(dir, "big.enc.yaml")], { env })
  assertCleanFailure(decrypt, message, "decrypt")
})
