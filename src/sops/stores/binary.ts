/**
 * The sops binary store (docs/formats/sops.md "Where the metadata goes"): the whole file is
 * one value under the key `data` (additional data `data:`), written with the JSON store as
 * `{"data": "ENC[...]", "sops": {...}}`. sops reads the file into a Go string, which holds
 * arbitrary bytes, so `data` is a `bytes` scalar here: it is encrypted as `type:str` with the
 * raw bytes as plaintext, and decrypting (with `stringsAsBytes`) gives those bytes back.
 */
import { StoreEmitError, StoreParseError } from "../errors.js"
import type { Metadata } from "../metadata.js"
import type { Document, Mapping, Scalar } from "../tree.js"
import {
  emitJsonBranch,
  noMetadata,
  onlyBranch,
  parseJsonObject,
  splitMetadata,
  withMetadata,
} from "./json.js"
import { scalarToText } from "./scalar-text.js"
import type { BytesStore, EncryptedFile, StoreFormat, StoreOptions } from "./store.js"

/** The key holding the file's content. */
export const BINARY_DATA_KEY = "data"

const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
const encoder = new TextEncoder()

function documentOf(value: Scalar): Document {
  const branch: Mapping = {
    kind: "mapping",
    items: [{ kind: "entry", key: BINARY_DATA_KEY, value }],
  }
  return { branches: [branch] }
}

/** The binary store. */
export class BinaryStore implements BytesStore {
  readonly format: StoreFormat = "binary"
  readonly #options: StoreOptions

  /** @param options file name for errors, JSON indent (`stores.json_binary.indent`) */
  constructor(options: StoreOptions = {}) {
    this.#options = options
  }

  /** @returns `{data: text}` (a string scalar; `parseBytes` keeps any bytes) */
  parse(text: string): Document {
    return documentOf({ kind: "string", value: text })
  }

  /** @returns `{data: bytes}`, the file's bytes as they are */
  parseBytes(bytes: Uint8Array): Document {
    return documentOf({ kind: "bytes", value: bytes })
  }

  /**
   * @returns the content of `data` as text
   * @throws StoreEmitError when there is no `data` value, or it is not UTF-8 (use `emitBytes`)
   */
  emit(doc: Document): string {
    const value = dataOf(doc)
    if (value.kind !== "bytes") return scalarToText(value)
    try {
      return strictDecoder.decode(value.value)
    } catch (cause) {
      throw new StoreEmitError("the binary data is not UTF-8 text, so it can't be shown as text", {
        cause,
        hints: ["write it as bytes (emitBytes), e.g. to a file with --output FILE"],
      })
    }
  }

  /**
   * @returns the exact bytes of `data` (a string's UTF-8)
   * @throws StoreEmitError when there is no `data` value
   */
  emitBytes(doc: Document): Uint8Array {
    const value = dataOf(doc)
    return value.kind === "bytes" ? value.value : encoder.encode(scalarToText(value))
  }

  /**
   * @throws StoreParseError ("no sops metadata found" for a file that is not a JSON object,
   *   as for a YAML file without a `sops` section), MetadataError
   */
  parseEncrypted(text: string): EncryptedFile {
    // an encrypted binary file is a JSON object: anything else is a plain file, not a
    // broken JSON one (`coffer decrypt notes.txt`)
    if (!/^\uFEFF?\s*\{/.test(text)) {
      const plain = noMetadata(this.#options)
      throw new StoreParseError(plain.message, {
        hints: [
          ...plain.hints,
          "a file whose suffix is not .yaml, .yml, .json, .env or .ini is read as a sops binary file (a JSON object); pass --input-type if it is another format",
        ],
      })
    }
    return splitMetadata(parseJsonObject(text, this.#options), this.#options)
  }

  /** @returns the JSON text */
  emitEncrypted(doc: Document, metadata: Metadata): string {
    return emitJsonBranch(withMetadata(onlyBranch(doc, "binary"), metadata), this.#options.indent)
  }
}

/** The scalar under `data`; sops's binary store emits only that. */
function dataOf(doc: Document): Scalar {
  const branch = onlyBranch(doc, "binary")
  for (const item of branch.items) {
    if (item.kind !== "entry" || item.key !== BINARY_DATA_KEY) continue
    const value = item.value
    if (value.kind === "mapping" || value.kind === "sequence") break
    return value
  }
  throw new StoreEmitError('no binary data found: the document has no "data" value', {
    hints: ["a binary sops file holds one string under the key data"],
  })
}
