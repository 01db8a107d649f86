/**
 * The parallel payload path (src/age/parallel.ts, chunk-worker.ts) through the bundled
 * `bin/coffer`, against Debian's Go `age` 1.1.1: files large enough that worker threads
 * start (so the bundle must find dist/bundle/chunk-worker.js at run time), both directions,
 * binary and armored, and a damaged large file that must fail without leaving output.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { randomBytes } from "node:crypto"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Worker } from "node:worker_threads"
import { parseHeader } from "../../src/age/header.js"
import {
  CHUNK_SIZE,
  ENCRYPTED_CHUNK_SIZE,
  PAYLOAD_NONCE_SIZE,
  PayloadEncryptor,
} from "../../src/age/payload.js"
import { concatBytes } from "../../src/internal/bytes.js"
import { repoRoot, runCli, runCommand } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { requireTool } from "../support/tools.js"

// above parallel.ts's 16 MiB threshold, so batches go to worker threads
const LARGE = 40 * 1024 * 1024 + 12345

test("the bundled worker entry starts and seals a batch like PayloadEncryptor", async () => {
  const workerPath = join(repoRoot, "dist", "bundle", "chunk-worker.js")
  assert.ok(existsSync(workerPath), "dist/bundle/chunk-worker.js is missing: run the bundle")
  const payloadKey = new Uint8Array(32).fill(9)
  const plaintext = new Uint8Array(randomBytes(2 * CHUNK_SIZE + 5))
  const worker = new Worker(workerPath, {
    workerData: { cofferChunkWorker: true, payloadKey: payloadKey.slice() },
  })
  try {
    const sealed = await new Promise<Uint8Array>((resolve, reject) => {
      worker.on("error", reject)
      worker.on("message", (message: "ready" | { output: ArrayBuffer; outputLength: number }) => {
        if (message === "ready") {
          const input = new ArrayBuffer(3 * CHUNK_SIZE)
          new Uint8Array(input).set(plaintext)
          const output = new ArrayBuffer(3 * ENCRYPTED_CHUNK_SIZE)
          const job = { id: 0, kind: "seal", input, length: plaintext.length, output, counter: 0 }
          worker.postMessage({ ...job, final: true }, [input, output])
          return
        }
        resolve(new Uint8Array(message.output, 0, message.outputLength))
      })
    })
    const expected: Uint8Array[] = []
    const encryptor = new PayloadEncryptor(payloadKey)
    encryptor.push(plaintext, (c) => expected.push(c))
    encryptor.finish((c) => expected.push(c))
    assert.deepEqual(sealed, concatBytes(...expected))
  } finally {
    await worker.terminate()
  }
})

test("large files round-trip between coffer age (worker threads) and Go age", async (t) => {
  if (!requireTool(t, "age", "age") || !requireTool(t, "age-keygen", "age")) return
  const dir = tmpTree(t)
  const key = join(dir, "key.txt")
  const keygen = await runCommand("age-keygen", ["-o", key])
  assert.equal(keygen.status, 0, keygen.stderr)
  const recipient = /Public key: (age1\w+)/.exec(keygen.stderr)?.[1] ?? assert.fail(keygen.stderr)
  const plaintext = new Uint8Array(randomBytes(LARGE))
  const plain = join(dir, "plain")
  writeFileSync(plain, plaintext)

  for (const armor of [false, true]) {
    const ours = join(dir, `ours${armor ? ".asc" : ""}.age`)
    const flags = armor ? ["-a"] : []
    const enc = await runCli(["age", ...flags, "-r", recipient, "-o", ours, plain])
    assert.equal(enc.status, 0, enc.stderr)
    const byGo = await runCommand("age", ["-d", "-i", key, "-o", join(dir, "by-go"), ours])
    assert.equal(byGo.status, 0, byGo.stderr)
    assert.ok(
      readFileSync(join(dir, "by-go")).equals(plaintext),
      `Go age reads ours (armor ${armor})`,
    )

    const theirs = join(dir, `theirs${armor ? ".asc" : ""}.age`)
    const goEnc = await runCommand("age", [...flags, "-r", recipient, "-o", theirs, plain])
    assert.equal(goEnc.status, 0, goEnc.stderr)
    const dec = await runCli(["age", "-d", "-i", key, "-o", join(dir, "by-coffer"), theirs])
    assert.equal(dec.status, 0, dec.stderr)
    assert.ok(
      readFileSync(join(dir, "by-coffer")).equals(plaintext),
      `we read Go's (armor ${armor})`,
    )
  }

  // a chunk damaged deep in the file: non-zero exit, and the output file we created is gone
  const damaged = readFileSync(join(dir, "theirs.age"))
  const at = damaged.length - 20 * ENCRYPTED_CHUNK_SIZE
  damaged[at] = (damaged[at] ?? 0) ^ 1
  writeFileSync(join(dir, "damaged.age"), damaged)
  const out = join(dir, "damaged-out")
  const bad = await runCli(["age", "-d", "-i", key, "-o", out, join(dir, "damaged.age")])
  assert.notEqual(bad.status, 0)
  assert.match(bad.stderr, /payload chunk \d+ failed to authenticate/)
  assert.equal(existsSync(out), false)

  // an existing output file: kept as it was when the first chunk fails, and holding exactly
  // the authenticated prefix (the same bytes Go age releases) when a later one does
  const existing = join(dir, "existing-out")
  const firstDamaged = readFileSync(join(dir, "theirs.age"))
  const header = parseHeader(firstDamaged) ?? assert.fail("Go age's file has a header")
  const payloadStart = header.headerLength + PAYLOAD_NONCE_SIZE
  firstDamaged[payloadStart + 5] = (firstDamaged[payloadStart + 5] ?? 0) ^ 1
  writeFileSync(join(dir, "first-damaged.age"), firstDamaged)
  writeFileSync(existing, "the old content\n")
  const first = await runCli([
    "age",
    "-d",
    "-i",
    key,
    "-o",
    existing,
    join(dir, "first-damaged.age"),
  ])
  assert.notEqual(first.status, 0)
  assert.match(first.stderr, /payload chunk 0 failed to authenticate/)
  assert.equal(readFileSync(existing, "utf8"), "the old content\n")
  const later = await runCli(["age", "-d", "-i", key, "-o", existing, join(dir, "damaged.age")])
  assert.notEqual(later.status, 0)
  const goPrefix = await runCommand("age", ["-d", "-i", key, join(dir, "damaged.age")])
  assert.ok(readFileSync(existing).equals(goPrefix.stdout), "the authenticated prefix")

  // the same file on standard output releases exactly the chunks before the damaged one
  const piped = await runCli(["age", "-d", "-i", key, join(dir, "damaged.age")], { bin: "coffer" })
  assert.notEqual(piped.status, 0)
  const goPiped = await runCommand("age", ["-d", "-i", key, join(dir, "damaged.age")])
  assert.notEqual(goPiped.status, 0)
  assert.equal(piped.stdout.length, goPiped.stdout.length)
  assert.ok(piped.stdout.equals(goPiped.stdout))
})
