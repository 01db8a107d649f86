/**
 * `coffer edit FILE` (also `coffer FILE`): sops's edit mode (sops-format.md §12; MISSION.md
 * C3 "Editing is safe"). Decrypts FILE into a 0600 file in a private 0700 directory on a
 * RAM-backed file system where one exists, runs the editor on it, and re-encrypts the result
 * with the same data key, so values that did not change keep their ciphertext. A FILE that
 * does not exist starts from an example document and is encrypted to its creation rule's
 * keys (or `--age`/`--pgp`).
 *
 * Safety: the plaintext directory is removed on every exit path, including SIGINT, SIGTERM
 * and SIGHUP (`private-temp.ts`); an editor that fails changes nothing; no change means no
 * rewrite (exit status 3, "unchanged"); content that does not parse offers to reopen the
 * editor on a terminal, and otherwise fails leaving the original file as it was (the edit
 * is discarded rather than kept on disk in plaintext); the file is replaced atomically with
 * its mode kept.
 */
import { existsSync } from "node:fs"
import type { CliContext } from "../command.js"
import {
  EditorError,
  chooseEditor,
  plaintextPath,
  readPlaintextFile,
  runEditor,
  writePlaintextFile,
} from "../editor.js"
import { exitCodes, type ExitCode } from "../exit-codes.js"
import { flagIsSet, flagValue, flagValues, type FlagSpec } from "../flags.js"
import type { NewFileKeys } from "../creation-rule.js"
import { newFileKeys, wrapForNewFile } from "../creation-rule.js"
import { createPrivateTempDir } from "../private-temp.js"
import { replaceFile } from "../replace-file.js"
import { chooseInputStore, parseCommandLine, readInputFile, singleFile } from "../sops-file.js"
import { openSopsFile, writeSopsFile } from "../sops-session.js"
import { confirm } from "../terminal.js"
import { InternalError, ToolError, UsageError } from "../../internal/errors.js"
import type { OpenedFile } from "../../sops/index.js"
import { SOPS_VERSION, closeFile, encryptDocument, generateDataKey } from "../../sops/index.js"
import type { Metadata } from "../../sops/metadata.js"
import type { Document } from "../../sops/tree.js"
import type { Store, StoreFormat } from "../../sops/stores/index.js"
import { METADATA_KEY } from "../../sops/stores/index.js"

/** The edited plaintext does not parse (or uses the reserved `sops` key). */
export class EditedContentError extends ToolError {}

const flagSpecs: readonly FlagSpec[] = [
  { key: "config", names: ["config"], kind: "value" },
  { key: "age", names: ["age", "a"], kind: "value" },
  { key: "pgp", names: ["pgp", "p"], kind: "value" },
  { key: "threshold", names: ["shamir-secret-sharing-threshold"], kind: "value" },
  { key: "inputType", names: ["input-type"], kind: "value" },
  { key: "ignoreMac", names: ["ignore-mac"], kind: "boolean" },
]

function helpText(invokedAs: string): string {
  return `Usage:
    ${invokedAs} [FLAGS] FILE
    coffer FILE

Opens a sops file in your editor as plaintext and encrypts it again when you save and quit.
Values you did not change keep their ciphertext, so the git diff shows only your change.
A FILE that does not exist yet starts from an example and is encrypted to the keys of the
first creation rule in .sops.yaml that matches it (or to --age/--pgp).

The plaintext lives in a private directory (mode 0700, file 0600) on a RAM file system
($XDG_RUNTIME_DIR or /dev/shm) and is removed when the editor exits, on Ctrl-C and on
SIGTERM. If nothing changed, nothing is written and the exit status is 3.

Editor: $SOPS_EDITOR, $EDITOR, $VISUAL, else vim, nano or vi. The value is split like a
shell command line ("code --wait" works) and the file's path is added as the last argument.

Flags:
    --config PATH           The .sops.yaml to use (default: SOPS_CONFIG, else found from
                            the current directory upward).
    --age RECIPIENTS, --pgp FINGERPRINTS
                            Keys for a new file instead of the creation rule's.
    --shamir-secret-sharing-threshold N
                            Threshold for a new file with several key groups.
    --input-type TYPE       yaml, json, dotenv, ini or binary (default: from FILE's suffix).
    --ignore-mac            Open the file even if its MAC does not match.

Examples:
    $ ${invokedAs} secrets/dao/tailscale.yaml
    $ coffer secrets/app.env
    $ EDITOR="code --wait" ${invokedAs} secrets/new.yaml
`
}

