/**
 * The age conformance vectors (test/vectors/age/FORMAT.md): every vector in
 * test/vectors/age and every vector of the npm package `cctv-age`, decrypted through the
 * buffer API, the stream API fed in one piece, and the stream API fed in small odd pieces.
 * Each `expect` value maps to an error class; `payload` is the SHA-256 of the plaintext the
 * stream API released (for the buffer API, which is all or nothing, only on success).
 * Also checks the round trips test/vectors/age/FORMAT.md suggests (header, armor, STREAM re-encryption).
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { createHash } from "node:crypto"
import { readFileSync, readdirSync } from "node:fs"
import { inflateSync } from "node:zlib"
import { fileURLToPath } from "node:url"
import * as cctvModule from "cctv-age"
import {
  ArmorError,
  HeaderError,
  HeaderMacError,
  NoIdentityMatchError,
  PayloadError,
} from "../../src/age/errors.js"
import type { Identity } from "../../src/age/recipient.js"
import { parseX25519Identity } from "../../src/age/x25519.js"
import { parseHybridIdentity } from "../../src/age/hybrid.js"
import { ScryptIdentity } from "../../src/age/scrypt.js"
import { decrypt, decryptStream } from "../../src/age/decrypt.js"
import { VERSION_LINE, parseHeader } from "../../src/age/header.js"
import { encodeStanza } from "../../src/age/stanza.js"
import { decodeArmor, encodeArmor } from "../../src/age/armor.js"
import {
  PAYLOAD_NONCE_SIZE,
  PayloadDecryptor,
  PayloadEncryptor,
  derivePayloadKey,
} from "../../src/age/payload.js"
import { concatBytes, decodeUtf8, encodeUtf8 } from "../../src/internal/bytes.js"

const vectorDir = fileURLToPath(new URL("../../../test/vectors/age/", import.meta.url))
const KNOWN_KEYS = new Set([
  "expect",
  "payload",
  "file key",
  "identity",
  "passphrase",
  "armored",
  "compressed",
  "comment",
])
const EXPECTED_CLASS = {
  "no match": NoIdentityMatchError,
  "HMAC failure": HeaderMacError,
  "header failure": HeaderError,
  "payload failure": PayloadError,
  "armor failure": ArmorError,
} as const

interface Vector {
  readonly expect: string
  readonly payload: string | undefined
  readonly fileKey: string | undefined
  readonly identities: readonly string[]
  readonly passphrases: readonly string[]
  readonly armored: boolean
  readonly file: Uint8Array
  /** Why the vector can't be interpreted (an unknown key or value), or null. */
  readonly unreadable: string | null
}

function parseVector(bytes: Uint8Array): Vector {
  let sep = -1
  for (let i = 0; i + 1 < bytes.length; i++) {
    if (bytes[i] === 0x0a && bytes[i + 1] === 0x0a) {
      sep = i
      break
    }
  }
  assert.ok(sep >= 0, "vector has no metadata separator")
  const meta = new Map<string, string[]>()
  let unreadable: string | null = null
  for (const line of decodeUtf8(bytes.subarray(0, sep)).split("\n")) {
    const at = line.indexOf(": ")
    const key = at < 0 ? line : line.slice(0, at)
    const value = at < 0 ? "" : line.slice(at + 2)
    if (!KNOWN_KEYS.has(key)) unreadable = `unknown metadata key ${JSON.stringify(key)}`
    meta.set(key, [...(meta.get(key) ?? []), value])
  }
  let file = bytes.subarray(sep + 2)
  const compressed = meta.get("compressed")?.[0]
  if (compressed === "zlib") file = new Uint8Array(inflateSync(file))
  else if (compressed !== undefined) unreadable = `unknown compression ${compressed}`
  const expect = meta.get("expect")?.[0] ?? ""
  if (expect !== "success" && !(expect in EXPECTED_CLASS)) unreadable = `unknown expect ${expect}`
  return {
    expect,
    payload: meta.get("payload")?.[0],
    fileKey: meta.get("file key")?.[0],
    identities: meta.get("identity") ?? [],
    passphrases: meta.get("passphrase") ?? [],
    armored: meta.get("armored")?.[0] === "yes",
    file,
    unreadable,
  }
}

function identitiesFor(v: Vector): Identity[] {
  const out: Identity[] = []
  for (const text of v.identities) {
    out.push(
      text.startsWith("AGE-SECRET-KEY-PQ-1")
        ? parseHybridIdentity(text)
        : parseX25519Identity(text),
    )
  }
  for (const p of v.passphrases) out.push(new ScryptIdentity(p))
  return out
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex")
}

interface Outcome {
  readonly released: Uint8Array
  readonly error: unknown
}

async function runBuffer(v: Vector, ids: readonly Identity[]): Promise<Outcome> {
  try {
    return { released: await decrypt(v.file, ids), error: null }
  } catch (error) {
    return { released: new Uint8Array(0), error }
  }
}

