/**
 * Decryption (docs/formats/age.md "Which identity unwraps the file key", "Payload";
 * test/vectors/age/FORMAT.md): armor detection, strict header parsing, identities tried in
 * order, the header MAC, the payload nonce, then the STREAM payload released one
 * authenticated chunk at a time. As a buffer function (all or nothing) and as a Web Streams
 * transform with flat memory that hands the reader exactly the plaintext the reference
 * releases, even when the payload then fails.
 */
import { wipeBytes } from "../internal/bytes.js"
import { ArmorDecoder, decodeArmor, detectArmor } from "./armor.js"
import { HeaderError, HeaderMacError, NoIdentityMatchError } from "./errors.js"
import { HeaderParser, MAX_HEADER_BYTES, parseHeader, verifyHeaderMac } from "./header.js"
import type { ParsedHeader } from "./header.js"
import { PAYLOAD_NONCE_SIZE, PayloadDecryptor, derivePayloadKey } from "./payload.js"
import type { Identity, Stanza } from "./recipient.js"
import { SCRYPT_STANZA_TYPE, scryptNotAloneError } from "./scrypt.js"

/** What a caller can learn from a header before choosing identities. */
export interface HeaderInfo {
  readonly stanzas: readonly Stanza[]
  /** The stanza types, in header order, without repeats. */
  readonly stanzaTypes: readonly string[]
  /** Whether the file is passphrase-encrypted (a single scrypt stanza): ask for a passphrase. */
  readonly scryptOnly: boolean
  /** Whether the file was armored. */
  readonly armored: boolean
}

/** Identities, or a function choosing them once the header is known (to prompt lazily). */
export type IdentitySource =
  readonly Identity[] | ((header: HeaderInfo) => readonly Identity[] | Promise<readonly Identity[]>)

/** Options for `decryptStream`. */
export interface DecryptStreamOptions {
  /** Largest header accepted, in bytes (default 2 MiB, as age 1.3.2). */
  readonly maxHeaderSize?: number
}

function describeHeader(header: ParsedHeader, armored: boolean): HeaderInfo {
  const stanzaTypes = [...new Set(header.stanzas.map((s) => s.type))]
  return {
    stanzas: header.stanzas,
    stanzaTypes,
    scryptOnly: header.stanzas.length === 1 && stanzaTypes[0] === SCRYPT_STANZA_TYPE,
    armored,
  }
}

/**
 * Recovers the file key from a parsed header and verifies the header MAC.
 * @returns the 16-byte file key
 * @throws HeaderError on an scrypt stanza that is not alone, or a malformed stanza meant
 *   for one of the identities; NoIdentityMatchError when no identity matches;
 *   HeaderMacError when the MAC does not verify
 */
export async function unwrapHeader(
  header: ParsedHeader,
  identities: IdentitySource,
  armored = false,
): Promise<Uint8Array> {
  // spec: an scrypt stanza must be alone, checked before any identity runs
  if (header.stanzas.length !== 1 && header.stanzas.some((s) => s.type === SCRYPT_STANZA_TYPE)) {
    throw scryptNotAloneError()
  }
  const info = describeHeader(header, armored)
  const list = typeof identities === "function" ? await identities(info) : identities
  let fileKey: Uint8Array | null = null
  for (const identity of list) {
    fileKey = await identity.unwrapFileKey(header.stanzas)
    if (fileKey !== null) break
  }
  if (fileKey === null) {
    throw new NoIdentityMatchError(info.stanzaTypes, {
      hints: info.scryptOnly
        ? ["the file is encrypted with a passphrase; the passphrase given is wrong"]
        : ["check that you passed the identity (secret key) the file was encrypted to"],
    })
  }
  if (fileKey.length !== 16) {
    throw new HeaderError("an identity returned a file key that is not 16 bytes")
  }
  if (!verifyHeaderMac(header, fileKey)) {
    wipeBytes(fileKey)
    throw new HeaderMacError("header MAC does not verify", {
      hints: ["the header was modified after encryption, or the file is corrupted"],
    })
  }
  return fileKey
}

