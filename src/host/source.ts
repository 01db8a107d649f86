/**
 * One source file of an install, opened once for every secret that reads it
 * (docs/host/sops-nix-manifest.md "The install, step by step" step 6, "Checks at build
 * time"; docs/manifest.md): a sops file decrypted (or, in `--check-mode=sopsfile`,
 * only parsed) and each secret's value taken out at its key, or an agenix-style age file
 * decrypted whole. `source-pool.ts` runs this on a worker thread per file, so that one
 * hostile or huge file fails alone (issue 18 item 1).
 */
import { decrypt as decryptAge } from "../age/decrypt.js"
import type { Identity } from "../age/recipient.js"
import { ToolError } from "../internal/errors.js"
import type { PgpPort } from "../sops/master-keys.js"
import { closeFile, openEncryptedFile } from "../sops/index.js"
import { scalarToText, storeForFormat } from "../sops/stores/index.js"
import type { Store } from "../sops/stores/store.js"
import { emitPlaintext } from "../sops/stores/store.js"
import type { Document, Mapping, Node } from "../sops/tree.js"
import { SecretSourceError } from "./errors.js"
import type { SecretFormat } from "./manifest.js"
import type { Outcome } from "./plan.js"

/** One source file, and the secrets that read it. */
export interface SourceRequest {
  readonly path: string
  readonly format: SecretFormat
  /** `decrypt` (install) or `check` (`--check-mode=sopsfile`: parse, look up keys). */
  readonly mode: "decrypt" | "check"
  /** Each secret's name and key (`""`: the whole file). */
  readonly secrets: readonly { readonly name: string; readonly key: string }[]
}

/** What became of one secret of a source. */
export interface SecretValue {
  readonly name: string
  /** The value (empty in check mode), or why there is none (a missing key, named). */
  readonly outcome: Outcome<Uint8Array>
}

/** What became of a source: why the whole file failed, or each of its secrets. */
export type SourceResult =
  | { readonly ok: false; readonly reason: string }
  | { readonly ok: true; readonly values: readonly SecretValue[] }

/** The keys a source is opened with. */
export interface SourceKeys {
  readonly identities: readonly Identity[]
  readonly pgp: PgpPort | undefined
}

/** A decrypted source file: a sops document with its store, or the bytes of an age file. */
type DecryptedSource =
  | { readonly kind: "sops"; readonly store: Store; readonly doc: Document }
  | { readonly kind: "age"; readonly bytes: Uint8Array }

/**
 * Why an error happened, in one line without secrets.
 * @returns the message (with the errno code for system errors)
 */
export function reasonOf(e: unknown): string {
  if (e instanceof ToolError) return e.message
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code
    return code === undefined ? e.message : `${code.toLowerCase()}: ${e.message}`
  }
  return String(e)
}

/**
 * Opens one source file and takes out every secret it feeds.
 * @param request the file, its format and its secrets
 * @param bytes the file's bytes
 * @param keys the host's identities and PGP access (unused in check mode)
 * @returns each secret's value, or why the file failed as a whole
 */
export async function openSource(
  request: SourceRequest,
  bytes: Uint8Array,
  keys: SourceKeys,
): Promise<SourceResult> {
  if (request.mode === "check") return checkSource(request, bytes)
  let source: DecryptedSource
  try {
    if (request.format === "age") {
      source = { kind: "age", bytes: await decryptAge(bytes, keys.identities) }
    } else {
      // The bytes as they are: a binary sops file's data may be any bytes (not UTF-8).
      const file = await openEncryptedFile(
        bytes,
        request.format,
        keys.pgp === undefined
          ? { identities: keys.identities }
          : { identities: keys.identities, pgp: keys.pgp },
      )
      source = { kind: "sops", store: file.store, doc: file.doc }
      closeFile(file)
    }
  } catch (e) {
    return { ok: false, reason: reasonOf(e) }
  }
  return {
    ok: true,
    values: request.secrets.map(({ name, key }) => ({
      name,
      outcome: extractValue(request.format, key, source),
    })),
  }
}

