/**
 * Opening an existing sops file for a change and writing it back (sops-format.md §12
 * `edit`, `set`, `unset`): the data key is recovered once (keys found as sops finds them),
 * every value is decrypted with its IV recorded, and the changed document is encrypted
 * with the same data key and key groups, so values that did not change keep their exact
 * ciphertext and a git diff shows only what changed.
 */
import type { CliContext } from "./command.js"
import { flagIsSet, type ParsedFlags } from "./flags.js"
import { chooseInputStore, readInputFile } from "./sops-file.js"
import { recoverDataKey } from "./sops-keys.js"
import { wipeBytes } from "../internal/bytes.js"
import type { OpenedFile } from "../sops/index.js"
import { SOPS_VERSION, createIvStash, decryptDocument, reencryptFile } from "../sops/index.js"
import type { Document } from "../sops/tree.js"
import type { Store } from "../sops/stores/index.js"
import { isBytesStore } from "../sops/stores/store.js"

/**
 * Decrypts an encrypted file's text, keeping what re-encryption needs.
 * @param text the encrypted file
 * @param store its store
 * @param file the file's name for messages
 * @param ctx the command's environment (key discovery)
 * @param ignoreMac `--ignore-mac`
 * @returns the opened file: close it with `closeFile` (wipes the data key)
 * @throws StoreParseError, MetadataError, DataKeyError, the value and MAC errors
 */
export async function openSopsFile(
  text: string,
  store: Store,
  file: string,
  ctx: CliContext,
  ignoreMac = false,
): Promise<OpenedFile> {
  const { doc, metadata } = store.parseEncrypted(text)
  const dataKey = await recoverDataKey(metadata, ctx, file)
  const ivStash = createIvStash()
  try {
    const plaintext = decryptDocument(doc, metadata, dataKey, {
      ivStash,
      ignoreMac,
      // the binary store's data is any bytes, not necessarily UTF-8 text
      stringsAsBytes: isBytesStore(store),
      onWarning: (message) => {
        ctx.warn(`${file}: ${message}`)
      },
    })
    return { store, doc: plaintext, metadata, dataKey, ivStash }
  } catch (e) {
    wipeBytes(dataKey)
    throw e
  }
}

/**
 * Reads and opens a command's FILE as `openSopsFile` does, in the format of `--input-type`
 * (else FILE's suffix), checking the MAC unless `--ignore-mac`.
 * @param parsed the command's flags
 * @param file the file
 * @param ctx the command's environment
 * @returns the opened file: close it with `closeFile`
 * @throws UsageError, IoError, and as `openSopsFile`
 */
export async function openInputFile(
  parsed: ParsedFlags,
  file: string,
  ctx: CliContext,
): Promise<OpenedFile> {
  const store = chooseInputStore(parsed, file)
  const text = await readInputFile(file)
  return openSopsFile(text, store, file, ctx, flagIsSet(parsed, "ignoreMac"))
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
