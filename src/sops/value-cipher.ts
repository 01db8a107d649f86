/**
 * Encrypted sops values: the `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` syntax
 * (docs/formats/sops.md "Encrypted values"), the plaintext bytes of each value type ("Value
 * types"), and AES-256-GCM with 32-byte IVs and the value's path as additional data
 * ("Documents and the tree walk").
 *
 * The IV stash ("Encrypted values"): decrypting records `(type, path, plaintext) → IV`;
 * encrypting the same value at the same path again reuses that IV, so unchanged values keep
 * their ciphertext and edits give minimal diffs. Reusing a GCM IV is only unsafe for
 * *different* plaintexts under one key; the stash is keyed by the plaintext, so a reused IV
 * always encrypts the very same bytes (or, after a data key rotation, under a different
 * key). Stash keys are SHA-256 digests, so the stash holds no plaintext.
 */
import { createCipheriv, createDecipheriv, createHash } from "node:crypto"
import type { Entropy } from "../internal/entropy.js"
import { systemEntropy } from "../internal/entropy.js"
import { asUint8Array, decodeUtf8, encodeUtf8 } from "../internal/bytes.js"
import { InternalError } from "../internal/errors.js"
import type { Comment, Scalar, NullScalar } from "./tree.js"
import { EncryptedValueError, ValueAuthenticationError } from "./errors.js"

/** A value that can be encrypted: every scalar but null, and comments. */
export type Plaintext = Exclude<Scalar, NullScalar> | Comment

/** The `type:` tags sops writes ("Value types"). */
export type ValueType = "str" | "int" | "float" | "bool" | "time" | "bytes" | "comment"

/** The four fields of an `ENC[...]` value, decoded. */
export interface EncryptedValueParts {
  readonly data: Uint8Array
  readonly iv: Uint8Array
  readonly tag: Uint8Array
  /** The `type:` tag as written (may be one coffer does not know). */
  readonly type: string
}

/**
 * IVs of values decrypted in this run, so re-encrypting unchanged values reuses them. Each
 * recorded IV is used once, in walk order: two equal values at one path (list items) keep
 * their own IVs, and a copied value gets a fresh one, so editing never makes two
 * ciphertexts identical that were not before.
 */
export interface IvStash {
  readonly ivs: Map<string, IvQueue>
}

/** The IVs recorded for one (type, path, plaintext), oldest first; `next` is the first unused. */
export interface IvQueue {
  readonly ivs: Uint8Array[]
  next: number
}

/** @returns an empty IV stash (one per edit of a file) */
export function createIvStash(): IvStash {
  return { ivs: new Map() }
}

/** sops's IV length: 32 bytes, not GCM's usual 12 (Node runs GHASH on longer IVs as GCM says). */
export const IV_LENGTH = 32
const TAG_LENGTH = 16
const DATA_KEY_LENGTH = 32

// spec: sops's regex is anchored at the start only, with greedy groups
const ENCRYPTED_VALUE = /^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]/s
// padded standard base64: alphabet characters, at most two "=" at the end, length a
// multiple of 4 (checked beside); the same set as (?:X{4})*(?:X{2}==|X{3}=)? but faster
const BASE64_PADDED = /^[A-Za-z0-9+/]*={0,2}$/

/**
 * Where a value is, for messages: its path as shown to people (`a.b[2]`), or a function
 * that makes it (the walk passes one, so the text is only built for an error).
 */
export type Where = string | (() => string)

function at(where: Where): string {
  return typeof where === "string" ? where : where()
}

/** @returns whether `text` looks like an encrypted sops value (`ENC[AES256_GCM,...]`) */
export function isEncryptedValue(text: string): boolean {
  return ENCRYPTED_VALUE.test(text)
}

/**
 * Peeks at the `type:` of an encrypted value without decrypting it.
 * @returns the type tag, or undefined when `text` is not an encrypted value
 */
export function encryptedValueType(text: string): string | undefined {
  return ENCRYPTED_VALUE.exec(text)?.[4]
}

function decodeBase64Field(text: string, field: string, where: Where): Uint8Array {
  if (text.length % 4 !== 0 || !BASE64_PADDED.test(text)) {
    throw new EncryptedValueError(
      at(where),
      `encrypted value at ${at(where)} has invalid base64 in its ${field}`,
    )
  }
  return asUint8Array(Buffer.from(text, "base64"))
}

function encodeBase64Padded(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")
}

/**
 * @param text an `ENC[AES256_GCM,...]` string
 * @param where the value's path as shown to people, for messages
 * @returns its decoded fields
 * @throws EncryptedValueError when `text` is not an encrypted value or its base64 is invalid
 */
