// Unit tests for the header: parsing, incremental parsing, MAC (docs/formats/age.md "Header").
import { test } from "node:test"
import assert from "node:assert/strict"
import fc from "fast-check"
import { encodeUtf8 } from "../internal/bytes.js"
import { decryptStream } from "./decrypt.js"
import { HeaderError, NoIdentityMatchError } from "./errors.js"
import { HeaderParser, encodeHeader, parseHeader, verifyHeaderMac } from "./header.js"
import type { ParsedHeader } from "./header.js"
import { decryptFile } from "./parallel.js"
import { X25519Identity } from "./x25519.js"

const fileKey = new Uint8Array(16).fill(5)
const stanzas = [
  { type: "X25519", args: ["abc"], body: new Uint8Array(32).fill(1) },
  { type: "grease-x", args: ["1", "2"], body: new Uint8Array(48) },
]

test("encode then parse round trips, with the payload after the header", () => {
  const header = encodeHeader(stanzas, fileKey)
  const withPayload = new Uint8Array([...header, 1, 2, 3])
  const parsed = parseHeader(withPayload)
  assert.ok(parsed !== null)
  assert.equal(parsed.headerLength, header.length)
  assert.deepEqual(parsed.stanzas, stanzas)
  assert.ok(verifyHeaderMac(parsed, fileKey))
  assert.ok(!verifyHeaderMac(parsed, new Uint8Array(16)))
  assert.equal(parsed.macInput.length, header.length - 45)
})

test("every proper prefix of a header is incomplete, never an error", () => {
  const header = encodeHeader(stanzas, fileKey)
  for (let cut = 0; cut < header.length; cut++) {
    assert.equal(parseHeader(header.subarray(0, cut)), null, `cut ${cut}`)
  }
})

test("rejects bad version lines, CRLF, bad MAC lines and empty stanza lists early", () => {
  const good = new TextDecoder().decode(encodeHeader(stanzas, fileKey))
  const mac = good.slice(good.lastIndexOf("--- ") + 4, -1)
  const cases = [
    "age-encryption.org/v1234\n",
    "age-encryption.org/v1\r\n",
    "garbage",
    "age\n",
    good.replace("\n-> X25519", "\r\n-> X25519"),
    good.replace(`--- ${mac}`, `---  ${mac}`),
    good.replace(`--- ${mac}`, `---${mac}`),
    good.replace(`--- ${mac}`, `--- ${mac} `),
    good.replace(`--- ${mac}`, `--- ${mac.slice(0, 42)}`),
    good.replace(`--- ${mac}`, `--- ${mac}A`),
    `age-encryption.org/v1\n--- ${mac}\n`,
    "age-encryption.org/v1\n-x",
  ]
  for (const text of cases) {
    assert.throws(() => parseHeader(encodeUtf8(text)), HeaderError, JSON.stringify(text))
  }
})

test("hints name CRLF and UTF-16 corruption", () => {
  assert.throws(
    () => parseHeader(encodeUtf8("age-encryption.org/v1\r\n-> X\n")),
    (e: unknown) => e instanceof HeaderError && e.hints.some((h) => h.includes("CRLF")),
  )
})

test("random bytes never throw anything but HeaderError", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (tail, prefix) => {
      const bytes = prefix
        ? new Uint8Array([...encodeUtf8("age-encryption.org/v1\n"), ...tail])
        : tail
      try {
        parseHeader(bytes)
      } catch (error) {
        assert.ok(error instanceof HeaderError)
      }
    }),
  )
})

/** A header of grease stanzas (unknown to every identity) whose size is exactly `size`. */
function headerOfSize(size: number): Uint8Array {
  // version line (22) + "-> g <arg>\n" + full body lines + an empty line + MAC line (48)
  const fixed = 22 + 7 + 48
  const fullLines = Math.floor((size - fixed - 1) / 65)
  const arg = "x".repeat(size - fixed - 65 * fullLines)
  const text = `age-encryption.org/v1\n-> g ${arg}\n${`${"A".repeat(64)}\n`.repeat(fullLines)}\n--- ${"A".repeat(43)}\n`
  assert.equal(text.length, size)
  return encodeUtf8(text)
}

