// Unit tests for the payload by position (positional.ts): real files, the calling thread
// alone and with worker threads; the same bytes as PayloadEncryptor, and on damage exactly
// the plaintext PayloadDecryptor releases, with its error.
import { test } from "node:test"
import assert from "node:assert/strict"
import { randomBytes } from "node:crypto"
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { CHUNK_SIZE, ENCRYPTED_CHUNK_SIZE, derivePayloadKey } from "./payload.js"
import { type PositionalOptions, runPositional } from "./positional.js"
import { type ByteSink, type ByteSource, decryptFile, encryptFile, fdSource } from "./parallel.js"
import { decrypt } from "./decrypt.js"
import { generateX25519Identity } from "./x25519.js"
import { IoError, ToolError } from "../internal/errors.js"
import { concatBytes } from "../internal/bytes.js"
import { tmpTree } from "../../test/support/tmp.js"
import {
  damage,
  referenceOpen as openReference,
  referenceSeal as sealReference,
} from "../../test/support/payload.js"
import fc from "fast-check"

const key = derivePayloadKey(new Uint8Array(16).fill(5), new Uint8Array(16).fill(6))

function referenceSeal(plaintext: Uint8Array): Uint8Array {
  return sealReference(key, plaintext)
}

function referenceOpen(ciphertext: Uint8Array): { out: Uint8Array; error: unknown } {
  return openReference(key, ciphertext)
}

/**
 * The calling thread alone; two workers with batches of one chunk (many hand-overs), where
 * the calling thread takes none (small files are otherwise done before a worker is up).
 */
const setups: readonly PositionalOptions[] = [
  { workers: 0, chunksPerBatch: 2 },
  { workers: 2, chunksPerBatch: 1, callerTakesBatches: false },
  { workers: 2, chunksPerBatch: 4 },
]

const sizes = [
  0,
  1,
  CHUNK_SIZE - 1,
  CHUNK_SIZE,
  CHUNK_SIZE + 1,
  4 * CHUNK_SIZE,
  4 * CHUNK_SIZE + 1,
  9 * CHUNK_SIZE + 17,
]

/** Runs `kind` from file `from` (after `skip` bytes) to file `to` (after `prefix`). */
async function runFiles(
  kind: "seal" | "open",
  from: string,
  to: string,
  options: PositionalOptions,
  opts: { skip?: number; prefix?: Uint8Array; truncate?: boolean; sizeDelta?: number } = {},
): Promise<void> {
  const input = openSync(from, "r")
  const output = openSync(to, opts.truncate === false ? "r+" : "w")
  try {
    const prefix = opts.prefix ?? new Uint8Array(0)
    if (prefix.length > 0) writeFileSync(output, prefix)
    const skip = opts.skip ?? 0
    const size = readFileSync(from).length - skip + (opts.sizeDelta ?? 0)
    await runPositional(
      kind,
      key,
      { fd: input, start: skip, size, name: JSON.stringify(from) },
      {
        fd: output,
        start: prefix.length,
        name: JSON.stringify(to),
        truncateOnFirstWrite: opts.truncate === false,
      },
      options,
    )
  } finally {
    closeSync(input)
    closeSync(output)
  }
}

test("sealing by position writes what PayloadEncryptor writes, after the header", async (t) => {
  const dir = tmpTree(t)
  const header = new TextEncoder().encode("a header of some length\n")
  for (const options of setups) {
    for (const size of sizes) {
      const plaintext = new Uint8Array(randomBytes(size))
      writeFileSync(join(dir, "plain"), concatBytes(new Uint8Array(7), plaintext))
      await runFiles("seal", join(dir, "plain"), join(dir, "sealed"), options, {
        skip: 7,
        prefix: header,
      })
      const expected = concatBytes(header, referenceSeal(plaintext))
      assert.ok(
        readFileSync(join(dir, "sealed")).equals(expected),
        `size ${size}, ${JSON.stringify(options)}`,
      )
    }
  }
})

