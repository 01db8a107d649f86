/**
 * The native scrypt (passphrase) recipient type (docs/formats/age.md "scrypt"): stanza
 * `-> scrypt <base64 16-byte salt> <log2 N>` with a 32-byte body, wrap key =
 * scrypt(passphrase, "age-encryption.org/v1/scrypt" ‖ salt, N, r = 8, p = 1). An scrypt
 * stanza must be the only one in its header: the recipient declares a random label so it
 * can't be combined with others, and the identity rejects a header that mixes it.
 */
import { scrypt } from "node:crypto"
import { concatBytes, encodeUtf8, wipeBytes } from "../internal/bytes.js"
import { systemEntropy } from "../internal/entropy.js"
import type { Entropy } from "../internal/entropy.js"
import { decodeBase64Strict, encodeBase64 } from "./base64.js"
import { HeaderError, PassphraseError, ScryptMemoryError } from "./errors.js"
import type { Identity, LabeledRecipient, Stanza } from "./recipient.js"
import { openFileKey, sealFileKey } from "./x25519.js"

/** The stanza type. */
export const SCRYPT_STANZA_TYPE = "scrypt"
const SALT_LABEL = "age-encryption.org/v1/scrypt"
/** age's default encryption work factor (about a second). */
export const DEFAULT_SCRYPT_WORK_FACTOR = 18
/** age's default highest work factor accepted when decrypting (4 GiB of memory). */
export const DEFAULT_MAX_SCRYPT_WORK_FACTOR = 22
const canonicalWorkFactor = /^[1-9][0-9]*$/

/** scrypt with r = 8, p = 1 through node:crypto, with `maxmem` raised to fit 2^logN. */
function deriveWrapKey(passphrase: string, salt: Uint8Array, logN: number): Promise<Uint8Array> {
  const N = 2 ** logN
  const password = encodeUtf8(passphrase)
  return new Promise((resolve, reject) => {
    // memory ≈ 128·r·N bytes; the default maxmem (32 MiB) refuses logN ≥ 15
    scrypt(
      password,
      concatBytes(encodeUtf8(SALT_LABEL), salt),
      32,
      { N, r: 8, p: 1, maxmem: 128 * 8 * N + 64 * 1024 * 1024 },
      (error, key) => {
        wipeBytes(password)
        if (error) reject(scryptFailure(error, logN))
        else resolve(new Uint8Array(key))
      },
    )
  })
}

/**
 * @returns ScryptMemoryError when OpenSSL could not allocate the memory (`malloc failure`),
 *   else the error as it is
 */
function scryptFailure(error: Error, logN: number): Error {
  if (!/malloc failure|memory limit exceeded/i.test(error.message)) return error
  return new ScryptMemoryError(
    `scrypt work factor ${String(logN)} needs ${describeMemory(logN)} of memory, more than can be allocated here`,
    {
      cause: error,
      hints: [
        "the file was encrypted with a very high work factor; decrypt it on a machine with more memory",
        "AGE_PASSPHRASE_MAX_WORK_FACTOR (with -j batchpass) refuses such files before trying",
      ],
    },
  )
}

/** @returns the memory scrypt needs for 2^logN with r = 8 (128·r·N bytes = N KiB), in words */
function describeMemory(logN: number): string {
  const units = ["KiB", "MiB", "GiB", "TiB"]
  const step = Math.min(Math.floor(logN / 10), units.length - 1)
  return `${String(2 ** (logN - 10 * step))} ${units[step] ?? "KiB"}`
}

/** A passphrase recipient. */
export class ScryptRecipient implements LabeledRecipient {
  /** One random label, unique to this recipient, so nothing else can share the file. */
  readonly labels: readonly string[]
  readonly #passphrase: string
  readonly #workFactor: number
  readonly #entropy: Entropy