test("age 1.3.2's limits: a header of at most 2 MiB, 1,024 stanzas, 128 arguments after the type", () => {
  const limit = 2 * 1024 * 1024
  assert.ok(parseHeader(headerOfSize(limit)) !== null)
  assert.throws(() => parseHeader(headerOfSize(limit + 1)), /header is larger than 2 MiB/)
  // an unfinished header already over the limit is refused without waiting for its end
  assert.throws(
    () => parseHeader(headerOfSize(limit + 100).subarray(0, limit)),
    /header is larger than 2 MiB/,
  )
  assert.equal(parseHeader(headerOfSize(limit + 100).subarray(0, limit - 1)), null)
  assert.throws(() => parseHeader(headerOfSize(5000), { maxHeaderSize: 4096 }), /larger than 4096/)

  const mac = `--- ${"A".repeat(43)}\n`
  const withStanzas = (n: number): Uint8Array =>
    encodeUtf8(`age-encryption.org/v1\n${"-> g\n\n".repeat(n)}${mac}`)
  assert.equal(parseHeader(withStanzas(1024))?.stanzas.length, 1024)
  assert.throws(() => parseHeader(withStanzas(1025)), /more than 1024 recipient stanzas/)

  const withArgs = (n: number): Uint8Array =>
    encodeUtf8(`age-encryption.org/v1\n-> g${" a".repeat(n)}\n\n${mac}`)
  assert.equal(parseHeader(withArgs(128))?.stanzas[0]?.args.length, 128)
  assert.throws(() => parseHeader(withArgs(129)), /more than 128 arguments/)
})

/** Counts the bytes `Uint8Array.prototype.indexOf` looks at while `run` runs. */
async function bytesSearched(run: () => Promise<void> | void): Promise<number> {
  // indexOf belongs to %TypedArray%.prototype; an own property on Uint8Array's shadows it
  const original = Reflect.get(
    Object.getPrototypeOf(Uint8Array.prototype) as object,
    "indexOf",
  ) as (this: Uint8Array, value: number, from?: number) => number
  let searched = 0
  Uint8Array.prototype.indexOf = function (this: Uint8Array, value: number, from?: number) {
    const start = Math.max(0, from ?? 0)
    const at = original.call(this, value, start)
    searched += (at < 0 ? this.length : at + 1) - start
    return at
  }
  try {
    await run()
  } finally {
    Reflect.deleteProperty(Uint8Array.prototype, "indexOf")
  }
  return searched
}

test("a header read in pieces is searched once: the parser resumes where it stopped", async () => {
  const longArgument = encodeUtf8(
    `age-encryption.org/v1\n-> g ${"x".repeat(1024 * 1024)}\n\n--- ${"A".repeat(43)}\n`,
  )
  for (const header of [headerOfSize(1024 * 1024), longArgument]) {
    const parser = new HeaderParser()
    let parsed: ParsedHeader | null = null
    const searched = await bytesSearched(() => {
      for (let end = 512; parsed === null; end += 512) {
        parsed = parser.parse(header.subarray(0, Math.min(end, header.length)))
      }
    })
    assert.equal((parsed as ParsedHeader | null)?.headerLength, header.length)
    // re-parsing each prefix from the start would look at about 1,000 times as many bytes
    assert.ok(searched < 2 * header.length, `searched ${searched} bytes`)
  }
})

test("decryptStream and decryptFile read a large header in linear time", async () => {
  const header = headerOfSize(2 * 1024 * 1024 - 100)
  const identity = new X25519Identity(new Uint8Array(32).fill(7))
  const viaStream = await bytesSearched(async () => {
    const chunks = (function* () {
      for (let at = 0; at < header.length; at += 4096) yield header.subarray(at, at + 4096)
    })()
    const input = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = chunks.next()
        if (next.done === true) controller.close()
        else controller.enqueue(next.value)
      },
    })
    await assert.rejects(async () => {
      const reader = input.pipeThrough(decryptStream([identity])).getReader()
      while (!(await reader.read()).done) continue
    }, NoIdentityMatchError)
  })
  assert.ok(viaStream < 2 * header.length, `decryptStream searched ${viaStream} bytes`)
  let offset = 0
  const source = {
    read: (into: Uint8Array): Promise<number> => {
      const n = Math.min(into.length, 4096, header.length - offset)
      into.set(header.subarray(offset, offset + n))
      offset += n
      return Promise.resolve(n)
    },
  }
  const sink = { write: (): Promise<void> => Promise.resolve() }
  const viaFile = await bytesSearched(() =>
    assert.rejects(decryptFile(source, sink, [identity]), NoIdentityMatchError),
  )
  assert.ok(viaFile < 2 * header.length, `decryptFile searched ${viaFile} bytes`)
})