export function parseEncryptedValue(text: string, where: Where): EncryptedValueParts {
  const match = ENCRYPTED_VALUE.exec(text)
  if (match === null) {
    throw new EncryptedValueError(
      at(where),
      `value at ${at(where)} is not an encrypted value (ENC[AES256_GCM,...])`,
      {
        hints: [
          "the file's selector says this value is encrypted; it was probably edited by hand",
          "restore it from version control, or re-encrypt the file from its plaintext",
        ],
      },
    )
  }
  const [, data = "", iv = "", tag = "", type = ""] = match
  return {
    data: decodeBase64Field(data, "data", where),
    iv: decodeBase64Field(iv, "iv", where),
    tag: decodeBase64Field(tag, "tag", where),
    type,
  }
}

/** @returns the `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` text of `parts` (padded base64) */
export function encodeEncryptedValue(parts: EncryptedValueParts): string {
  return `ENC[AES256_GCM,data:${encodeBase64Padded(parts.data)},iv:${encodeBase64Padded(parts.iv)},tag:${encodeBase64Padded(parts.tag)},type:${parts.type}]`
}

/**
 * Formats a float64 like Go's `strconv.FormatFloat(f, 'f', -1, 64)`: the shortest digits that
 * round-trip, never an exponent (`1e21` → `1000000000000000000000`, `1e-7` → `0.0000001`,
 * `-0` → `-0`, `+Inf`, `-Inf`, `NaN`).
 */
export function formatGoFloat(value: number): string {
  if (Number.isNaN(value)) return "NaN"
  if (value === Infinity) return "+Inf"
  if (value === -Infinity) return "-Inf"
  const sign = value < 0 || Object.is(value, -0) ? "-" : ""
  // JS gives the same shortest round-trip digits as Go, sometimes with an exponent
  const shortest = String(Math.abs(value))
  const match = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(shortest)
  if (match === null) return sign + shortest
  const [, intPart = "", fracPart = "", exponentText] = match
  if (exponentText === undefined) return sign + shortest
  const exponent = Number(exponentText)
  const digits = intPart + fracPart
  // position of the decimal point within `digits`
  const point = intPart.length + exponent
  if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`.replace(/\.?0+$/, "")
  if (point >= digits.length) return sign + digits + "0".repeat(point - digits.length)
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`
}

/**
 * @returns the `type:` tag for `value`; bytes are `str`, as sops's walk turns a Go `[]byte`
 *   into a string before encrypting ("Value types": sops never writes `type:bytes`)
 */
export function valueTypeOf(value: Plaintext): ValueType {
  switch (value.kind) {
    case "string":
    case "bytes":
      return "str"
    case "int":
      return "int"
    case "float":
      return "float"
    case "bool":
      return "bool"
    case "time":
      return "time"
    case "comment":
      return "comment"
    default: {
      const never: never = value
      return never
    }
  }
}

/**
 * The bytes sops encrypts and feeds to the MAC for a value ("Value types", Go's `ToBytes`):
 * strings as UTF-8, ints in decimal, floats in Go `'f'` format, booleans as `True`/`False`,
 * times as their RFC 3339 text, bytes as they are, comments as their text.
 */
export function plaintextBytes(value: Plaintext): Uint8Array {
  switch (value.kind) {
    case "string":
    case "time":
      return encodeUtf8(value.value)
    case "int":
      return encodeUtf8(value.value.toString())
    case "float":
      return encodeUtf8(formatGoFloat(value.value))
    case "bool":
      return encodeUtf8(value.value ? "True" : "False")
    case "bytes":
      return value.value
    case "comment":
      return encodeUtf8(value.text)
    default: {
      const never: never = value
      return never
    }
  }
}

/**
 * @returns whether sops leaves `value` as is instead of encrypting it (empty strings,
 * "Encrypted values")
 */
export function isEmptyPlaintext(value: Plaintext): boolean {
  switch (value.kind) {
    case "string":
      return value.value === ""
    case "comment":
      return value.text === ""
    case "bytes":
      return value.value.length === 0
    default:
      return false
  }
}

function stashKey(type: string, additionalData: string, plaintext: Uint8Array): string {
  const hash = createHash("sha256")
  const aad = encodeUtf8(additionalData)
  const header = new Uint8Array(8)
  const view = new DataView(header.buffer)
  view.setUint32(0, aad.length)
  view.setUint32(4, plaintext.length)
  hash.update(type).update("\0").update(header).update(aad).update(plaintext)
  return hash.digest("hex")
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b)
}

/** @throws InternalError unless `dataKey` is 32 bytes */
export function checkDataKey(dataKey: Uint8Array): void {
  if (dataKey.length !== DATA_KEY_LENGTH) {
    throw new InternalError(`the data key must be 32 bytes, not ${String(dataKey.length)}`)
  }
}

/** Options for `encryptValue`. */
export interface EncryptValueOptions {
  /** Where fresh IVs come from. */
  readonly entropy?: Entropy
  /** IVs of values decrypted earlier with this data key, reused for unchanged values. */
  readonly ivStash?: IvStash
}

