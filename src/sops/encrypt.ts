/**
 * Document-level sops encryption and decryption (docs/formats/sops.md "Documents and the
 * tree walk", "Encrypted values", "Value types", "Which values are encrypted", "Comments",
 * "The MAC", "Commands"): every leaf the
 * selector picks is encrypted with the data key and its path as additional data, the MAC
 * is computed over the plaintext values, and `lastmodified`/`mac` are set. Decryption
 * authenticates every value first, then checks the MAC, so a value that was changed is
 * reported by its path and a MAC mismatch with all values authentic means unencrypted
 * content or the structure (order, deletions, moves) changed.
 *
 * The data key is an argument: unwrapping it (`data-key.ts`) happens once per file.
 */
import type { Clock, Entropy } from "../internal/entropy.js"
import { systemClock, systemEntropy } from "../internal/entropy.js"
import type { Document } from "./tree.js"
import type { Metadata } from "./metadata.js"
import type { IvStash, Plaintext } from "./value-cipher.js"
import {
  checkDataKey,
  createIvSource,
  decryptValue,
  encryptPlaintextBytes,
  encryptedValueType,
  isEmptyPlaintext,
  isEncryptedValue,
  plaintextBytes,
  valueTypeOf,
} from "./value-cipher.js"
import { additionalDataOf, compileSelector, describeLeaf, mapLeaves } from "./walk.js"
import { createMacHasher, decryptMac, encryptMac, formatLastModified, macsEqual } from "./mac.js"
import {
  EncryptedValueError,
  MacMismatchError,
  MissingMacError,
  SelectorError,
  ValueAuthenticationError,
} from "./errors.js"

/** What `encryptDocument` needs besides the plaintext. */
export interface EncryptSettings {
  /** The 32-byte data key. */
  readonly dataKey: Uint8Array
  /**
   * The file's metadata: key groups, selector, `mac_only_encrypted`, version and threshold
   * are kept; `lastModified` and `mac` are replaced. A selector of undefined encrypts as
   * `_unencrypted` (callers writing a new non-binary file set that explicitly, as sops does).
   */
  readonly metadata: Metadata
  /** IVs recorded by `decryptDocument` on the same file: unchanged values keep their ciphertext. */
  readonly ivStash?: IvStash
}

/** Randomness and time for `encryptDocument`. */
export interface EncryptEnvironment {
  readonly entropy?: Entropy
  readonly clock?: Clock
}

/** An encrypted document and its metadata, ready for `Store.emitEncrypted`. */
export interface EncryptedDocument {
  readonly doc: Document
  readonly metadata: Metadata
}

/**
 * Encrypts a plaintext document.
 * @param doc the plaintext document
 * @param settings data key, metadata and optional IV stash
 * @param env entropy for IVs, clock for `lastmodified`
 * @returns the encrypted document and the metadata with new `lastModified` and `mac`
 * @throws SelectorError when the selector is invalid, or an encrypted comment would match
 *   `unencrypted_comment_regex`
 */
export function encryptDocument(
  doc: Document,
  settings: EncryptSettings,
  env: EncryptEnvironment = {},
): EncryptedDocument {
  const { dataKey, metadata } = settings
  const entropy = env.entropy ?? systemEntropy
  const lastModified = formatLastModified((env.clock ?? systemClock)())
  const selector = metadata.selector
  const select = compileSelector(selector)
  const commentGuard =
    selector?.kind === "unencrypted_comment_regex" && selector.value !== ""
      ? // the ciphertext itself would read as a "leave clear" marker
        (text: string): boolean => !select([], [[text]], true)
      : undefined
  const hasher = createMacHasher(metadata.macOnlyEncrypted)
  const ivs = createIvSource(env.entropy)
  const cipherOptions =
    settings.ivStash === undefined ? { entropy: ivs } : { entropy: ivs, ivStash: settings.ivStash }
  checkDataKey(dataKey)

  const encrypted = mapLeaves(doc, select, (leaf, ctx): Plaintext => {
    // the plaintext bytes once, for the MAC and the cipher
    const bytes = plaintextBytes(leaf)
    if (leaf.kind !== "comment") hasher.addBytes(bytes, ctx.encrypted)
    if (!ctx.encrypted) return leaf
    // spec: empty values are never encrypted (empty bytes are the empty string, as in Go)
    if (isEmptyPlaintext(leaf)) return leaf.kind === "bytes" ? { kind: "string", value: "" } : leaf
    const aad = additionalDataOf(ctx.keys)
    const text = encryptPlaintextBytes(valueTypeOf(leaf), bytes, dataKey, aad, cipherOptions)
    if (leaf.kind === "comment" && commentGuard?.(text) === true) {
      throw new SelectorError(
        `the encrypted comment at ${describeLeaf(ctx)} would match unencrypted_comment_regex`,
        { hints: ["make the unencrypted_comment_regex pattern more specific"] },
      )
    }
    return { kind: "string", value: text }
  })

  const mac = encryptMac(hasher.digest(), dataKey, lastModified, entropy)
  return { doc: encrypted, metadata: { ...metadata, lastModified, mac } }
}

