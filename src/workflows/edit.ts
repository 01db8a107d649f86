/**
 * Editing a sops file as plaintext (sops's edit mode; docs/formats/sops.md "Commands";
 * docs/goals.md "Capabilities" "Editing is safe"). An existing file is decrypted into a
 * 0600 file in a private 0700 directory (`io.createPrivateTempDir`, on a RAM-backed file
 * system where there is one), the editor runs on it, and the result is encrypted again with
 * the same data key, so values that did not change keep their ciphertext. A file that does
 * not exist starts from an example document and is encrypted to its creation rule's keys
 * (or explicit ones).
 *
 * The private directory is removed on every exit path; an editor that fails changes
 * nothing; no change means no rewrite; content that does not parse is offered back to the
 * editor when someone can be asked (`onInvalidEdit`), and otherwise fails, leaving the
 * original as it was (the edit is discarded rather than kept on disk in plaintext); the
 * file is replaced atomically with its mode kept.
 */
import { wrapForNewFile, type NewFileKeys } from "./creation-rule.js"
import type { WorkflowIo } from "./io.js"
import { openSopsFile, readInputFile, writeSopsFile } from "./sops-session.js"
import { InternalError, ToolError } from "../internal/errors.js"
import {
  EditorError,
  plaintextPath,
  readPlaintextFile,
  writePlaintextFile,
} from "../system/editor.js"
import type { PrivateTempDir } from "../system/private-temp.js"
import type { OpenedFile } from "../sops/index.js"
import { SOPS_VERSION, closeFile, encryptDocument, generateDataKey } from "../sops/index.js"
import type { Metadata } from "../sops/metadata.js"
import type { Document } from "../sops/tree.js"
import type { Store, StoreFormat } from "../sops/stores/index.js"
import { METADATA_KEY } from "../sops/stores/index.js"

/** The edited plaintext does not parse (or uses the reserved `sops` key). */
export class EditedContentError extends ToolError {}

/** Runs an editor on a plaintext file and waits for it to exit. */
export interface PlaintextEditor {
  /**
   * @param path the plaintext file, inside `temp`
   * @param temp the private directory (a signal meanwhile stops the editor and removes it)
   * @throws EditorError when the editor can't start or fails: nothing is changed
   */
  edit(path: string, temp: PrivateTempDir): Promise<void>
}

/** What to edit. */
export interface EditRequest {
  /** The sops file (it may not exist yet). */
  readonly file: string
  /** Its format. */
  readonly store: Store
  /** Open the file even if its MAC does not match. */
  readonly ignoreMac?: boolean
  /** The keys of a new file; called only when `file` does not exist, before the editor runs. */
  readonly newFileKeys: () => Promise<NewFileKeys>
  /** Chooses the editor; called once the plaintext is ready to be written. */
  readonly chooseEditor: () => PlaintextEditor
  /**
   * Asked when the edited content does not parse: whether to reopen the editor on it, or
   * undefined when no one can be asked (absent: never). Without a yes the edit fails and
   * is discarded.
   */
  readonly onInvalidEdit?: (error: ToolError) => Promise<boolean | undefined>
}

/** What an edit did. */
export type EditOutcome = "written" | "unchanged"

/**
 * Edits (or creates) a sops file.
 * @param request the file, its store, how to get keys and the editor
 * @param io reading and replacing the file, the private directory, keys, warnings
 * @returns `unchanged` when the plaintext was saved as it was (nothing is written)
 * @throws IoError, EditorError, EditedContentError, the config, key and sops errors
 */
export async function editSopsFile(request: EditRequest, io: WorkflowIo): Promise<EditOutcome> {
  const { file, store } = request
  let opened: OpenedFile | undefined
  let keys: NewFileKeys | undefined
  let original: string
  if (io.exists(file)) {
    opened = await openSopsFile(
      await readInputFile(io, file),
      store,
      file,
      io,
      request.ignoreMac ?? false,
    )
    original = store.emit(opened.doc)
  } else {
    // Decide the keys before the editor opens: no point editing what can't be encrypted.
    keys = await request.newFileKeys()
    original = exampleDocument(store.format)
  }
  try {
    const edited = await editPlaintext(original, request, io)
    if (edited === undefined) return "unchanged"
    const output =
      opened === undefined
        ? await encryptNewFile(edited, keys ?? unreachable(), store, io)
        : writeSopsFile(opened, edited)
    await io.replaceFile(file, output)
    return "written"
  } finally {
    if (opened !== undefined) closeFile(opened)
  }
}