/**
 * `--check-mode=sopsfile` (docs/host/sops-nix-manifest.md "Checks at build time") for one file: parsed as ciphertext, every key
 * looked up in its (plaintext) key structure. No decryption. An age file only has to be
 * there (it was read).
 */
function checkSource(request: SourceRequest, bytes: Uint8Array): SourceResult {
  const empty = new Uint8Array(0)
  if (request.format === "age") {
    return {
      ok: true,
      values: request.secrets.map(({ name }) => ({ name, outcome: { ok: true, value: empty } })),
    }
  }
  let doc: Document
  try {
    const text = Buffer.from(bytes).toString("utf8")
    doc = storeForFormat(request.format).parseEncrypted(text).doc
  } catch (e) {
    return { ok: false, reason: reasonOf(e) }
  }
  return {
    ok: true,
    values: request.secrets.map(({ name, key }) => {
      if (key === "" || (request.format !== "yaml" && request.format !== "json")) {
        return { name, outcome: { ok: true, value: empty } }
      }
      const found = findKey(doc, key)
      return { name, outcome: found.ok ? { ok: true, value: empty } : found }
    }),
  }
}

/**
 * The bytes of one secret from its decrypted file (step 6 of the install): the whole file for
 * an empty key and for binary, dotenv, ini and age; otherwise the value at the
 * `/`-separated key. Unlike sops-nix, a non-string value is not refused: numbers and
 * booleans are written as text, mappings in the file's format, lists as JSON.
 */
function extractValue(
  format: SecretFormat,
  key: string,
  source: DecryptedSource,
): Outcome<Uint8Array> {
  if (source.kind === "age") return { ok: true, value: source.bytes }
  if (key === "" || (format !== "yaml" && format !== "json")) {
    return { ok: true, value: emitPlaintext(source.store, source.doc) }
  }
  const found = findKey(source.doc, key)
  if (!found.ok) return { ok: false, reason: found.reason }
  const node = found.value
  switch (node.kind) {
    case "mapping":
      return {
        ok: true,
        value: new Uint8Array(Buffer.from(source.store.emit({ branches: [node] }), "utf8")),
      }
    case "sequence":
      return { ok: true, value: new Uint8Array(Buffer.from(JSON.stringify(toJson(node)), "utf8")) }
    case "bytes":
      return { ok: true, value: node.value }
    default:
      return { ok: true, value: new Uint8Array(Buffer.from(scalarToText(node), "utf8")) }
  }
}

/**
 * Walks a `/`-separated key through the first document's mappings.
 * @returns the node, or why the key is not there (naming the key and the file's level)
 */
function findKey(doc: Document, key: string): Outcome<Node> {
  let node: Node | undefined = doc.branches[0]
  const walked: string[] = []
  for (const part of key.split("/")) {
    if (node?.kind !== "mapping") {
      return {
        ok: false,
        reason: new SecretSourceError(`key "${key}": "${walked.join("/")}" is not a mapping`)
          .message,
      }
    }
    const mapping: Mapping = node
    const entry = mapping.items.find((i) => i.kind === "entry" && i.key === part)
    walked.push(part)
    if (entry?.kind !== "entry") {
      return {
        ok: false,
        reason: new SecretSourceError(`the key "${key}" cannot be found`).message,
      }
    }
    node = entry.value
  }
  return node === undefined
    ? { ok: false, reason: `the key "${key}" cannot be found` }
    : { ok: true, value: node }
}

type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }

function toJson(node: Node): JsonValue {
  switch (node.kind) {
    case "mapping": {
      const out: Record<string, JsonValue> = {}
      for (const item of node.items) if (item.kind === "entry") out[item.key] = toJson(item.value)
      return out
    }
    case "sequence":
      return node.items.flatMap((i) => (i.kind === "comment" ? [] : [toJson(i)]))
    case "null":
      return null
    case "bool":
      return node.value
    case "float":
      return node.value
    default:
      return scalarToText(node)
  }
}
