/**
 * Opening an existing sops file for a change and writing it back (docs/formats/sops.md "Commands"
 * `edit`, `set`, `unset`): the data key is recovered once (keys found as sops finds them),
 * every value is decrypted with its IV recorded, and the changed document is encrypted
 * with the same data key and key groups, so values that did not change keep their exact
 * ciphertext and a git diff shows only what changed.
 */
import { getHeapStatistics } from "node:v8"
import { recoverDataKey } from "./data-key-recovery.js"
import type { WorkflowIo } from "./io.js"
import { wipeBytes } from "../internal/bytes.js"
import { IoError } from "../internal/errors.js"
import { DocumentLimitError } from "../sops/errors.js"
import { describeSystemError } from "../system/system-error.js"
import type { OpenedFile } from "../sops/index.js"
import { SOPS_VERSION, createIvStash, decryptDocument, reencryptFile } from "../sops/index.js"
import type { Document } from "../sops/tree.js"
import type { Store } from "../sops/stores/index.js"
import { decodeFileText, isBytesStore } from "../sops/stores/store.js"

/** An existing sops file a workflow opens. */
export interface SopsTarget {
  /** The sops file. */
  readonly file: string
  /** Its format. */
  readonly store: Store
  /** Open it even if its MAC does not match (`--ignore-mac`). */
  readonly ignoreMac?: boolean
}

/**
 * Decrypts an encrypted file's text, keeping what re-encryption needs.
 * @param text the encrypted file
 * @param store its store
 * @param file the file's name for messages
 * @param io key discovery, gpg and warnings
 * @param ignoreMac `--ignore-mac`
 * @returns the opened file: close it with `closeFile` (wipes the data key)
 * @throws StoreParseError, MetadataError, DataKeyError, the value and MAC errors
 */
export async function openSopsFile(
  text: string,
  store: Store,
  file: string,
  io: Pick<WorkflowIo, "env" | "discovery" | "gpg" | "warn">,
  ignoreMac = false,
): Promise<OpenedFile> {
  const { doc, metadata } = store.parseEncrypted(text)
  const dataKey = await recoverDataKey(metadata, io, file)
  const ivStash = createIvStash()
  try {
    const plaintext = decryptDocument(doc, metadata, dataKey, {
      ivStash,
      ignoreMac,
      // the binary store's data is any bytes, not necessarily UTF-8 text
      stringsAsBytes: isBytesStore(store),
      onWarning: (message) => {
        io.warn(`${file}: ${message}`)
      },
    })
    return { store, doc: plaintext, metadata, dataKey, ivStash }
  } catch (e) {
    wipeBytes(dataKey)
    throw e
  }
}

/**
 * Reads a sops file (or a plaintext to encrypt) as text.
 * @throws IoError naming the file
 */
export async function readInputFile(
  io: Pick<WorkflowIo, "readFile">,
  path: string,
): Promise<string> {
  return decodeFileText(await readInputBytes(io, path))
}

/**
 * The largest sops document (or plaintext to encrypt) coffer reads: 1/96 of the heap Node
 * may use (43 MiB with the default 4 GiB heap). Parsing, the tree, the encrypted values
 * and the emitted text take about 70 bytes of memory per byte of a YAML file, so a larger
 * file would end in Node's fatal out-of-memory abort instead of an error
 * (docs/documents.md "Size").
 */
export function maxDocumentBytes(): number {
  return Math.floor(getHeapStatistics().heap_size_limit / 96)
}

/**
 * Reads a file's exact bytes (a binary file may hold anything, docs/formats/sops.md "Where
 * the metadata goes").
 * @throws IoError naming the file; DocumentLimitError when it is larger than
 *   `maxDocumentBytes()`
 */
export async function readInputBytes(
  io: Pick<WorkflowIo, "readFile">,
  path: string,
): Promise<Uint8Array> {
  let bytes: Uint8Array
  try {
    bytes = await io.readFile(path)
  } catch (cause) {
    throw new IoError(`can't read ${JSON.stringify(path)}: ${describeSystemError(cause)}`, {
      cause,
    })
  }
  const limit = maxDocumentBytes()
  if (bytes.length > limit) {
    throw new DocumentLimitError(
      `${JSON.stringify(path)} is ${mebibytes(bytes.length)}, larger than the ${mebibytes(limit)} coffer reads as a sops document with the memory Node may use`,
      {
        hints: [
          "give Node more memory: NODE_OPTIONS=--max-old-space-size=MIB (the limit is 1/96 of it)",
          "a large file is better kept as an age file (coffer age -e), which streams",
        ],
      },
    )
  }
  return bytes
}

function mebibytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`
}

/** Whether dotted version `a` is newer than `b` (numeric parts; anything unparsable is older). */
function isNewer(a: string, b: string): boolean {
  const parts = (v: string): number[] => v.split(/[.-]/).map((p) => Number.parseInt(p, 10) || 0)
  const pa = parts(a)
  const pb = parts(b)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0
    const y = pb[i] ?? 0
    if (x !== y) return x > y
  }
  return false
}

/**
 * Re-encrypts an edited document: same data key, unchanged values keep their ciphertext,
 * `lastmodified` and the MAC renewed, `version` raised to coffer's when the file's is older
 * (as sops does on edit).
 * @returns the encrypted file's text
 */
export function writeSopsFile(opened: OpenedFile, doc: Document): string {
  const version = isNewer(SOPS_VERSION, opened.metadata.version) ? SOPS_VERSION : undefined
  return reencryptFile(opened, doc, {}, version)
}