  /**
   * @param passphrase the passphrase (must not be empty)
   * @param opts.workFactor log2 of scrypt's N, 1..30 (default 18, as age)
   * @param opts.entropy source of the salt and label (default: the system CSPRNG)
   * @throws PassphraseError on an empty passphrase; RangeError on a bad work factor
   */
  constructor(passphrase: string, opts: { workFactor?: number; entropy?: Entropy } = {}) {
    if (passphrase.length === 0) throw new PassphraseError("the passphrase is empty")
    const workFactor = opts.workFactor ?? DEFAULT_SCRYPT_WORK_FACTOR
    if (!Number.isInteger(workFactor) || workFactor < 1 || workFactor > 30) {
      throw new RangeError("scrypt work factor must be an integer from 1 to 30")
    }
    this.#passphrase = passphrase
    this.#workFactor = workFactor
    this.#entropy = opts.entropy ?? systemEntropy
    this.labels = [`scrypt-${encodeBase64(this.#entropy(16))}`]
  }

  /** @returns the stanza `-> scrypt <salt> <work factor>` wrapping `fileKey` */
  async wrapFileKey(fileKey: Uint8Array): Promise<readonly Stanza[]> {
    const salt = this.#entropy(16)
    const wrapKey = await deriveWrapKey(this.#passphrase, salt, this.#workFactor)
    const body = sealFileKey(wrapKey, fileKey)
    wipeBytes(wrapKey)
    return [
      { type: SCRYPT_STANZA_TYPE, args: [encodeBase64(salt), String(this.#workFactor)], body },
    ]
  }
}

/** A passphrase identity. */
export class ScryptIdentity implements Identity {
  readonly #passphrase: string
  readonly #maxWorkFactor: number

  /**
   * @param passphrase the passphrase to try
   * @param opts.maxWorkFactor the highest work factor to compute (default 22, as age)
   */
  constructor(passphrase: string, opts: { maxWorkFactor?: number } = {}) {
    this.#passphrase = passphrase
    this.#maxWorkFactor = opts.maxWorkFactor ?? DEFAULT_MAX_SCRYPT_WORK_FACTOR
  }

  /**
   * @returns the file key, or null if there is no scrypt stanza or the passphrase is wrong
   * @throws HeaderError on a malformed scrypt stanza, a work factor above the maximum, or an
   *   scrypt stanza that is not alone in the header
   */
  async unwrapFileKey(stanzas: readonly Stanza[]): Promise<Uint8Array | null> {
    const stanza = stanzas.find((s) => s.type === SCRYPT_STANZA_TYPE)
    if (stanza === undefined) return null
    // spec: an scrypt stanza must be the only stanza in the header
    if (stanzas.length !== 1) throw scryptNotAloneError()
    if (stanza.args.length !== 2) {
      throw new HeaderError("scrypt stanza: wrong number of arguments")
    }
    const [saltText = "", workFactorText = ""] = stanza.args
    const salt = decodeBase64Strict(saltText, "scrypt stanza salt")
    if (salt.length !== 16) throw new HeaderError("scrypt stanza: salt is not 16 bytes")
    if (!canonicalWorkFactor.test(workFactorText)) {
      throw new HeaderError("scrypt stanza: work factor is not a canonical decimal number")
    }
    const workFactor = Number(workFactorText)
    if (workFactor > this.#maxWorkFactor) {
      throw new HeaderError(
        `scrypt stanza: work factor ${workFactorText.slice(0, 10)} is above the maximum ${this.#maxWorkFactor}`,
        {
          hints: [
            "the file needs too much memory or time to decrypt; raise the maximum if you trust it",
          ],
        },
      )
    }
    // spec: check the body length before deriving (multi-key attacks)
    if (stanza.body.length !== 32) throw new HeaderError("scrypt stanza: body is not 32 bytes")
    const wrapKey = await deriveWrapKey(this.#passphrase, salt, workFactor)
    const fileKey = openFileKey(wrapKey, stanza.body)
    wipeBytes(wrapKey)
    return fileKey
  }
}

/** @returns the error for a header where an scrypt stanza shares the header */
export function scryptNotAloneError(): HeaderError {
  return new HeaderError("header: an scrypt stanza must be the only stanza", {
    hints: ["a passphrase-encrypted file can't have other recipients; the file may be tampered"],
  })
}
