// Unit tests for the parallel STREAM payload (parallel.ts, chunk-worker.ts): same bytes as
// the single-threaded PayloadEncryptor, and the same released plaintext and errors as
// PayloadDecryptor on every kind of damage, on the calling thread and on worker threads.
import { test } from "node:test"
import assert from "node:assert/strict"
import { randomBytes } from "node:crypto"
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import fc from "fast-check"
import { CHUNK_SIZE, ENCRYPTED_CHUNK_SIZE, derivePayloadKey } from "./payload.js"
import {
  type ByteSink,
  type ByteSource,
  type ParallelOptions,
  decryptFile,
  encryptFile,
  fdSink,
  fdSource,
  openPayload,
  prefixedSource,
  sealPayload,
  streamSource,
} from "./parallel.js"
import { decrypt, decryptStream } from "./decrypt.js"
import { encrypt } from "./encrypt.js"
import { generateX25519Identity } from "./x25519.js"
import { PayloadError } from "./errors.js"
import { concatBytes } from "../internal/bytes.js"
import { tmpTree } from "../../test/support/tmp.js"
import {
  damage,
  referenceOpen as openReference,
  referenceSeal as sealReference,
} from "../../test/support/payload.js"

const key = derivePayloadKey(new Uint8Array(16).fill(3), new Uint8Array(16).fill(4))

/** A source handing out `bytes` in pieces of at most `piece` bytes. */
function memorySource(
  bytes: Uint8Array,
  piece = Infinity,
  delay?: () => Promise<void>,
): ByteSource {
  let offset = 0
  return {
    async read(into) {
      if (delay !== undefined) await delay()
      const n = Math.min(into.length, piece, bytes.length - offset)
      into.set(bytes.subarray(offset, offset + n))
      offset += n
      return n
    },
  }
}

/** A sink that copies what it is given (the pipeline reuses its buffers). */
function memorySink(): ByteSink & { bytes(): Uint8Array } {
  const parts: Uint8Array[] = []
  return {
    write(bytes) {
      parts.push(bytes.slice())
      return Promise.resolve()
    },
    bytes: () => concatBytes(...parts),
  }
}

function referenceSeal(plaintext: Uint8Array): Uint8Array {
  return sealReference(key, plaintext)
}

function referenceOpen(ciphertext: Uint8Array): { out: Uint8Array; error: unknown } {
  return openReference(key, ciphertext)
}

async function parallelSeal(
  plaintext: Uint8Array,
  options: ParallelOptions,
  piece?: number,
): Promise<Uint8Array> {
  const sink = memorySink()
  await sealPayload(key, memorySource(plaintext, piece), sink, options)
  return sink.bytes()
}

async function parallelOpen(
  ciphertext: Uint8Array,
  options: ParallelOptions,
): Promise<{ out: Uint8Array; error: unknown }> {
  const sink = memorySink()
  try {
    await openPayload(key, memorySource(ciphertext, 50_000), sink, options)
    return { out: sink.bytes(), error: null }
  } catch (error) {
    return { out: sink.bytes(), error }
  }
}

/** Calling thread only, small batches so that batch boundaries are crossed. */
const inline: ParallelOptions = { workers: 0, chunksPerBatch: 2, batchesInFlight: 2 }
/** Workers from the first byte (they take batches once they report ready). */
const threaded: ParallelOptions = { workers: 2, chunksPerBatch: 2, parallelThreshold: 0 }

const sizes = [
  0,
  1,
  CHUNK_SIZE - 1,
  CHUNK_SIZE,
  CHUNK_SIZE + 1,
  2 * CHUNK_SIZE,
  2 * CHUNK_SIZE + 1,
  5 * CHUNK_SIZE,
  5 * CHUNK_SIZE + 17,
]

test("sealPayload writes the same bytes as PayloadEncryptor at chunk and batch boundaries", async () => {
  for (const size of sizes) {
    const plaintext = new Uint8Array(randomBytes(size))
    const expected = referenceSeal(plaintext)
    assert.deepEqual(await parallelSeal(plaintext, inline, 10_000), expected, `inline ${size}`)
    assert.deepEqual(await parallelSeal(plaintext, threaded), expected, `threaded ${size}`)
    assert.deepEqual(await parallelSeal(plaintext, {}), expected, `defaults ${size}`)
  }
})