test("opening by position round-trips, replacing what the output file held", async (t) => {
  const dir = tmpTree(t)
  for (const options of setups) {
    for (const size of sizes) {
      const plaintext = new Uint8Array(randomBytes(size))
      writeFileSync(join(dir, "sealed"), concatBytes(new Uint8Array(3), referenceSeal(plaintext)))
      // an older, longer file: cut when the first plaintext comes
      writeFileSync(join(dir, "opened"), new Uint8Array(size + 100_000).fill(0xee))
      await runFiles("open", join(dir, "sealed"), join(dir, "opened"), options, {
        skip: 3,
        truncate: false,
      })
      assert.ok(
        readFileSync(join(dir, "opened")).equals(plaintext),
        `size ${size}, ${JSON.stringify(options)}`,
      )
    }
  }
})

/** Damaged payloads: each one is checked against PayloadDecryptor. */
function damages(): { name: string; bytes: Uint8Array }[] {
  const plaintext = new Uint8Array(randomBytes(9 * CHUNK_SIZE + 100))
  const good = referenceSeal(plaintext)
  const flip = (at: number): Uint8Array => {
    const bytes = good.slice()
    bytes[at] = (bytes[at] ?? 0) ^ 0x40
    return bytes
  }
  const exact = referenceSeal(new Uint8Array(randomBytes(6 * CHUNK_SIZE)))
  return [
    { name: "first chunk damaged", bytes: flip(10) },
    { name: "a middle chunk damaged", bytes: flip(5 * ENCRYPTED_CHUNK_SIZE + 3) },
    { name: "the last chunk's tag damaged", bytes: flip(good.length - 1) },
    { name: "cut after a whole chunk", bytes: good.subarray(0, 7 * ENCRYPTED_CHUNK_SIZE) },
    { name: "cut inside a tag", bytes: good.subarray(0, 9 * ENCRYPTED_CHUNK_SIZE + 10) },
    { name: "data after the final chunk", bytes: concatBytes(good, new Uint8Array(40)) },
    {
      name: "a full final chunk, then another chunk",
      bytes: concatBytes(exact, exact.subarray(0, ENCRYPTED_CHUNK_SIZE)),
    },
    {
      name: "cut after a full chunk of an exact file",
      bytes: exact.subarray(0, 3 * ENCRYPTED_CHUNK_SIZE),
    },
  ]
}

test("a damaged payload leaves exactly the plaintext PayloadDecryptor releases, and its error", async (t) => {
  const dir = tmpTree(t)
  const old = new TextEncoder().encode("the output file's old content\n")
  for (const options of setups) {
    for (const damage of damages()) {
      const label = `${damage.name}, ${JSON.stringify(options)}`
      const reference = referenceOpen(damage.bytes)
      assert.ok(reference.error instanceof ToolError, label)
      writeFileSync(join(dir, "damaged"), damage.bytes)
      writeFileSync(join(dir, "opened"), old)
      const error = await runFiles("open", join(dir, "damaged"), join(dir, "opened"), options, {
        truncate: false,
      }).then(
        () => assert.fail(`${label}: accepted`),
        (e: unknown) => e,
      )
      assert.ok(error instanceof ToolError, label)
      assert.equal(error.constructor, reference.error.constructor, label)
      assert.equal(error.message, reference.error.message, label)
      // nothing released: the old file is untouched; else exactly the released prefix
      const expected = reference.out.length === 0 ? old : reference.out
      assert.ok(readFileSync(join(dir, "opened")).equals(expected), label)
    }
  }
})

test("an input that changes size while it is read is refused", async (t) => {
  const dir = tmpTree(t)
  writeFileSync(join(dir, "plain"), randomBytes(3 * CHUNK_SIZE + 5))
  for (const options of setups) {
    // grew after it was opened: more bytes than its size
    await assert.rejects(
      runFiles("seal", join(dir, "plain"), join(dir, "out"), options, { sizeDelta: -100 }),
      (e: unknown) =>
        e instanceof IoError && /"[^"]*plain" changed size while it was being read/.test(e.message),
    )
    // shrank: a read ends early
    await assert.rejects(
      runFiles("seal", join(dir, "plain"), join(dir, "out"), options, { sizeDelta: 100 }),
      (e: unknown) => e instanceof IoError && /changed size/.test(e.message),
    )
  }
})

