/**
 * Encrypting a plaintext file as a new sops file (sops's `encrypt`; docs/formats/sops.md
 * "Which values are encrypted", "Data key and master keys", "Commands"): a new data key
 * wrapped for the chosen keys (`creation-rule.ts` decides them from the command line or
 * `.sops.yaml`), the values the selector picks encrypted with fresh IVs. A file that
 * already is a sops file, or whose plaintext has a top-level `sops` key, is refused.
 */
import { randomBytes } from "node:crypto"
import { wrapForNewFile, type NewFileKeys } from "./creation-rule.js"
import type { WorkflowIo } from "./io.js"
import { readInputBytes } from "./sops-session.js"
import { ToolError } from "../internal/errors.js"
import { encryptDocument } from "../sops/encrypt.js"
import { SOPS_VERSION } from "../sops/index.js"
import type { Metadata, ValueSelector } from "../sops/metadata.js"
import type { Document } from "../sops/tree.js"
import type { Store } from "../sops/stores/index.js"
import { METADATA_KEY, decodeFileText, parsePlaintext } from "../sops/stores/index.js"

/** The file is already a sops file (sops exit code 203, "File already encrypted"). */
export class AlreadyEncryptedError extends ToolError {}

/** What to encrypt and how. */
export interface EncryptRequest {
  /** The plaintext file. */
  readonly file: string
  /** Its format. */
  readonly input: Store
  /** The encrypted file's format (often the same store). */
  readonly output: Store
  /** The keys, from `newFileKeys`. */
  readonly keys: NewFileKeys
  /** Which values to encrypt (undefined for binary files). */
  readonly selector: ValueSelector | undefined
  /** The MAC covers only encrypted values. */
  readonly macOnlyEncrypted: boolean
}

/**
 * Encrypts a plaintext file.
 * @param request the file, its stores, keys and selector
 * @param io reading the file and gpg (for PGP keys)
 * @returns the encrypted file's text
 * @throws IoError, AlreadyEncryptedError, StoreParseError; MasterKeyError, ShamirError,
 *   RecipientParseError, PgpError when the data key can't be wrapped
 */
export async function encryptSopsFile(
  request: EncryptRequest,
  io: Pick<WorkflowIo, "readFile" | "gpg">,
): Promise<string> {
  const { file, input, output } = request
  // bytes as they are: a binary file may hold anything (docs/formats/sops.md "Where the
  // metadata goes")
  const content = await readInputBytes(io, file)
  // text formats: a top-level sops key (refuseMetadataKey) is what makes a file encrypted;
  // a binary file has no keys, so it is refused when it parses as an encrypted JSON file
  if (input.format === "binary") refuseEncrypted(decodeFileText(content), file, input)
  const doc = parsePlaintext(input, content)
  refuseMetadataKey(doc, file, input)

  const dataKey = new Uint8Array(randomBytes(32))
  try {
    const wrapped = await wrapForNewFile(dataKey, request.keys, io)
    const metadata: Metadata = {
      keyGroups: wrapped.keyGroups,
      shamirThreshold: wrapped.shamirThreshold,
      lastModified: "",
      mac: undefined,
      selector: request.selector,
      macOnlyEncrypted: request.macOnlyEncrypted,
      version: SOPS_VERSION,
    }
    const encrypted = encryptDocument(doc, { dataKey, metadata })
    return output.emitEncrypted(encrypted.doc, encrypted.metadata)
  } finally {
    dataKey.fill(0)
  }
}

/** Refuses a file that already parses as a sops file. */
function refuseEncrypted(text: string, file: string, store: Store): void {
  let encrypted = false
  try {
    store.parseEncrypted(text)
    encrypted = true
  } catch {
    // not a sops file: good
  }
  if (encrypted) throw alreadyEncrypted(file)
}

/**
 * Refuses a plaintext whose first document has a top-level `sops` key (sops's
 * ensureNoMetadata).
 */
function refuseMetadataKey(doc: Document, file: string, store: Store): void {
  const branch = doc.branches[0]
  if (branch === undefined || store.format === "binary") return
  const reserved = (key: string): boolean =>
    store.format === "dotenv" ? key.startsWith("sops_") : key === METADATA_KEY
  if (branch.items.some((item) => item.kind === "entry" && reserved(item.key)))
    throw alreadyEncrypted(file)
}

function alreadyEncrypted(file: string): AlreadyEncryptedError {
  return new AlreadyEncryptedError(
    `${JSON.stringify(file)} is already encrypted (it has a sops section)`,
    {
      hints: [
        `decrypt it first: coffer decrypt -i ${file}`,
        "a plaintext file may not have a top-level key named sops",
      ],
    },
  )
}