/**
 * Reads the header of a file (binary or armored) without decrypting, to see which stanzas
 * it has (for example, whether to ask for a passphrase).
 * @param bytes the start of the file (or all of it)
 * @param atEnd whether `bytes` is the whole file
 * @returns the header info, or null when more bytes are needed
 * @throws HeaderError, ArmorError when the start of the file is already invalid
 */
export function inspectHeader(bytes: Uint8Array, atEnd = false): HeaderInfo | null {
  const armored = detectArmor(bytes, atEnd)
  if (armored === null) return null
  let binary = bytes
  if (armored) {
    const parts: Uint8Array[] = []
    const decoder = new ArmorDecoder()
    decoder.push(bytes, (p) => parts.push(p))
    if (atEnd) decoder.finish((p) => parts.push(p))
    binary = new Uint8Array(Buffer.concat(parts))
  }
  const header = parseHeader(binary)
  if (header === null) {
    if (atEnd) throw truncatedHeaderError(binary.length)
    return null
  }
  return describeHeader(header, armored)
}

function truncatedHeaderError(length: number): HeaderError {
  return length === 0
    ? new HeaderError("the file is empty", {
        hints: ["an age file starts with age-encryption.org/v1"],
      })
    : new HeaderError("header is truncated", { hints: ["the file was cut short"] })
}

function missingNonceError(): HeaderError {
  return new HeaderError("payload nonce is missing or short", {
    hints: ["the file was cut short right after its header"],
  })
}

/**
 * Decrypts a whole age file (binary or armored, detected as `age -d` does).
 * @returns the plaintext; nothing is returned if any part fails to authenticate
 * @throws ArmorError, HeaderError, NoIdentityMatchError, HeaderMacError, PayloadError
 */
export async function decrypt(
  ciphertext: Uint8Array,
  identities: IdentitySource,
): Promise<Uint8Array> {
  const armored = detectArmor(ciphertext, true) === true
  const file = armored ? decodeArmor(ciphertext) : ciphertext
  const header = parseHeader(file)
  if (header === null) throw truncatedHeaderError(file.length)
  const fileKey = await unwrapHeader(header, identities, armored)
  const rest = file.subarray(header.headerLength)
  if (rest.length < PAYLOAD_NONCE_SIZE) throw missingNonceError()
  const payloadKey = derivePayloadKey(fileKey, rest.subarray(0, PAYLOAD_NONCE_SIZE))
  wipeBytes(fileKey)
  const out = new Uint8Array(rest.length - PAYLOAD_NONCE_SIZE)
  let at = 0
  const emit = (plaintext: Uint8Array): void => {
    out.set(plaintext, at)
    at += plaintext.length
  }
  const decryptor = new PayloadDecryptor(payloadKey)
  try {
    decryptor.push(rest.subarray(PAYLOAD_NONCE_SIZE), emit)
    decryptor.finish(emit)
  } catch (error) {
    out.fill(0)
    throw error
  } finally {
    wipeBytes(payloadKey)
  }
  return out.subarray(0, at)
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error))
}

