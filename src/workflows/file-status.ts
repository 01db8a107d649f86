/**
 * Whether a file is a sops file (sops's `filestatus`; docs/formats/sops.md "Commands"): it loads as
 * one and its metadata has both a `version` and a MAC. Nothing is decrypted.
 */
import type { WorkflowIo } from "./io.js"
import { readInputFile } from "./sops-session.js"
import { DocumentLimitError } from "../sops/errors.js"
import type { Store } from "../sops/stores/index.js"

/**
 * @param file the file
 * @param store the format to read it in
 * @param io reading the file
 * @returns `{ encrypted }`, as sops prints it
 * @throws IoError when the file can't be read; DocumentLimitError for a hostile file (an
 *   alias bomb, deep nesting), which sops also reports as an error
 */
export async function sopsFileStatus(
  file: string,
  store: Store,
  io: Pick<WorkflowIo, "readFile">,
): Promise<{ readonly encrypted: boolean }> {
  const text = await readInputFile(io, file)
  let encrypted = false
  try {
    const { metadata } = store.parseEncrypted(text)
    // spec: encrypted when the metadata has both version and mac
    encrypted = metadata.version !== "" && metadata.mac !== undefined && metadata.mac !== ""
  } catch (error) {
    // a hostile file (an alias bomb, deep nesting) is an error, as sops reports it
    if (error instanceof DocumentLimitError) throw error
    encrypted = false
  }
  return { encrypted }
}