test("openPayload round-trips and matches PayloadDecryptor", async () => {
  for (const size of sizes) {
    const plaintext = new Uint8Array(randomBytes(size))
    const ciphertext = referenceSeal(plaintext)
    for (const options of [inline, threaded, {}]) {
      const { out, error } = await parallelOpen(ciphertext, options)
      assert.equal(error, null)
      assert.deepEqual(out, plaintext, `size ${size}`)
    }
  }
})

/** Damaged payloads of a 5.x-chunk plaintext, and what each exercises. */
function damaged(ciphertext: Uint8Array): [string, Uint8Array][] {
  const flip = (at: number): Uint8Array => {
    const copy = ciphertext.slice()
    copy[at] = (copy[at] ?? 0) ^ 1
    return copy
  }
  const fullFinal = referenceSeal(new Uint8Array(3 * CHUNK_SIZE))
  return [
    ["empty payload", new Uint8Array(0)],
    ["first chunk flipped", flip(10)],
    ["third chunk flipped", flip(2 * ENCRYPTED_CHUNK_SIZE + 5)],
    ["last chunk flipped", flip(ciphertext.length - 1)],
    ["cut after two chunks", ciphertext.subarray(0, 2 * ENCRYPTED_CHUNK_SIZE)],
    ["cut inside a chunk", ciphertext.subarray(0, 2 * ENCRYPTED_CHUNK_SIZE + 100)],
    ["cut to a short tail", ciphertext.subarray(0, 2 * ENCRYPTED_CHUNK_SIZE + 7)],
    ["cut to an empty tail", ciphertext.subarray(0, 2 * ENCRYPTED_CHUNK_SIZE + 16)],
    ["trailing byte", concatBytes(ciphertext, new Uint8Array(1))],
    ["trailing chunk", concatBytes(ciphertext, ciphertext.subarray(0, ENCRYPTED_CHUNK_SIZE))],
    ["full final chunk then data", concatBytes(fullFinal, new Uint8Array(20))],
    ["full final chunk then a chunk", concatBytes(fullFinal, fullFinal)],
  ]
}

test("damaged payloads release exactly what PayloadDecryptor releases, with its error", async () => {
  const ciphertext = referenceSeal(new Uint8Array(randomBytes(5 * CHUNK_SIZE + 300)))
  for (const [name, bytes] of damaged(ciphertext)) {
    const expected = referenceOpen(bytes)
    assert.ok(expected.error instanceof PayloadError, `reference refuses ${name}`)
    for (const options of [inline, threaded, { workers: 0, chunksPerBatch: 16 }]) {
      const { out, error } = await parallelOpen(bytes, options)
      assert.ok(error instanceof PayloadError, `${name}: ${String(error)}`)
      assert.equal(error.message, expected.error.message, name)
      assert.equal(out.length, expected.out.length, `${name}: released length`)
      assert.deepEqual(out, expected.out, `${name}: released bytes`)
    }
  }
})

test("any single damage releases the same prefix as PayloadDecryptor (property)", async () => {
  const plaintext = new Uint8Array(randomBytes(4 * CHUNK_SIZE + 5))
  const ciphertext = referenceSeal(plaintext)
  await fc.assert(
    fc.asyncProperty(
      fc.nat({ max: ciphertext.length + ENCRYPTED_CHUNK_SIZE }),
      fc.constantFrom("flip", "cut", "append"),
      async (at, how) => {
        const bytes = damage(ciphertext, at, how)
        const expected = referenceOpen(bytes)
        const actual = await parallelOpen(bytes, inline)
        assert.deepEqual(actual.out, expected.out)
        assert.equal(String(actual.error), String(expected.error))
      },
    ),
    { numRuns: 60 },
  )
})