/**
 * Encrypts one value with AES-256-GCM (32-byte IV, additional data = the path string).
 * @param value the plaintext value
 * @param dataKey the 32-byte data key
 * @param additionalData the path string (`a:b:`), or `lastmodified` for the MAC
 * @returns the `ENC[...]` text, or `""` for an empty value (sops never encrypts those)
 */
export function encryptValue(
  value: Plaintext,
  dataKey: Uint8Array,
  additionalData: string,
  options: EncryptValueOptions = {},
): string {
  checkDataKey(dataKey)
  if (isEmptyPlaintext(value)) return ""
  return encryptPlaintextBytes(
    valueTypeOf(value),
    plaintextBytes(value),
    dataKey,
    additionalData,
    options,
  )
}

/**
 * `encryptValue` for a value whose bytes the caller already has (the document walk feeds
 * the same bytes to the MAC). The caller has checked the data key and that the value is
 * not empty.
 * @returns the `ENC[...]` text
 */
export function encryptPlaintextBytes(
  type: ValueType,
  plaintext: Uint8Array,
  dataKey: Uint8Array,
  additionalData: string,
  options: EncryptValueOptions = {},
): string {
  const key = options.ivStash === undefined ? undefined : stashKey(type, additionalData, plaintext)
  let iv = key === undefined ? undefined : takeStashedIv(options.ivStash, key)
  if (iv === undefined) {
    iv = (options.entropy ?? systemEntropy)(IV_LENGTH)
    if (iv.length !== IV_LENGTH) throw new InternalError("entropy source returned too few bytes")
  }
  const cipher = createCipheriv("aes-256-gcm", dataKey, iv, { authTagLength: TAG_LENGTH })
  cipher.setAAD(Buffer.from(additionalData, "utf8"))
  // GCM is a stream cipher: final() adds nothing, it computes the tag
  const data = cipher.update(plaintext)
  cipher.final()
  const tag = cipher.getAuthTag()
  return `ENC[AES256_GCM,data:${data.toString("base64")},iv:${encodeBase64Padded(iv)},tag:${tag.toString("base64")},type:${type}]`
}

/** How many IVs `createIvSource` draws from the system at once. */
const IVS_PER_DRAW = 1024

/**
 * Where a document's IVs come from: the given entropy, one call per IV; for the system's
 * CSPRNG, IVs are drawn 1,024 at a time (one call into OpenSSL per value costs more than
 * the encryption). Each IV is a distinct slice of fresh random bytes, used once.
 * @param entropy the caller's entropy (undefined: the system's)
 * @returns the entropy to pass to `encryptValue` for IVs
 */
export function createIvSource(entropy: Entropy | undefined): Entropy {
  if (entropy !== undefined && entropy !== systemEntropy) return entropy
  let pool: Uint8Array = new Uint8Array(0)
  let used = 0
  return (length) => {
    if (length !== IV_LENGTH) return systemEntropy(length)
    if (used + length > pool.length) {
      pool = systemEntropy(IV_LENGTH * IVS_PER_DRAW)
      used = 0
    }
    const iv = pool.subarray(used, used + length)
    used += length
    return iv
  }
}

/** The oldest IV stashed under `key`, removed from the stash (an index, not shift(): O(1)). */
function takeStashedIv(stash: IvStash | undefined, key: string): Uint8Array | undefined {
  const queue = stash?.ivs.get(key)
  if (queue === undefined) return undefined
  const iv = queue.ivs[queue.next]
  queue.next++
  if (queue.next >= queue.ivs.length) stash?.ivs.delete(key)
  return iv
}

const GO_TRUE = new Set(["1", "t", "T", "TRUE", "true", "True"])
const GO_FALSE = new Set(["0", "f", "F", "FALSE", "false", "False"])
const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/

/**
 * Parses decrypted bytes as their `type:` like Go's strconv/time functions do ("Value types").
 * `stringsAsBytes` keeps a `str` as its raw bytes (a Go string holds any bytes).
 */
