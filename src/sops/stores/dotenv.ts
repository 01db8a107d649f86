/**
 * The sops dotenv store (docs/formats/sops.md "Comments", "Where the metadata goes",
 * "Writing dotenv", "Reading dotenv", `stores/dotenv/`).
 *
 * One `KEY=value` per line, split at the first `=` with no trimming and no quote or
 * `export` handling; `#` at the start of a line is a comment; the two characters `\n` in a
 * value stand for a newline. Encrypted files carry the flattened metadata as `sops_…` lines
 * after the data, sorted as sops 3.13 writes them.
 */
import { StoreEmitError, StoreParseError } from "../errors.js"
import type { Metadata } from "../metadata.js"
import type { Comment, Document, Entry, Mapping } from "../tree.js"
import { flattenMapping, unflattenEntries } from "./flatten.js"
import { noMetadata, onlyBranch } from "./json.js"
import { metadataFromNode, metadataToNode } from "./metadata-wire.js"
import { scalarToText } from "./scalar-text.js"
import type { EncryptedFile, Store, StoreFormat, StoreOptions } from "./store.js"
import { wherePrefix } from "./store.js"

const METADATA_PREFIX = "sops_"

/** The dotenv store. */
export class DotenvStore implements Store {
  readonly format: StoreFormat = "dotenv"
  readonly #options: StoreOptions

  /** @param options file name for errors */
  constructor(options: StoreOptions = {}) {
    this.#options = options
  }

  /**
   * @throws StoreParseError for a line without `=`
   */
  parse(text: string): Document {
    return { branches: [{ kind: "mapping", items: this.#lines(text) }] }
  }

  /**
   * @throws StoreEmitError for nested values or keys that cannot be written
   */
  emit(doc: Document): string {
    return emitItems(onlyBranch(doc, "dotenv"))
  }

  /** @throws StoreParseError, MetadataError */
  parseEncrypted(text: string): EncryptedFile {
    const items: (Entry | Comment)[] = []
    const flat: (readonly [string, string])[] = []
    for (const item of this.#lines(text)) {
      if (item.kind === "entry" && item.key.startsWith(METADATA_PREFIX)) {
        flat.push([
          item.key.slice(METADATA_PREFIX.length),
          item.value.kind === "string" ? item.value.value : "",
        ])
      } else items.push(item)
    }
    if (flat.length === 0) throw noMetadata(this.#options)
    return {
      doc: { branches: [{ kind: "mapping", items }] },
      metadata: metadataFromNode(unflattenEntries(flat)),
    }
  }

  /** @throws StoreEmitError */
  emitEncrypted(doc: Document, metadata: Metadata): string {
    const branch = onlyBranch(doc, "dotenv")
    for (const item of branch.items) {
      if (item.kind === "entry" && item.key.startsWith(METADATA_PREFIX)) {
        throw new StoreEmitError(
          `dotenv key ${JSON.stringify(item.key)} starts with "sops_", which sops reserves for its metadata`,
          {
            hints: ["rename the key"],
          },
        )
      }
    }
    const lines = flattenMapping(metadataToNode(metadata)).map((flat): Entry => ({
      kind: "entry",
      key: METADATA_PREFIX + flat.key,
      value: { kind: "string", value: scalarToText(flat.value) },
    }))
    return emitItems({ kind: "mapping", items: [...branch.items, ...lines] })
  }

  #lines(text: string): (Entry | Comment)[] {
    const items: (Entry | Comment)[] = []
    text.split("\n").forEach((line, index) => {
      if (line === "") return
      if (line.startsWith("#")) {
        items.push({ kind: "comment", text: line.slice(1) })
        return
      }
      const at = line.indexOf("=")
      if (at < 0) {
        throw new StoreParseError(
          `${wherePrefix(this.#options, index + 1)}invalid dotenv line: no "=" found`,
          {
            hints: ["each line must be KEY=value or a # comment"],
          },
        )
      }
      items.push({
        kind: "entry",
        key: line.slice(0, at),
        value: { kind: "string", value: line.slice(at + 1).replaceAll("\\n", "\n") },
      })
    })
    return items
  }
}

function emitItems(branch: Mapping): string {
  let out = ""
  for (const item of branch.items) {
    if (item.kind === "comment") {
      if (item.text.includes("\n"))
        throw new StoreEmitError("a dotenv comment cannot span several lines")
      out += `#${item.text}\n`
      continue
    }
    const { key, value } = item
    if (
      key.includes("=") ||
      key.includes("\n") ||
      key.startsWith("#") ||
      (key === "" && value.kind === "null")
    ) {
      throw new StoreEmitError(`dotenv key ${JSON.stringify(key)} cannot be written`, {
        hints: ['dotenv keys cannot contain "=" or line breaks, nor start with "#"'],
      })
    }
    if (value.kind === "mapping" || value.kind === "sequence") {
      throw new StoreEmitError(
        `dotenv value ${JSON.stringify(key)} is a ${value.kind === "mapping" ? "mapping" : "list"}`,
        {
          hints: ["dotenv files hold only flat KEY=value pairs"],
        },
      )
    }
    const text =
      value.kind === "string"
        ? value.value.replaceAll("\n", "\\n")
        : scalarToText(value).replaceAll("\n", "\\n")
    out += `${key}=${text}\n`
  }
  return out
}