test("batches go to worker threads once they are ready, and stay in order", async () => {
  const plaintext = new Uint8Array(randomBytes(120 * CHUNK_SIZE + 9))
  const where: string[] = []
  const options: ParallelOptions = {
    workers: 2,
    chunksPerBatch: 1,
    parallelThreshold: 0,
    onBatch: (w) => where.push(w),
  }
  // slow the reads down until a worker has taken a batch (workers need a moment to start)
  const delay = async (): Promise<void> => {
    if (!where.includes("worker")) await new Promise((resolve) => setTimeout(resolve, 10))
  }
  const sink = memorySink()
  await sealPayload(key, memorySource(plaintext, Infinity, delay), sink, options)
  assert.ok(where.includes("worker"), `batches ran: ${[...new Set(where)].join(", ")}`)
  const ciphertext = sink.bytes()
  assert.deepEqual(ciphertext, referenceSeal(plaintext))

  where.length = 0
  const opened = memorySink()
  await openPayload(key, memorySource(ciphertext, Infinity, delay), opened, options)
  assert.ok(where.includes("worker"))
  assert.deepEqual(opened.bytes(), plaintext)

  // a damaged chunk handled by a worker: exactly the chunks before it are released
  const bad = ciphertext.slice()
  const badChunk = 100
  bad[badChunk * ENCRYPTED_CHUNK_SIZE + 3] = (bad[badChunk * ENCRYPTED_CHUNK_SIZE + 3] ?? 0) ^ 1
  where.length = 0
  const partial = memorySink()
  await assert.rejects(
    openPayload(key, memorySource(bad, Infinity, delay), partial, options),
    (error: unknown) =>
      error instanceof PayloadError &&
      error.message === `payload chunk ${badChunk} failed to authenticate`,
  )
  assert.deepEqual(partial.bytes(), plaintext.subarray(0, badChunk * CHUNK_SIZE))
})

test("small inputs never start a worker", async () => {
  const where: string[] = []
  await parallelSeal(new Uint8Array(3 * CHUNK_SIZE), {
    chunksPerBatch: 1,
    onBatch: (w) => where.push(w),
  })
  assert.deepEqual([...new Set(where)], ["inline"])
})

test("sink and source failures stop the pipeline and surface as they are", async () => {
  const plaintext = new Uint8Array(40 * CHUNK_SIZE)
  let writes = 0
  const failingSink: ByteSink = {
    write() {
      writes++
      return writes === 3 ? Promise.reject(new Error("disk full")) : Promise.resolve()
    },
  }
  await assert.rejects(
    sealPayload(key, memorySource(plaintext), failingSink, { ...threaded, chunksPerBatch: 1 }),
    /disk full/,
  )
  assert.equal(writes, 3)
  let reads = 0
  const failingSource: ByteSource = {
    read(into) {
      reads++
      if (reads === 4) return Promise.reject(new Error("device gone"))
      into.fill(1)
      return Promise.resolve(into.length)
    },
  }
  await assert.rejects(sealPayload(key, failingSource, memorySink(), inline), /device gone/)
})

test("prefixedSource yields the prefix first", async () => {
  const source = prefixedSource(new Uint8Array([1, 2, 3]), memorySource(new Uint8Array([4, 5])))
  const into = new Uint8Array(2)
  const got: number[] = []
  for (let n = await source.read(into); n > 0; n = await source.read(into)) {
    got.push(...into.subarray(0, n))
  }
  assert.deepEqual(got, [1, 2, 3, 4, 5])
})

test("fdSource and fdSink round-trip a file through the payload", async (t) => {
  const dir = tmpTree(t)
  const plaintext = new Uint8Array(randomBytes(3 * CHUNK_SIZE + 11))
  writeFileSync(join(dir, "plain"), plaintext)
  const run = async (from: string, to: string, step: typeof sealPayload): Promise<void> => {
    const input = openSync(join(dir, from), "r")
    const output = openSync(join(dir, to), "w")
    try {
      await step(key, fdSource(input, from), fdSink(output, to), inline)
    } finally {
      closeSync(input)
      closeSync(output)
    }
  }
  await run("plain", "sealed", sealPayload)
  assert.deepEqual(new Uint8Array(readFileSync(join(dir, "sealed"))), referenceSeal(plaintext))
  await run("sealed", "opened", openPayload)
  assert.deepEqual(new Uint8Array(readFileSync(join(dir, "opened"))), plaintext)
})