/** A growable byte buffer for the header phase. */
class ByteBuffer {
  #bytes = new Uint8Array(1024)
  #length = 0
  append(bytes: Uint8Array): void {
    if (this.#length + bytes.length > this.#bytes.length) {
      const grown = new Uint8Array(Math.max(this.#bytes.length * 2, this.#length + bytes.length))
      grown.set(this.#bytes.subarray(0, this.#length))
      this.#bytes = grown
    }
    this.#bytes.set(bytes, this.#length)
    this.#length += bytes.length
  }
  get view(): Uint8Array {
    return this.#bytes.subarray(0, this.#length)
  }
  get length(): number {
    return this.#length
  }
}

type Phase = "detect" | "header" | "nonce" | "payload"

/** The decryption state machine behind `decryptStream`, fed bytes in pieces. */
class StreamDecryption {
  readonly #identities: IdentitySource
  readonly #header: HeaderParser
  #phase: Phase = "detect"
  #armor: ArmorDecoder | null = null
  #armored = false
  #pending = new ByteBuffer()
  #payload: PayloadDecryptor | null = null

  constructor(identities: IdentitySource, maxHeaderSize: number) {
    this.#identities = identities
    this.#header = new HeaderParser({ maxHeaderSize })
  }

  async push(bytes: Uint8Array, emit: (plaintext: Uint8Array) => void): Promise<void> {
    if (this.#phase === "detect") {
      this.#pending.append(bytes)
      const armored = detectArmor(this.#pending.view, false)
      if (armored === null) return
      await this.#startFile(armored, false, emit)
      return
    }
    await this.#input(bytes, emit)
  }

  async finish(emit: (plaintext: Uint8Array) => void): Promise<void> {
    if (this.#phase === "detect") {
      await this.#startFile(detectArmor(this.#pending.view, true) === true, true, emit)
    }
    if (this.#armor !== null) {
      const parts: Uint8Array[] = []
      let armorError: Error | null = null
      try {
        this.#armor.finish((p) => parts.push(p))
      } catch (error) {
        armorError = asError(error)
      }
      for (const part of parts) await this.#binary(part, emit)
      if (armorError !== null) throw armorError
    }
    switch (this.#phase) {
      case "detect":
      case "header":
        throw truncatedHeaderError(this.#pending.length)
      case "nonce":
        throw missingNonceError()
      case "payload":
        this.#payload?.finish(emit)
        return
      default: {
        const never: never = this.#phase
        return never
      }
    }
  }

  async #startFile(armored: boolean, atEnd: boolean, emit: (p: Uint8Array) => void): Promise<void> {
    this.#armored = armored
    this.#phase = "header"
    if (armored) this.#armor = new ArmorDecoder()
    const start = this.#pending.view
    this.#pending = new ByteBuffer()
    if (start.length > 0 || atEnd) await this.#input(start, emit)
  }

  /** Bytes of the file as given (armored or not). */
  async #input(bytes: Uint8Array, emit: (plaintext: Uint8Array) => void): Promise<void> {
    if (this.#armor === null) {
      await this.#binary(bytes, emit)
      return
    }
    const parts: Uint8Array[] = []
    let armorError: Error | null = null
    try {
      this.#armor.push(bytes, (p) => parts.push(p))
    } catch (error) {
      armorError = asError(error)
    }
    // bytes decoded before an armor error still reach the payload, as in the reference
    for (const part of parts) await this.#binary(part, emit)
    if (armorError !== null) throw armorError
  }

  /** Bytes of the binary age file. */
  async #binary(bytes: Uint8Array, emit: (plaintext: Uint8Array) => void): Promise<void> {
    switch (this.#phase) {
      case "detect":
        throw new RangeError("decryption not started")
      case "header": {
        this.#pending.append(bytes)
        // the parser resumes where it stopped: linear in the header however it arrives
        const header = this.#header.parse(this.#pending.view)
        if (header === null) return
        const fileKey = await unwrapHeader(header, this.#identities, this.#armored)
        const rest = this.#pending.view.slice(header.headerLength)
        this.#pending = new ByteBuffer()
        this.#phase = "nonce"
        this.#fileKey = fileKey
        await this.#binary(rest, emit)
        return
      }
      case "nonce": {
        this.#pending.append(bytes)
        if (this.#pending.length < PAYLOAD_NONCE_SIZE) return
        const view = this.#pending.view
        const fileKey = this.#fileKey
        if (fileKey === null) throw new RangeError("no file key")
        const payloadKey = derivePayloadKey(fileKey, view.subarray(0, PAYLOAD_NONCE_SIZE))
        wipeBytes(fileKey)
        this.#fileKey = null
        this.#payload = new PayloadDecryptor(payloadKey)
        this.#phase = "payload"
        const rest = view.slice(PAYLOAD_NONCE_SIZE)
        this.#pending = new ByteBuffer()
        this.#payload.push(rest, emit)
        return
      }
      case "payload":
        this.#payload?.push(bytes, emit)
        return
      default: {
        const never: never = this.#phase
        return never
      }
    }
  }

  #fileKey: Uint8Array | null = null
}

/**
 * A decrypting transform: an age file in (binary or armored, detected automatically),
 * plaintext out. Each 64 KiB chunk is handed to the reader only after its tag verifies; on
 * a failure the reader first receives every chunk released before it (exactly the prefix
 * test/vectors/age/FORMAT.md "Payload hash" describes), then the error. Trailing data is an
 * error. Memory stays flat: the writer waits until the reader has taken what was released.
 * @returns a readable/writable pair, usable with `pipeThrough`
 */
export function decryptStream(
  identities: IdentitySource,
  opts: DecryptStreamOptions = {},
): TransformStream<Uint8Array, Uint8Array> {
  const decryption = new StreamDecryption(identities, opts.maxHeaderSize ?? MAX_HEADER_BYTES)
  return releasingTransform(
    (bytes, emit) => decryption.push(bytes, emit),
    (emit) => decryption.finish(emit),
  )
}

/**
 * Builds a transform whose readable side delivers every emitted chunk before an error
 * (a TransformStream would drop chunks still queued when it errors). Writes resolve once
 * the reader has taken everything emitted so far, which is the backpressure.
 */
function releasingTransform(
  process: (bytes: Uint8Array, emit: (chunk: Uint8Array) => void) => Promise<void>,
  finish: (emit: (chunk: Uint8Array) => void) => Promise<void>,
): TransformStream<Uint8Array, Uint8Array> {
  const queue: Uint8Array[] = []
  let failure: { error: unknown } | null = null
  let closed = false
  let cancelled: { reason: unknown } | null = null
  let waitingPull: (() => void) | null = null
  let drainWaiters: (() => void)[] = []

  const wakePull = (): void => {
    const pull = waitingPull
    waitingPull = null
    pull?.()
  }
  const wakeWriters = (): void => {
    const waiters = drainWaiters
    drainWaiters = []
    for (const w of waiters) w()
  }
  const emit = (chunk: Uint8Array): void => {
    if (chunk.length === 0 || cancelled !== null) return
    queue.push(chunk)
    wakePull()
  }
  const fail = (error: unknown): void => {
    failure ??= { error }
    wakePull()
  }
  const drained = (): Promise<void> =>
    queue.length === 0 || cancelled !== null
      ? Promise.resolve()
      : new Promise((resolve) => drainWaiters.push(resolve))

  const readable = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        return new Promise<void>((resolve) => {
          const deliver = (): void => {
            const next = queue.shift()
            if (next !== undefined) {
              controller.enqueue(next)
              if (queue.length === 0) wakeWriters()
            } else if (failure !== null) {
              controller.error(failure.error)
            } else if (closed) {
              controller.close()
            } else {
              waitingPull = deliver
              return
            }
            resolve()
          }
          deliver()
        })
      },
      cancel(reason) {
        cancelled = { reason }
        queue.length = 0
        wakeWriters()
      },
    },
    { highWaterMark: 0 },
  )

  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      if (cancelled !== null) throw cancelled.reason
      if (failure !== null) throw failure.error
      try {
        await process(chunk, emit)
      } catch (error) {
        fail(error)
        throw error
      }
      await drained()
    },
    async close() {
      if (failure !== null) throw failure.error
      try {
        await finish(emit)
      } catch (error) {
        fail(error)
        throw error
      }
      closed = true
      wakePull()
    },
    abort(reason) {
      fail(reason)
    },
  })
  return { readable, writable }
}
