/**
 * The `Store` contract every sops file format implements (docs/conventions.md "Documents
 * and stores", docs/formats/sops.md "Where the metadata goes", "Commands"): plaintext
 * `parse`/`emit` and the encrypted pair, which adds the `sops` metadata section in the
 * format's own layout. The concrete stores live beside this file;
 * `storeForPath`/`storeForFormat` (in `index.ts`) choose one as sops does.
 *
 * Text formats read and write text. The binary store's plaintext is any bytes (sops reads
 * a file into a Go string, which holds bytes, not text), so it also implements
 * `BytesStore`; `parsePlaintext`/`emitPlaintext` take and give bytes for every store.
 */
import type { Metadata } from "../metadata.js"
import type { Document } from "../tree.js"

/** A parsed encrypted file: the document (values still `ENC[...]`) and its metadata. */
export interface EncryptedFile {
  readonly doc: Document
  readonly metadata: Metadata
}

/** One sops file format. Stores are pure: text in, values out. */
export interface Store {
  /** The format's name as sops spells it (`yaml`, `json`, `dotenv`, `ini`, `binary`). */
  readonly format: StoreFormat
  /**
   * Parses a plaintext file.
   * @throws StoreParseError naming the file and line
   */
  parse(text: string): Document
  /**
   * Writes a plaintext document as sops does.
   * @throws StoreEmitError when the document does not fit the format
   */
  emit(doc: Document): string
  /**
   * Parses an encrypted file: the `sops` section becomes `metadata` and is removed from the
   * document.
   * @throws StoreParseError, MetadataError
   */
  parseEncrypted(text: string): EncryptedFile
  /**
   * Writes an encrypted document with its `sops` section in the sops 3.13 layout.
   * @throws StoreEmitError
   */
  emitEncrypted(doc: Document, metadata: Metadata): string
}

/**
 * A store whose plaintext is bytes, not text (the binary store, docs/formats/sops.md "Where
 * the metadata goes").
 */
export interface BytesStore extends Store {
  /** Parses a plaintext file of any bytes. */
  parseBytes(bytes: Uint8Array): Document
  /**
   * Writes a plaintext document as the file's exact bytes.
   * @throws StoreEmitError when the document does not fit the format
   */
  emitBytes(doc: Document): Uint8Array
}

/** @returns whether `store` reads and writes its plaintext as bytes */
export function isBytesStore(store: Store): store is BytesStore {
  return "parseBytes" in store && "emitBytes" in store
}

// Text stores decode as Node's `readFile(path, "utf8")` does: invalid sequences become
// U+FFFD and a byte order mark is kept.
const textDecoder = new TextDecoder("utf-8", { ignoreBOM: true })
const textEncoder = new TextEncoder()

/**
 * Decodes a text file's bytes (invalid UTF-8 becomes U+FFFD, a byte order mark is kept).
 * @param input the file's bytes, or text already
 * @returns the text
 */
export function decodeFileText(input: string | Uint8Array): string {
  return typeof input === "string" ? input : textDecoder.decode(input)
}

/**
 * Parses a plaintext file: the binary store takes the bytes as they are, text stores
 * decode them as UTF-8.
 * @param store the file's store
 * @param input the file's bytes (or its text)
 * @returns the document
 * @throws StoreParseError naming the file and line
 */
export function parsePlaintext(store: Store, input: string | Uint8Array): Document {
  if (isBytesStore(store)) {
    return store.parseBytes(typeof input === "string" ? textEncoder.encode(input) : input)
  }
  return store.parse(decodeFileText(input))
}

/**
 * Writes a plaintext document as bytes: the binary store's exact bytes, text stores' UTF-8.
 * @param store the output store
 * @param doc the plaintext document
 * @returns the file's bytes
 * @throws StoreEmitError when the document does not fit the format
 */
export function emitPlaintext(store: Store, doc: Document): Uint8Array {
  return isBytesStore(store) ? store.emitBytes(doc) : textEncoder.encode(store.emit(doc))
}

/** The formats sops knows (`--input-type`/`--output-type`). */
export type StoreFormat = "yaml" | "json" | "dotenv" | "ini" | "binary"

/** Options shared by the stores (from `.sops.yaml` `stores:` or `--indent`). */
export interface StoreOptions {
  /** File name shown in parse errors. */
  readonly fileName?: string
  /** YAML indent (default 4) or JSON indent (default -1: one tab). */
  readonly indent?: number
}

/**
 * The prefix for parse errors: `file "a.yaml" line 3: ` or `line 3: `.
 * @param options the store options (for the file name)
 * @param line 1-based line, or undefined when unknown
 * @returns the prefix
 */
export function wherePrefix(options: StoreOptions, line?: number): string {
  const file = options.fileName === undefined ? "" : `file ${JSON.stringify(options.fileName)} `
  const at = line === undefined ? "" : `line ${line}`
  const joined = `${file}${at}`.trim()
  return joined === "" ? "" : `${joined}: `
}