test("the worker entry sits beside parallel.js (tsc output) and in the bundle", () => {
  assert.ok(existsSync(fileURLToPath(new URL("./chunk-worker.js", import.meta.url))))
  const bundled = fileURLToPath(new URL("../../../dist/bundle/chunk-worker.js", import.meta.url))
  assert.ok(existsSync(bundled), "run scripts/bundle.mjs: dist/bundle/chunk-worker.js is missing")
})

const identity = generateX25519Identity()
const recipient = identity.toRecipient()

/** Decrypts with `decryptStream` (the reference for `decryptFile`), keeping what it released. */
async function viaDecryptStream(file: Uint8Array): Promise<{ out: Uint8Array; error: unknown }> {
  const sink = memorySink()
  try {
    const stream = new Blob([file]).stream().pipeThrough(decryptStream([identity]))
    for await (const piece of stream) await sink.write(piece)
    return { out: sink.bytes(), error: null }
  } catch (error) {
    return { out: sink.bytes(), error }
  }
}

async function viaDecryptFile(
  file: Uint8Array,
  options: ParallelOptions = threaded,
): Promise<{ out: Uint8Array; error: unknown }> {
  const sink = memorySink()
  try {
    await decryptFile(memorySource(file, 30_000), sink, [identity], options)
    return { out: sink.bytes(), error: null }
  } catch (error) {
    return { out: sink.bytes(), error }
  }
}

test("encryptFile and decryptFile interoperate with encrypt and decrypt, binary and armored", async () => {
  for (const size of [0, 100, 2 * CHUNK_SIZE, 4 * CHUNK_SIZE + 3]) {
    const plaintext = new Uint8Array(randomBytes(size))
    for (const armor of [false, true]) {
      const sink = memorySink()
      await encryptFile(memorySource(plaintext, 7_000), sink, [recipient], { ...threaded, armor })
      const file = sink.bytes()
      assert.deepEqual(await decrypt(file, [identity]), plaintext, `decrypt ${size} ${armor}`)
      const back = await viaDecryptFile(file)
      assert.equal(back.error, null)
      assert.deepEqual(back.out, plaintext, `decryptFile ${size} ${armor}`)
      const theirs = await encrypt(plaintext, [recipient], { armor })
      assert.deepEqual((await viaDecryptFile(theirs, inline)).out, plaintext)
    }
  }
})

test("decryptFile fails like decryptStream on damaged files, releasing the same plaintext", async () => {
  const plaintext = new Uint8Array(randomBytes(3 * CHUNK_SIZE + 50))
  const file = await encrypt(plaintext, [recipient])
  const armored = await encrypt(plaintext, [recipient], { armor: true })
  const headerEnd = file.indexOf(0x0a, Buffer.from(file).indexOf("\n---") + 1) + 1
  assert.ok(headerEnd > 40)
  const flip = (bytes: Uint8Array, at: number): Uint8Array => {
    const copy = bytes.slice()
    copy[at] = (copy[at] ?? 0) ^ 4
    return copy
  }
  const cases: [string, Uint8Array][] = [
    ["empty file", new Uint8Array(0)],
    ["header cut", file.subarray(0, 30)],
    ["nonce cut", file.subarray(0, headerEnd + 5)],
    ["no payload", file.subarray(0, headerEnd + 16)],
    ["header MAC flipped", flip(file, headerEnd - 5)],
    ["payload flipped", flip(file, headerEnd + 16 + CHUNK_SIZE + 40)],
    ["payload cut", file.subarray(0, file.length - 20)],
    ["trailing data", concatBytes(file, new Uint8Array(3))],
    ["armor flipped", flip(armored, armored.length - 60)],
    ["armor cut", armored.subarray(0, armored.length - 40)],
    ["not an age file", new TextEncoder().encode("hello\n")],
  ]
  for (const [name, bytes] of cases) {
    const expected = await viaDecryptStream(bytes)
    assert.ok(expected.error instanceof Error, `decryptStream refuses ${name}`)
    for (const options of [inline, threaded]) {
      const actual = await viaDecryptFile(bytes, options)
      assert.ok(actual.error instanceof Error, `${name}: no error`)
      assert.equal(actual.error.constructor, expected.error.constructor, name)
      assert.equal(actual.error.message, expected.error.message, name)
      assert.deepEqual(actual.out, expected.out, `${name}: released plaintext`)
    }
  }
})

