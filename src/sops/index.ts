/**
 * The public sops API: the document crypto (`encrypt.ts`), the data key and master keys
 * (`data-key.ts`, `master-keys.ts`), the MAC and value cipher, and file-level helpers that
 * compose a store with them (docs/formats/sops.md "Commands": encrypt, decrypt, and the
 * decrypt/edit/ re-encrypt cycle that keeps the data key and unchanged ciphertext).
 */
import type { Clock, Entropy } from "../internal/entropy.js"
import { systemClock, systemEntropy } from "../internal/entropy.js"
import { wipeBytes } from "../internal/bytes.js"
import type { Metadata, ValueSelector } from "./metadata.js"
import type { Document } from "./tree.js"
import type { Store, StoreFormat } from "./stores/store.js"
import { decodeFileText, emitPlaintext, isBytesStore, parsePlaintext } from "./stores/store.js"
import { storeForFormat } from "./stores/index.js"
import { decryptDocument, encryptDocument } from "./encrypt.js"
import type { KeyGroupRecipients, UnwrapKeys } from "./data-key.js"
import { generateDataKey, unwrapDataKey, wrapDataKey } from "./data-key.js"
import type { PgpPort } from "./master-keys.js"
import type { IvStash } from "./value-cipher.js"
import { createIvStash } from "./value-cipher.js"
import { DEFAULT_UNENCRYPTED_SUFFIX } from "./walk.js"

export type * from "./tree.js"
export type * from "./metadata.js"
export * from "./errors.js"
export {
  createIvStash,
  decryptValue,
  encryptValue,
  formatGoFloat,
  isEncryptedValue,
  parseEncryptedValue,
  plaintextBytes,
} from "./value-cipher.js"
export type { IvStash, Plaintext, ValueType } from "./value-cipher.js"
export {
  additionalDataOf,
  compileSelector,
  formatLocation,
  mapLeaves,
  DEFAULT_UNENCRYPTED_SUFFIX,
} from "./walk.js"
export type { LeafContext, PathStep } from "./walk.js"
export { computeMac, decryptMac, encryptMac, formatLastModified, macAdditionalData } from "./mac.js"
export { decryptDocument, encryptDocument } from "./encrypt.js"
export type {
  DecryptOptions,
  EncryptEnvironment,
  EncryptSettings,
  EncryptedDocument,
} from "./encrypt.js"
export { DATA_KEY_LENGTH, generateDataKey, unwrapDataKey, wrapDataKey } from "./data-key.js"
export type {
  KeyGroupRecipients,
  UnwrapKeys,
  UnwrapOptions,
  WrapOptions,
  WrappedDataKey,
} from "./data-key.js"
export {
  decryptAgeMasterKey,
  encryptAgeMasterKey,
  decryptPgpMasterKey,
  encryptPgpMasterKey,
} from "./master-keys.js"
export type { PgpPort } from "./master-keys.js"
export { combineShares, splitSecret } from "./shamir.js"

/** The sops version coffer's output is compatible with, written as `version` in new files. */
export const SOPS_VERSION = "3.13.2"

/** Options for opening an encrypted file. */
export interface OpenOptions {
  /** Skip the MAC check (`--ignore-mac`). */
  readonly ignoreMac?: boolean
  /** Master key types to try first (`SOPS_DECRYPTION_ORDER`). */
  readonly decryptionOrder?: readonly ("age" | "pgp")[]
  /** Receives warnings (comments that were not encrypted). */
  readonly onWarning?: (message: string) => void
}

/** A decrypted file, ready to be edited and re-encrypted with `reencryptFile`. */
export interface OpenedFile {
  readonly store: Store
  /** The plaintext document. */
  readonly doc: Document
  readonly metadata: Metadata
  /** The data key (secret: wipe it with `closeFile` when done). */
  readonly dataKey: Uint8Array
  /** IVs of every value, so unchanged values keep their ciphertext. */
  readonly ivStash: IvStash
}

function toStore(format: StoreFormat | Store): Store {
  return typeof format === "string" ? storeForFormat(format) : format
}

/**
 * Parses, unwraps the data key (once) and decrypts an encrypted file.
 * @param input the encrypted file (its bytes or its text)
 * @param format its format, or a configured store
 * @param keys age identities and the PGP port
 * @param options MAC check, decryption order, warnings
 * @returns the plaintext document with its metadata, data key and IV stash; for the binary
 *   store, `data` is a `bytes` scalar holding the file's exact bytes
 * @throws StoreParseError, MetadataError from the store; DataKeyError; the value and MAC
 *   errors of `decryptDocument`
 */
export async function openEncryptedFile(
  input: string | Uint8Array,
  format: StoreFormat | Store,
  keys: UnwrapKeys,
  options: OpenOptions = {},
): Promise<OpenedFile> {
  const store = toStore(format)
  const { doc, metadata } = store.parseEncrypted(decodeFileText(input))
  const dataKey = await unwrapDataKey(
    metadata,
    keys,
    options.decryptionOrder === undefined ? {} : { decryptionOrder: options.decryptionOrder },
  )
  const ivStash = createIvStash()
  try {
    const plaintext = decryptDocument(doc, metadata, dataKey, {
      ivStash,
      stringsAsBytes: isBytesStore(store),
      ...(options.ignoreMac === undefined ? {} : { ignoreMac: options.ignoreMac }),
      ...(options.onWarning === undefined ? {} : { onWarning: options.onWarning }),
    })
    return { store, doc: plaintext, metadata, dataKey, ivStash }
  } catch (error) {
    wipeBytes(dataKey)
    throw error
  }
}

