/**
 * The `Store` contract every sops file format implements (STYLE.md "Documents and stores",
 * sops-format.md §8.2, §12): plaintext `parse`/`emit` and the encrypted pair, which adds
 * the `sops` metadata section in the format's own layout. The concrete stores live beside
 * this file; `storeForPath`/`storeForFormat` (in `index.ts`) choose one as sops does.
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
   * Parses an encrypted file: the `sops` section becomes `metadata` and is removed from the document.
   * @throws StoreParseError, MetadataError
   */
  parseEncrypted(text: string): EncryptedFile
  /**
   * Writes an encrypted document with its `sops` section in the sops 3.13 layout.
   * @throws StoreEmitError
   */
  emitEncrypted(doc: Document, metadata: Metadata): string
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