/**
 * Runs `coffer edit`.
 * @returns `exitCodes.unchanged` when nothing changed
 * @throws UsageError, IoError, EditorError, EditedContentError, the config, key and sops errors
 */
export async function run(args: readonly string[], ctx: CliContext): Promise<ExitCode | undefined> {
  const parsed = parseCommandLine(args, flagSpecs, ctx, helpText)
  if (parsed === undefined) return undefined
  const file = singleFile(parsed, ctx.invokedAs)
  const store = chooseInputStore(parsed, file)
  const threshold = flagValue(parsed, "threshold")
  if (threshold !== undefined && !/^\d{1,3}$/.test(threshold)) {
    throw new UsageError(
      `--shamir-secret-sharing-threshold must be a number, got ${JSON.stringify(threshold)}`,
    )
  }

  let opened: OpenedFile | undefined
  let keys: NewFileKeys | undefined
  let original: string
  if (existsSync(file)) {
    opened = await openSopsFile(
      await readInputFile(file),
      store,
      file,
      ctx,
      flagIsSet(parsed, "ignoreMac"),
    )
    original = store.emit(opened.doc)
  } else {
    // Decide the keys before the editor opens: no point editing what can't be encrypted.
    keys = newFileKeys(ctx, file, {
      config: flagValue(parsed, "config"),
      age: flagValues(parsed, "age"),
      pgp: flagValues(parsed, "pgp"),
      threshold: threshold === undefined ? undefined : Number(threshold),
    })
    original = exampleDocument(store.format)
  }
  try {
    const edited = await editPlaintext(original, file, store, ctx)
    if (edited === undefined) {
      ctx.note(`${file}: no changes, nothing was written`)
      return exitCodes.unchanged
    }
    const output =
      opened === undefined
        ? await encryptNewFile(edited, keys ?? unreachable(), store, ctx)
        : writeSopsFile(opened, edited)
    await replaceFile(file, output)
    return undefined
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
  file: string,
  store: Store,
  ctx: CliContext,
): Promise<Document | undefined> {
  const editor = chooseEditor(ctx.env, {
    variables: ["SOPS_EDITOR", "EDITOR", "VISUAL"],
    fallbacks: ["vim", "nano", "vi"],
  })
  const temp = createPrivateTempDir(ctx.env, (m) => {
    ctx.warn(m)
  })
  try {
    const path = plaintextPath(temp, file, "file")
    await writePlaintextFile(path, original)
    for (;;) {
      await runEditor(editor, path, temp, ctx.env)
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
        if (!ctx.stdin.isTTY) {
          throw new EditedContentError(`the edited ${file} is not valid: ${e.message}`, {
            cause: e,
            hints: [
              `${file} was left unchanged; the edit was discarded, since plaintext is never kept on disk`,
              "run the edit again on a terminal to be offered to fix it in the editor",
            ],
          })
        }
        ctx.warn(`the edited file is not valid: ${e.message}`)
        for (const hint of e.hints) ctx.note(`hint: ${hint}`)
        if (!(await confirm("reopen the editor to fix it? (no discards your edit)"))) {
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
  ctx: CliContext,
): Promise<string> {
  const dataKey = generateDataKey()
  try {
    const wrapped = await wrapForNewFile(dataKey, keys, ctx)
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

/** The example a new file starts from (the same shape as sops's examples per format). */
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
