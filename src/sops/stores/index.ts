/**
 * The sops file stores (docs/formats/sops.md "The sops metadata",
 * "Writing each format", "Reading each format", "Commands"): pick one by format name or by path,
 * as sops does (`.yaml`/`.yml` YAML, `.json` JSON, `.env` dotenv, `.ini` INI, anything
 * else binary).
 */
import { UsageError } from "../../internal/errors.js"
import { BinaryStore } from "./binary.js"
import { DotenvStore } from "./dotenv.js"
import { IniStore } from "./ini.js"
import { JsonStore } from "./json.js"
import type { Store, StoreFormat, StoreOptions } from "./store.js"
import { YamlStore } from "./yaml.js"

export type { BytesStore, EncryptedFile, Store, StoreFormat, StoreOptions } from "./store.js"
export { decodeFileText, emitPlaintext, isBytesStore, parsePlaintext } from "./store.js"
export { BinaryStore, BINARY_DATA_KEY } from "./binary.js"
export { DotenvStore } from "./dotenv.js"
export { IniStore } from "./ini.js"
export { JsonStore, quoteGoJson } from "./json.js"
export { YamlStore, emitYamlDocuments } from "./yaml.js"
export { metadataFromNode, metadataToNode, isRfc3339, METADATA_KEY } from "./metadata-wire.js"
export { flattenMapping, unflattenEntries } from "./flatten.js"
export { formatGoFloatG, formatGoFloatF, scalarToText } from "./scalar-text.js"

const FORMATS: readonly StoreFormat[] = ["yaml", "json", "dotenv", "ini", "binary"]

/**
 * The store for a format name (`--input-type`/`--output-type`).
 * @param name yaml, json, dotenv, ini or binary
 * @param options file name for errors, indent
 * @returns the store
 * @throws UsageError for an unknown name
 */
export function storeForFormat(name: string, options: StoreOptions = {}): Store {
  switch (name) {
    case "yaml":
      return new YamlStore(options)
    case "json":
      return new JsonStore(options)
    case "dotenv":
      return new DotenvStore(options)
    case "ini":
      return new IniStore(options)
    case "binary":
      return new BinaryStore(options)
    default:
      throw new UsageError(`unknown file format ${JSON.stringify(name)}`, {
        hints: [`formats are ${FORMATS.join(", ")}`],
      })
  }
}

/**
 * The format sops infers from a path's suffix (case-sensitive, as sops compares them).
 * @param path a file path
 * @returns the format (binary when nothing else matches)
 */
export function formatForPath(path: string): StoreFormat {
  if (path.endsWith(".yaml") || path.endsWith(".yml")) return "yaml"
  if (path.endsWith(".json")) return "json"
  if (path.endsWith(".env")) return "dotenv"
  if (path.endsWith(".ini")) return "ini"
  return "binary"
}

/**
 * The store sops would use for a path; the path becomes the file name in parse errors.
 * @param path a file path
 * @param options indent, or another file name to show
 * @returns the store
 */
export function storeForPath(path: string, options: StoreOptions = {}): Store {
  return storeForFormat(formatForPath(path), { fileName: path, ...options })
}