function unreachable(): never {
  throw new InternalError("edit: a new file without keys")
}

/**
 * Writes the plaintext to a private temp file, runs the editor until the content parses
 * (or the user gives up), and returns the new document, or undefined when nothing changed.
 */
async function editPlaintext(
  original: string,
  request: EditRequest,
  io: Pick<WorkflowIo, "createPrivateTempDir">,
): Promise<Document | undefined> {
  const { file, store } = request
  const editor = request.chooseEditor()
  const temp = io.createPrivateTempDir()
  try {
    const path = plaintextPath(temp, file, "file")
    await writePlaintextFile(path, original)
    for (;;) {
      await editor.edit(path, temp)
      const edited = await readPlaintextFile(path)
      if (edited === undefined) {
        throw new EditorError(`the editor removed the plaintext of ${file}: nothing was changed`)
      }
      const text = Buffer.from(edited).toString("utf8")
      if (text === original) return undefined
      try {
        return parseEdited(text, file, store)
      } catch (e) {
        if (!(e instanceof ToolError)) throw e
        const reopen = await request.onInvalidEdit?.(e)
        if (reopen === undefined) {
          throw new EditedContentError(`the edited ${file} is not valid: ${e.message}`, {
            cause: e,
            hints: [
              `${file} was left unchanged; the edit was discarded, since plaintext is never kept on disk`,
              "run the edit again on a terminal to be offered to fix it in the editor",
            ],
          })
        }
        if (!reopen) {
          throw new EditedContentError(`the edited ${file} is not valid: ${e.message}`, {
            cause: e,
            hints: [`${file} was left unchanged`],
          })
        }
      }
    }
  } finally {
    temp.remove()
  }
}

function parseEdited(text: string, file: string, store: Store): Document {
  const doc = store.parse(text)
  if (store.format !== "binary") {
    for (const branch of doc.branches) {
      for (const item of branch.items) {
        const reserved =
          store.format === "dotenv"
            ? item.kind === "entry" && item.key.startsWith("sops_")
            : item.kind === "entry" && item.key === METADATA_KEY
        if (reserved) {
          throw new EditedContentError(
            `${file}: the top-level key ${JSON.stringify(item.kind === "entry" ? item.key : "")} is reserved for sops metadata`,
            { hints: ["rename that key"] },
          )
        }
      }
    }
  }
  return doc
}

async function encryptNewFile(
  doc: Document,
  keys: NewFileKeys,
  store: Store,
  io: Pick<WorkflowIo, "gpg">,
): Promise<string> {
  const dataKey = generateDataKey()
  try {
    const wrapped = await wrapForNewFile(dataKey, keys, io)
    const metadata: Metadata = {
      keyGroups: wrapped.keyGroups,
      shamirThreshold: wrapped.shamirThreshold,
      lastModified: "",
      mac: undefined,
      selector:
        store.format === "binary"
          ? undefined
          : (keys.selector ?? { kind: "unencrypted_suffix", value: "_unencrypted" }),
      macOnlyEncrypted: keys.macOnlyEncrypted,
      version: SOPS_VERSION,
    }
    const encrypted = encryptDocument(doc, { dataKey, metadata })
    return store.emitEncrypted(encrypted.doc, encrypted.metadata)
  } finally {
    dataKey.fill(0)
  }
}

/**
 * The example a new file starts from (the same shape as sops's examples per format).
 * @param format the new file's format
 * @returns the plaintext shown in the editor
 */
export function exampleDocument(format: StoreFormat): string {
  switch (format) {
    case "yaml":
      return `hello: Welcome to coffer! Edit this file as you please!
example_key: example_value
# Example comment
example_array:
    - example_value1
    - example_value2
example_number: 1234.56789
example_booleans:
    - true
    - false
`
    case "json":
      return `{
\t"hello": "Welcome to coffer! Edit this file as you please!",
\t"example_key": "example_value",
\t"example_array": [
\t\t"example_value1",
\t\t"example_value2"
\t],
\t"example_number": 1234.56789,
\t"example_booleans": [
\t\ttrue,
\t\tfalse
\t]
}
`
    case "dotenv":
      return `hello=Welcome to coffer! Edit this file as you please!
example_key=example_value
`
    case "ini":
      return `[Welcome!]
hello = Welcome to coffer! Edit this file as you please!
example_key = example_value
`
    case "binary":
      return "Welcome to coffer! Edit this file as you please!\n"
    default: {
      const never: never = format
      return never
    }
  }
}