/** Wipes the data key of an opened file. */
export function closeFile(file: OpenedFile): void {
  wipeBytes(file.dataKey)
  file.ivStash.ivs.clear()
}

/**
 * Decrypts an encrypted file to its plaintext (`sops decrypt`).
 * @param input the encrypted file (its bytes or its text)
 * @param format its format, or a configured store
 * @param keys age identities and the PGP port
 * @param options MAC check, decryption order, warnings
 * @returns the plaintext in the same format: the exact bytes for the binary store, text
 *   for the others
 * @throws as `openEncryptedFile`
 */
export async function decryptFile(
  input: string | Uint8Array,
  format: "binary",
  keys: UnwrapKeys,
  options?: OpenOptions,
): Promise<Uint8Array>
export async function decryptFile(
  input: string | Uint8Array,
  format: Exclude<StoreFormat, "binary">,
  keys: UnwrapKeys,
  options?: OpenOptions,
): Promise<string>
export async function decryptFile(
  input: string | Uint8Array,
  format: StoreFormat | Store,
  keys: UnwrapKeys,
  options?: OpenOptions,
): Promise<string | Uint8Array>
export async function decryptFile(
  input: string | Uint8Array,
  format: StoreFormat | Store,
  keys: UnwrapKeys,
  options: OpenOptions = {},
): Promise<string | Uint8Array> {
  const file = await openEncryptedFile(input, format, keys, options)
  try {
    return isBytesStore(file.store)
      ? emitPlaintext(file.store, file.doc)
      : file.store.emit(file.doc)
  } finally {
    closeFile(file)
  }
}

/** How to encrypt a new file (from a creation rule or the command line). */
export interface NewFileSettings {
  /** The key groups; one group is the usual case. */
  readonly keyGroups: readonly KeyGroupRecipients[]
  /** `shamir_threshold` for several groups (0 or absent: all groups). */
  readonly shamirThreshold?: number
  /** Which values to encrypt; absent: `unencrypted_suffix: _unencrypted` (not for binary files). */
  readonly selector?: ValueSelector
  readonly macOnlyEncrypted?: boolean
  /** Needed for PGP keys. */
  readonly pgp?: PgpPort
  /** The `version` to write (default `SOPS_VERSION`). */
  readonly version?: string
}

/** Randomness and time for writing files. */
export interface FileEnvironment {
  readonly entropy?: Entropy
  readonly clock?: Clock
}

/**
 * Encrypts a plaintext file with a new data key (`sops encrypt`).
 * @param input the plaintext file: its bytes (any bytes for the binary store) or its text
 * @param format its format, or a configured store
 * @param settings key groups, threshold, selector
 * @param env entropy and clock
 * @returns the encrypted file text (JSON for the binary store)
 * @throws StoreParseError; MasterKeyError, ShamirError, RecipientParseError; SelectorError
 */
export async function encryptFile(
  input: string | Uint8Array,
  format: StoreFormat | Store,
  settings: NewFileSettings,
  env: FileEnvironment = {},
): Promise<string> {
  const store = toStore(format)
  const entropy = env.entropy ?? systemEntropy
  const clock = env.clock ?? systemClock
  const doc = parsePlaintext(store, input)
  const dataKey = generateDataKey(entropy)
  try {
    const wrapped = await wrapDataKey(dataKey, settings.keyGroups, {
      entropy,
      clock,
      ...(settings.shamirThreshold === undefined ? {} : { threshold: settings.shamirThreshold }),
      ...(settings.pgp === undefined ? {} : { pgp: settings.pgp }),
    })
    // spec: binary files ignore and do not write selectors; others default to _unencrypted
    const selector: ValueSelector | undefined =
      store.format === "binary"
        ? undefined
        : (settings.selector ?? { kind: "unencrypted_suffix", value: DEFAULT_UNENCRYPTED_SUFFIX })
    const metadata: Metadata = {
      keyGroups: wrapped.keyGroups,
      shamirThreshold: wrapped.shamirThreshold,
      lastModified: "",
      mac: undefined,
      selector,
      macOnlyEncrypted: settings.macOnlyEncrypted ?? false,
      version: settings.version ?? SOPS_VERSION,
    }
    const encrypted = encryptDocument(doc, { dataKey, metadata }, { entropy, clock })
    return store.emitEncrypted(encrypted.doc, encrypted.metadata)
  } finally {
    wipeBytes(dataKey)
  }
}

/**
 * Re-encrypts an edited document of an opened file with the same data key and key groups
 * (`sops edit`/`set`/`unset`): unchanged values keep their ciphertext, `lastmodified` and
 * the MAC are renewed.
 * @param file the file from `openEncryptedFile`
 * @param doc the edited plaintext document
 * @param env entropy and clock
 * @param version the `version` to write (default: keep the file's)
 * @returns the encrypted file text
 */
export function reencryptFile(
  file: OpenedFile,
  doc: Document,
  env: FileEnvironment = {},
  version?: string,
): string {
  const metadata = version === undefined ? file.metadata : { ...file.metadata, version }
  const encrypted = encryptDocument(
    doc,
    { dataKey: file.dataKey, metadata, ivStash: file.ivStash },
    env,
  )
  return file.store.emitEncrypted(encrypted.doc, encrypted.metadata)
}
