/**
 * The sops binary store (sops-format.md §8.2): the whole file is one string under the key
 * `data` (additional data `data:`), written with the JSON store as
 * `{"data": "ENC[...]", "sops": {...}}`. Decrypting gives the raw text back.
 */
import { StoreEmitError } from "../errors.js"
import type { Metadata } from "../metadata.js"
import type { Document } from "../tree.js"
import { emitJsonBranch, onlyBranch, parseJsonObject, splitMetadata, withMetadata } from "./json.js"
import { scalarToText } from "./scalar-text.js"
import type { EncryptedFile, Store, StoreFormat, StoreOptions } from "./store.js"

/** The key holding the file's content. */
export const BINARY_DATA_KEY = "data"

/** The binary store. */
export class BinaryStore implements Store {
  readonly format: StoreFormat = "binary"
  readonly #options: StoreOptions

  /** @param options file name for errors, JSON indent (`stores.json_binary.indent`) */
  constructor(options: StoreOptions = {}) {
    this.#options = options
  }

  /** @returns `{data: text}` */
  parse(text: string): Document {
    return {
      branches: [
        {
          kind: "mapping",
          items: [{ kind: "entry", key: BINARY_DATA_KEY, value: { kind: "string", value: text } }],
        },
      ],
    }
  }

  /**
   * @returns the raw content of `data`
   * @throws StoreEmitError when there is no `data` string
   */
  emit(doc: Document): string {
    const branch = onlyBranch(doc, "binary")
    for (const item of branch.items) {
      if (item.kind !== "entry" || item.key !== BINARY_DATA_KEY) continue
      const value = item.value
      if (value.kind === "mapping" || value.kind === "sequence") break
      return scalarToText(value)
    }
    throw new StoreEmitError('no binary data found: the document has no "data" value', {
      hints: ["a binary sops file holds one string under the key data"],
    })
  }

  /** @throws StoreParseError, MetadataError */
  parseEncrypted(text: string): EncryptedFile {
    return splitMetadata(parseJsonObject(text, this.#options), this.#options)
  }

  /** @returns the JSON text */
  emitEncrypted(doc: Document, metadata: Metadata): string {
    return emitJsonBranch(withMetadata(onlyBranch(doc, "binary"), metadata), this.#options.indent)
  }
}