test("a write that fails is an IoError naming the output, and every thread stops", async (t) => {
  const dir = tmpTree(t)
  writeFileSync(join(dir, "plain"), randomBytes(6 * CHUNK_SIZE))
  writeFileSync(join(dir, "out"), "")
  const input = openSync(join(dir, "plain"), "r")
  const readOnly = openSync(join(dir, "out"), "r")
  try {
    for (const options of setups) {
      await assert.rejects(
        runPositional(
          "seal",
          key,
          { fd: input, start: 0, size: 6 * CHUNK_SIZE, name: '"plain"' },
          { fd: readOnly, start: 0, name: '"out"', truncateOnFirstWrite: false },
          options,
        ),
        (e: unknown) => e instanceof IoError && /^cannot write "out": /.test(e.message),
      )
    }
  } finally {
    closeSync(input)
    closeSync(readOnly)
  }
})

/** A file source as the command line makes it: read, or read by position. */
function fileSource(fd: number, size: number): ByteSource {
  return { ...fdSource(fd, '"in"'), file: { fd, start: 0, size, name: '"in"' } }
}

/** A file sink with the positional capability, as the command line's output file. */
function fileSink(fd: number): ByteSink {
  let written = 0
  return {
    write(bytes) {
      writeFileSync(fd, bytes)
      written += bytes.length
      return Promise.resolve()
    },
    file: () => ({ fd, start: written, name: '"out"', truncateOnFirstWrite: false }),
  }
}

/** Runs `step` from file `from` to a new file `to`, both with their positional capability. */
async function betweenFiles(
  from: string,
  to: string,
  step: (source: ByteSource, sink: ByteSink) => Promise<void>,
): Promise<void> {
  const input = openSync(from, "r")
  const output = openSync(to, "w")
  try {
    await step(fileSource(input, readFileSync(from).length), fileSink(output))
  } finally {
    closeSync(input)
    closeSync(output)
  }
}

test("encryptFile and decryptFile take the positional path between regular files", async (t) => {
  const dir = tmpTree(t)
  const identity = generateX25519Identity()
  const recipient = identity.toRecipient()
  const plaintext = new Uint8Array(randomBytes(7 * CHUNK_SIZE + 3))
  writeFileSync(join(dir, "plain"), plaintext)
  const where: string[] = []
  const options = { workers: 2, parallelThreshold: 0, onBatch: (w: string) => where.push(w) }

  await betweenFiles(join(dir, "plain"), join(dir, "sealed.age"), (source, sink) =>
    encryptFile(source, sink, [recipient], options),
  )
  const file = readFileSync(join(dir, "sealed.age"))
  assert.deepEqual(await decrypt(file, [identity]), plaintext)
  // 8 chunks in batches of 4: two batches, wherever they ran
  assert.equal(where.length, 2)

  where.length = 0
  await betweenFiles(join(dir, "sealed.age"), join(dir, "opened"), (source, sink) =>
    decryptFile(source, sink, [identity], options),
  )
  assert.ok(readFileSync(join(dir, "opened")).equals(plaintext))
  assert.equal(where.length, 2)
})

test("any single damage leaves the prefix PayloadDecryptor releases (property, two workers)", async (t) => {
  const dir = tmpTree(t)
  const plaintext = new Uint8Array(randomBytes(6 * CHUNK_SIZE + 5))
  const ciphertext = referenceSeal(plaintext)
  await fc.assert(
    fc.asyncProperty(
      fc.nat({ max: ciphertext.length + ENCRYPTED_CHUNK_SIZE }),
      fc.constantFrom("flip", "cut", "append"),
      async (at, how) => {
        const bytes = damage(ciphertext, at, how)
        const expected = referenceOpen(bytes)
        writeFileSync(join(dir, "in"), bytes)
        writeFileSync(join(dir, "out"), "")
        const error = await runFiles("open", join(dir, "in"), join(dir, "out"), {
          workers: 2,
          chunksPerBatch: 1,
          callerTakesBatches: false,
        }).then(
          () => null,
          (e: unknown) => e,
        )
        assert.deepEqual(new Uint8Array(readFileSync(join(dir, "out"))), expected.out)
        assert.equal(String(error), String(expected.error))
      },
    ),
    { numRuns: 40 },
  )
})