/** Options for `decryptDocument`. */
export interface DecryptOptions {
  /** Skip the MAC comparison and tolerate a missing or undecryptable MAC (`--ignore-mac`). */
  readonly ignoreMac?: boolean
  /** Records every value's IV so that re-encrypting unchanged values keeps their ciphertext. */
  readonly ivStash?: IvStash
  /** Receives warnings (a comment that is not encrypted where the selector says it should be). */
  readonly onWarning?: (message: string) => void
  /**
   * Decrypt `type:str` values to raw bytes (`bytes` scalars), not UTF-8 text: the binary
   * store's `data` holds the file's bytes, which need not be UTF-8 (docs/formats/sops.md
   * "Where the metadata goes").
   */
  readonly stringsAsBytes?: boolean
}

/**
 * Decrypts an encrypted document and verifies its MAC.
 * @param doc the encrypted document (from `Store.parseEncrypted`)
 * @param metadata its metadata
 * @param dataKey the 32-byte data key (`unwrapDataKey`)
 * @param options `ignoreMac`, an IV stash to fill, a warning sink, `stringsAsBytes`
 * @returns the plaintext document
 * @throws ValueAuthenticationError naming the path of a value that fails authentication
 * @throws EncryptedValueError naming the path of a malformed value, or of a clear value
 *   where the selector says it is encrypted
 * @throws MissingMacError when the file has no MAC (unless `ignoreMac`)
 * @throws MacMismatchError when the MAC does not decrypt or does not match (unless `ignoreMac`)
 */
export function decryptDocument(
  doc: Document,
  metadata: Metadata,
  dataKey: Uint8Array,
  options: DecryptOptions = {},
): Document {
  const select = compileSelector(metadata.selector)
  const hasher = createMacHasher(metadata.macOnlyEncrypted)
  const cipherOptions = options.ivStash === undefined ? {} : { ivStash: options.ivStash }
  const valueOptions = { ...cipherOptions, stringsAsBytes: options.stringsAsBytes === true }

  const plaintext = mapLeaves(
    doc,
    select,
    (leaf, ctx): Plaintext => {
      let out: Plaintext = leaf
      if (ctx.encrypted) {
        // only an error needs the location as text
        const where = (): string => describeLeaf(ctx)
        const aad = additionalDataOf(ctx.keys)
        if (leaf.kind === "comment") {
          try {
            out = decryptValue(leaf.text, dataKey, aad, where, cipherOptions)
          } catch (cause) {
            // spec: a comment that does not decrypt was probably never encrypted; keep it
            if (!(
              cause instanceof EncryptedValueError || cause instanceof ValueAuthenticationError
            )) {
              throw cause
            }
            if (leaf.text !== "") {
              options.onWarning?.(`comment ${where()} is not encrypted; kept as it is`)
            }
            out = leaf
          }
          if (out.kind !== "comment") out = { kind: "comment", text: leaf.text }
        } else if (leaf.kind === "string") {
          out = decryptValue(leaf.value, dataKey, aad, where, valueOptions)
          if (out.kind === "comment" && ctx.slot !== "sequence-item") {
            throw new EncryptedValueError(where(), `value at ${where()} decrypts to a comment`, {
              hints: [
                "only list items can hold encrypted comments; restore the file from version control",
              ],
            })
          }
        } else {
          throw new EncryptedValueError(
            where(),
            `value at ${where()} should be encrypted but is a clear ${leaf.kind}`,
            {
              hints: [
                "it was probably edited by hand; restore it from version control",
                "or decrypt with the original value restored, then edit the file with coffer",
              ],
            },
          )
        }
      }
      hasher.add(out, ctx.encrypted)
      return out
    },
    {
      isSequenceComment: (item) =>
        item.kind === "comment" ||
        (item.kind === "string" &&
          isEncryptedValue(item.value) &&
          encryptedValueType(item.value) === "comment"),
    },
  )

  if (options.ignoreMac === true) return plaintext
  if (metadata.mac === undefined || metadata.mac === "") {
    throw new MissingMacError("this file has no mac, so its integrity cannot be checked", {
      hints: [
        "it was written by a very old sops or edited by hand",
        "--ignore-mac decrypts anyway (every value is still authenticated on its own)",
      ],
    })
  }
  const stored = decryptMac(metadata.mac, dataKey, metadata.lastModified)
  if (!macsEqual(stored, hasher.digest())) {
    throw new MacMismatchError(
      "mac mismatch: every encrypted value is authentic, but unencrypted values or the structure (order, deleted or moved values) changed",
      {
        hints: [
          "compare the file with its version control history",
          "--ignore-mac decrypts anyway (every value is still authenticated on its own)",
        ],
      },
    )
  }
  return plaintext
}
