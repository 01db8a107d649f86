/**
 * The sops MAC (docs/formats/sops.md "The MAC"): SHA-512 over the plaintext bytes of the
 * values in walk order (no keys, separators or types), as uppercase hex, stored encrypted
 * with the data key and `lastmodified` as additional data.
 *
 * - `mac_only_encrypted`: the hash starts with SHA-256("sops") and covers only values that
 *   are encrypted.
 * - Comments are never hashed ("Comments in lists and sops 3.13.2"). This includes sequence
 *   items stored as `ENC[...,type:comment]` strings: that is the rule of sops ≤3.13.1 and
 *   ≥3.13.3, and the MAC every version *wrote*, 3.13.2 included (its encryption skipped
 *   comments too; only its verification wrongly hashed the decrypted list comments). So
 *   files from every version verify, including 3.13.2 files with comments in lists that
 *   3.13.2 itself refuses.
 * - Nulls and empty strings contribute nothing.
 */
import { createHash } from "node:crypto"
import type { Hash } from "node:crypto"
import type { Entropy } from "../internal/entropy.js"
import { encodeUtf8, equalBytesConstantTime } from "../internal/bytes.js"
import type { Document } from "./tree.js"
import type { ValueSelector } from "./metadata.js"
import { compileSelector, mapLeaves } from "./walk.js"
import type { Plaintext } from "./value-cipher.js"
import { decryptValue, encryptValue, plaintextBytes } from "./value-cipher.js"
import { MacMismatchError } from "./errors.js"

/**
 * SHA-256("sops"): the first bytes hashed when `mac_only_encrypted` is set ("Computing the
 * MAC").
 */
export const MAC_ONLY_ENCRYPTED_PREFIX: Uint8Array = new Uint8Array(
  createHash("sha256").update("sops").digest(),
)

/** Accumulates the MAC over leaves fed in walk order. */
export interface MacHasher {
  /**
   * @param value a leaf's plaintext (comments are ignored)
   * @param encrypted whether the selector encrypts this leaf
   */
  add(value: Plaintext, encrypted: boolean): void
  /**
   * `add` for a non-comment leaf whose plaintext bytes the caller has already computed.
   * @param bytes `plaintextBytes(value)`
   * @param encrypted whether the selector encrypts this leaf
   */
  addBytes(bytes: Uint8Array, encrypted: boolean): void
  /** @returns the MAC: uppercase hex of the SHA-512 digest (128 characters) */
  digest(): string
}

/**
 * @param macOnlyEncrypted the file's `mac_only_encrypted`
 * @returns an empty hasher
 */
export function createMacHasher(macOnlyEncrypted: boolean): MacHasher {
  const hash: Hash = createHash("sha512")
  if (macOnlyEncrypted) hash.update(MAC_ONLY_ENCRYPTED_PREFIX)
  return {
    add(value, encrypted) {
      if (value.kind === "comment") return
      if (macOnlyEncrypted && !encrypted) return
      hash.update(plaintextBytes(value))
    },
    addBytes(bytes, encrypted) {
      if (macOnlyEncrypted && !encrypted) return
      hash.update(bytes)
    },
    digest() {
      return hash.digest("hex").toUpperCase()
    },
  }
}

/**
 * Computes the MAC of a plaintext document.
 * @param doc the plaintext document
 * @param selector the file's selector (undefined: `_unencrypted` suffix)
 * @param macOnlyEncrypted the file's `mac_only_encrypted`
 * @returns the 128-character uppercase hex MAC
 * @throws SelectorError when the selector's regex is invalid
 */
export function computeMac(
  doc: Document,
  selector: ValueSelector | undefined,
  macOnlyEncrypted: boolean,
): string {
  const hasher = createMacHasher(macOnlyEncrypted)
  mapLeaves(doc, compileSelector(selector), (leaf, ctx) => {
    hasher.add(leaf, ctx.encrypted)
    return leaf
  })
  return hasher.digest()
}

/**
 * Formats a time the way sops writes `lastmodified` (Go `time.RFC3339` in UTC, seconds).
 * @returns e.g. `2024-05-01T12:00:00Z`
 */
export function formatLastModified(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z")
}

const RFC3339 =
  /^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.\d+)?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/

/**
 * The additional data of the MAC ("Checking the MAC"): `lastmodified` parsed as RFC 3339
 * and formatted again with Go's `time.RFC3339`, so fractional seconds are dropped and a zero offset
 * becomes `Z`. For files sops wrote this is the stored text.
 * @throws MacMismatchError when `lastModified` is not an RFC 3339 time
 */
export function macAdditionalData(lastModified: string): string {
  const match = RFC3339.exec(lastModified)
  if (match === null) {
    throw new MacMismatchError(
      `lastmodified ${JSON.stringify(lastModified)} is not an RFC 3339 time, so the mac cannot be checked`,
      { hints: ["restore the sops metadata from version control"] },
    )
  }
  const [, date = "", time = "", , sign, hours = "00", minutes = "00"] = match
  const zone =
    sign === undefined || (hours === "00" && minutes === "00") ? "Z" : `${sign}${hours}:${minutes}`
  return `${date}T${time}${zone}`
}

/**
 * Encrypts a MAC for the `mac` field (type `str`, additional data = `lastmodified`).
 * @param mac the hex MAC from `computeMac`
 * @param dataKey the 32-byte data key
 * @param lastModified the `lastmodified` text stored next to it
 * @returns the `ENC[...]` text
 */
export function encryptMac(
  mac: string,
  dataKey: Uint8Array,
  lastModified: string,
  entropy?: Entropy,
): string {
  return encryptValue(
    { kind: "string", value: mac },
    dataKey,
    macAdditionalData(lastModified),
    entropy === undefined ? {} : { entropy },
  )
}

/**
 * Decrypts the stored MAC.
 * @returns the hex MAC
 * @throws MacMismatchError when it does not authenticate (the MAC or `lastmodified` was
 *   changed, or it belongs to another data key) or is not a string
 */
export function decryptMac(
  encryptedMac: string,
  dataKey: Uint8Array,
  lastModified: string,
): string {
  let value: Plaintext
  try {
    value = decryptValue(encryptedMac, dataKey, macAdditionalData(lastModified), "the mac")
  } catch (cause) {
    if (cause instanceof MacMismatchError) throw cause
    throw new MacMismatchError(
      "the mac of this file does not decrypt: the mac or lastmodified was changed",
      {
        cause,
        hints: [
          "restore the sops metadata from version control",
          "--ignore-mac decrypts anyway (every value is still authenticated on its own)",
        ],
      },
    )
  }
  if (value.kind !== "string") {
    throw new MacMismatchError(`the mac of this file has type ${value.kind}, not a string`)
  }
  return value.value
}

/** @returns whether two hex MACs are equal (constant time) */
export function macsEqual(stored: string, computed: string): boolean {
  return equalBytesConstantTime(encodeUtf8(stored), encodeUtf8(computed))
}