/** Feeds the file to decryptStream in pieces whose sizes cycle through `sizes`. */
async function runStream(
  v: Vector,
  ids: readonly Identity[],
  sizes: readonly number[],
): Promise<Outcome> {
  let offset = 0
  let turn = 0
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= v.file.length) {
        controller.close()
        return
      }
      const size = sizes[turn++ % sizes.length] ?? 1
      controller.enqueue(v.file.slice(offset, offset + size))
      offset += size
    },
  })
  const reader = source.pipeThrough(decryptStream(ids)).getReader()
  const parts: Uint8Array[] = []
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      parts.push(value)
    }
    return { released: concatBytes(...parts), error: null }
  } catch (error) {
    return { released: concatBytes(...parts), error }
  }
}

function check(v: Vector, outcome: Outcome, mode: string, checkReleased: boolean): void {
  if (v.expect === "success") {
    assert.equal(outcome.error, null, `${mode}: expected success, got ${String(outcome.error)}`)
    assert.equal(sha256(outcome.released), v.payload, `${mode}: plaintext hash`)
    return
  }
  const expected = EXPECTED_CLASS[v.expect as keyof typeof EXPECTED_CLASS]
  assert.ok(
    outcome.error instanceof expected,
    `${mode}: expected ${expected.name}, got ${
      outcome.error instanceof Error
        ? `${outcome.error.name}: ${outcome.error.message}`
        : String(outcome.error)
    }`,
  )
  if (v.expect === "payload failure" && checkReleased) {
    assert.equal(sha256(outcome.released), v.payload, `${mode}: released plaintext hash`)
  } else if (v.expect !== "payload failure") {
    assert.equal(outcome.released.length, 0, `${mode}: nothing may be released`)
  }
}

/** test/vectors/age/FORMAT.md "Other uses of the vectors": canonical header, armor, and deterministic STREAM round trips. */
function checkRoundTrips(v: Vector): void {
  let binary = v.file
  if (v.armored && v.expect !== "armor failure") {
    binary = decodeArmor(v.file)
    const normalized = decodeUtf8(v.file).replaceAll("\r\n", "\n").trim() + "\n"
    assert.equal(decodeUtf8(encodeArmor(binary)), normalized, "armor round trip")
  }
  if (v.expect === "header failure" || v.expect === "armor failure") return
  const header = parseHeader(binary)
  assert.ok(header !== null, "header parses")
  const reencoded = encodeUtf8(VERSION_LINE + header.stanzas.map(encodeStanza).join("") + "---")
  assert.deepEqual(reencoded, header.macInput, "header round trip")
  if (v.expect !== "success" || v.fileKey === undefined) return
  const rest = binary.subarray(header.headerLength)
  const key = derivePayloadKey(Buffer.from(v.fileKey, "hex"), rest.subarray(0, PAYLOAD_NONCE_SIZE))
  const plain: Uint8Array[] = []
  const decryptor = new PayloadDecryptor(key)
  decryptor.push(rest.subarray(PAYLOAD_NONCE_SIZE), (p) => plain.push(p))
  decryptor.finish((p) => plain.push(p))
  const sealed: Uint8Array[] = []
  const encryptor = new PayloadEncryptor(key)
  encryptor.push(concatBytes(...plain), (c) => sealed.push(c))
  encryptor.finish((c) => sealed.push(c))
  assert.deepEqual(concatBytes(...sealed), rest.subarray(PAYLOAD_NONCE_SIZE), "STREAM round trip")
}

async function runVector(name: string, bytes: Uint8Array): Promise<void> {
  const v = parseVector(bytes)
  if (v.unreadable !== null) {
    // test/vectors/age/FORMAT.md: a vector we can't interpret is skipped or fails loudly; we fail, everywhere,
    // so that a newer vector set is never passed by skipping what this parser doesn't know
    throw new Error(`vector ${name}: ${v.unreadable}`)
  }
  const ids = identitiesFor(v)
  check(v, await runBuffer(v, ids), "buffer", false)
  check(v, await runStream(v, ids, [v.file.length || 1]), "stream (one piece)", true)
  const pieces = v.file.length <= 4096 ? [1] : [1, 7, 65537, 13, 4099, 65552]
  check(v, await runStream(v, ids, pieces), "stream (pieces)", true)
  checkRoundTrips(v)
}

const local = readdirSync(vectorDir)
  .filter((n) => !n.endsWith(".md") && n !== "LICENSE")
  .sort()

test("the local vector set is present", () => {
  assert.ok(local.length >= 90, `only ${local.length} vectors in ${vectorDir}`)
})

for (const name of local) {
  test(`vector ${name}`, () => runVector(name, new Uint8Array(readFileSync(vectorDir + name))))
}

const cctv = cctvModule as unknown as Readonly<Record<string, Uint8Array>>
test("the cctv-age package has vectors", () => {
  assert.ok(Object.keys(cctv).length >= 140)
})
for (const [name, bytes] of Object.entries(cctv).sort(([a], [b]) => a.localeCompare(b))) {
  test(`cctv-age ${name}`, () => runVector(name, bytes))
}