function plaintextFromBytes(
  type: string,
  bytes: Uint8Array,
  where: Where,
  stringsAsBytes: boolean,
): Plaintext {
  if (type === "bytes" || (type === "str" && stringsAsBytes)) return { kind: "bytes", value: bytes }
  let text: string
  try {
    text = decodeUtf8(bytes)
  } catch (cause) {
    throw new EncryptedValueError(
      at(where),
      `value at ${at(where)} decrypts to invalid UTF-8 for type ${type}`,
      { cause },
    )
  }
  const invalid = (): EncryptedValueError =>
    new EncryptedValueError(at(where), `value at ${at(where)} does not decrypt to a valid ${type}`)
  switch (type) {
    case "str":
      return { kind: "string", value: text }
    case "comment":
      return { kind: "comment", text }
    case "int": {
      // Go strconv.Atoi: optional sign, decimal digits, int64 range
      if (!/^[+-]?\d+$/.test(text)) throw invalid()
      const value = BigInt(text)
      if (value < INT64_MIN || value > INT64_MAX) throw invalid()
      return { kind: "int", value }
    }
    case "float": {
      // Go strconv.ParseFloat, decimal forms and inf/nan (sops only writes 'f' format)
      const special = /^([+-]?)(inf|infinity|nan)$/i.exec(text)
      if (special !== null) {
        const negative = special[1] === "-"
        const value = special[2]?.toLowerCase() === "nan" ? NaN : negative ? -Infinity : Infinity
        return { kind: "float", value }
      }
      if (!/^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(text)) throw invalid()
      const value = Number(text)
      if (!Number.isFinite(value)) throw invalid()
      return { kind: "float", value }
    }
    case "bool":
      if (GO_TRUE.has(text)) return { kind: "bool", value: true }
      if (GO_FALSE.has(text)) return { kind: "bool", value: false }
      throw invalid()
    case "time":
      if (!RFC3339.test(text)) throw invalid()
      return { kind: "time", value: text }
    default:
      throw new EncryptedValueError(
        at(where),
        `value at ${at(where)} has unknown type ${JSON.stringify(type)}`,
        {
          hints: ["sops knows the types str, int, float, bool, time, bytes and comment"],
        },
      )
  }
}

/** Options for `decryptValue`. */
export interface DecryptValueOptions {
  /** Records the IV of the decrypted value, for `encryptValue` to reuse. */
  readonly ivStash?: IvStash
  /**
   * Returns a `type:str` value as its raw bytes (a `bytes` scalar) instead of UTF-8 text:
   * the binary store's `data` is the file's bytes, which need not be UTF-8 ("Where the
   * metadata goes").
   */
  readonly stringsAsBytes?: boolean
}

/**
 * Decrypts one `ENC[...]` value.
 * @param text the encrypted value (`""` decrypts to the empty string)
 * @param dataKey the 32-byte data key
 * @param additionalData the path string (`a:b:`), or `lastmodified` for the MAC
 * @param where the value's path as shown to people (`a.b[2]`), for messages
 * @param options an IV stash to fill; `stringsAsBytes` for the binary store
 * @returns the typed plaintext value
 * @throws EncryptedValueError when `text` is malformed or its plaintext does not parse as its type
 * @throws ValueAuthenticationError when the tag does not verify
 */
export function decryptValue(
  text: string,
  dataKey: Uint8Array,
  additionalData: string,
  where: Where,
  options: DecryptValueOptions = {},
): Plaintext {
  checkDataKey(dataKey)
  if (text === "") {
    return options.stringsAsBytes === true
      ? { kind: "bytes", value: new Uint8Array(0) }
      : { kind: "string", value: "" }
  }
  const parts = parseEncryptedValue(text, where)
  if (parts.iv.length === 0)
    throw new EncryptedValueError(at(where), `encrypted value at ${at(where)} has an empty iv`)
  if (parts.tag.length !== TAG_LENGTH) {
    throw new EncryptedValueError(
      at(where),
      `encrypted value at ${at(where)} has a ${String(parts.tag.length)}-byte tag (expected 16)`,
    )
  }
  let plaintext: Uint8Array
  try {
    const decipher = createDecipheriv("aes-256-gcm", dataKey, parts.iv, {
      authTagLength: TAG_LENGTH,
    })
    decipher.setAAD(Buffer.from(additionalData, "utf8"))
    decipher.setAuthTag(parts.tag)
    // GCM is a stream cipher: final() adds no bytes, it checks the tag
    plaintext = asUint8Array(decipher.update(parts.data))
    decipher.final()
  } catch (cause) {
    throw new ValueAuthenticationError(at(where), `value at ${at(where)} failed authentication`, {
      cause,
      hints: [
        "the value, its key path or its position was changed, or it was encrypted with another data key",
        "restore the file from version control",
      ],
    })
  }
  const value = plaintextFromBytes(parts.type, plaintext, where, options.stringsAsBytes === true)
  // stash the IV only when re-encrypting would encrypt these very bytes: a value stored
  // non-canonically (`true` for a bool, `1.50` for a float) re-encodes differently, and one
  // IV must never encrypt two different plaintexts under one key
  const canonical = plaintextBytes(value)
  if (options.ivStash !== undefined && equalBytes(canonical, plaintext)) {
    const key = stashKey(valueTypeOf(value), additionalData, canonical)
    const queue = options.ivStash.ivs.get(key)
    if (queue === undefined) options.ivStash.ivs.set(key, { ivs: [parts.iv], next: 0 })
    else queue.ivs.push(parts.iv)
  }
  return value
}