test("armored files go through openPayload, on worker threads when large", async () => {
  const plaintext = new Uint8Array(randomBytes(40 * CHUNK_SIZE + 77))
  const armored = await encrypt(plaintext, [recipient], { armor: true })
  const crlf = new TextEncoder().encode(new TextDecoder().decode(armored).replaceAll("\n", "\r\n"))
  for (const file of [armored, crlf]) {
    const places: string[] = []
    // slow the reads down until a worker has taken a batch (workers need a moment to start)
    const delay = async (): Promise<void> => {
      if (!places.includes("worker")) await new Promise((resolve) => setTimeout(resolve, 10))
    }
    const sink = memorySink()
    await decryptFile(memorySource(file, 100_003, delay), sink, [identity], {
      ...threaded,
      onBatch: (where) => places.push(where),
    })
    assert.deepEqual(sink.bytes(), plaintext)
    assert.ok(places.includes("worker"), "some batches ran on a worker")
  }
})

test("an armor error in the middle of a large file releases what decryptStream releases", async () => {
  // 48 decoded bytes a line: a full encrypted chunk is 65552 / 48 = 1365.67 lines
  const sized = async (size: number): Promise<{ text: string; lines: string[] }> => {
    const text = new TextDecoder().decode(
      await encrypt(new Uint8Array(randomBytes(size)), [recipient], { armor: true }),
    )
    return { text, lines: text.split("\n") }
  }
  const odd = await sized(30 * CHUNK_SIZE + 1000)
  const whole = await sized(12 * CHUNK_SIZE)
  const damage = (lines: readonly string[], at: number, line: string): string =>
    [...lines.slice(0, at), line, ...lines.slice(at + 1)].join("\n")
  const cases: [string, string][] = []
  for (const at of [3, 1366, 1367, 2732, 5000, 20_000, odd.lines.length - 4]) {
    const line = odd.lines[at] ?? ""
    cases.push([
      `bad byte on line ${at}`,
      damage(odd.lines, at, `${line.slice(0, 20)}*${line.slice(21)}`),
    ])
    cases.push([`url-safe byte on line ${at}`, damage(odd.lines, at, `${line.slice(0, 63)}_`)])
    cases.push([`short line ${at}`, damage(odd.lines, at, line.slice(0, 60))])
    cases.push([`long line ${at}`, damage(odd.lines, at, `${line}AAAA`)])
    cases.push([`cut at line ${at}`, odd.lines.slice(0, at).join("\n")])
  }
  cases.push(["data after END", `${odd.text}x`])
  cases.push(["missing END", odd.text.slice(0, odd.text.lastIndexOf("-----END"))])
  // a full final chunk ends the last data line: everything is released before the error
  cases.push(["full final chunk, data after END", `${whole.text}garbage\n`])
  cases.push([
    "full final chunk, missing END",
    whole.text.slice(0, whole.text.lastIndexOf("-----END")),
  ])
  cases.push(["CRLF, bad line", damage(odd.lines, 9000, "!").replaceAll("\n", "\r\n")])
  for (const [name, text] of cases) {
    const bytes = new TextEncoder().encode(text)
    const expected = await viaDecryptStream(bytes)
    assert.ok(expected.error instanceof Error, `decryptStream refuses ${name}`)
    for (const options of [inline, threaded, { workers: 2, parallelThreshold: 0 }]) {
      const actual = await viaDecryptFile(bytes, options)
      assert.ok(actual.error instanceof Error, `${name}: no error`)
      assert.equal(actual.error.constructor, expected.error.constructor, name)
      assert.equal(actual.error.message, expected.error.message, name)
      assert.equal(actual.out.length, expected.out.length, `${name}: released length`)
      assert.deepEqual(actual.out, expected.out, `${name}: released plaintext`)
    }
  }
})

test("streamSource reads a Web stream into the caller's buffers", async () => {
  const bytes = new Uint8Array(randomBytes(200_000))
  const sink = memorySink()
  await sealPayload(key, streamSource(new Blob([bytes]).stream()), sink, inline)
  assert.deepEqual(sink.bytes(), referenceSeal(bytes))
})
