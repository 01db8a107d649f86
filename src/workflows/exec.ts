/**
 * Giving a program a sops file's plaintext without writing it to disk in the open (sops's
 * `exec-env` and `exec-file`; docs/formats/sops.md "Commands"): as environment variables,
 * or as a file (a FIFO by default) in a private directory that is removed when the program is done.
 * Running the program is the caller's: these workflows hand over the variables, or the
 * path while it exists.
 */
import { join } from "node:path"
import type { WorkflowIo } from "./io.js"
import { openSopsFile, readInputFile, type SopsTarget } from "./sops-session.js"
import { ToolError } from "../internal/errors.js"
import { createFifo, feedFifo, finishFifo, writeNewPrivateFile } from "../system/plaintext-file.js"
import type { PrivateTempDir } from "../system/private-temp.js"
import { closeFile } from "../sops/index.js"
import type { Document } from "../sops/tree.js"
import type { Store } from "../sops/stores/index.js"
import { emitPlaintext, scalarToText } from "../sops/stores/index.js"

/**
 * The variables through which sops and coffer find private keys: the age key itself, or
 * the file or command that gives one. A program run by `exec-env`/`exec-file` does not get
 * them unless `--keep-key-env` asks (docs/formats/sops.md "Commands").
 */
export const KEY_VARIABLES: readonly string[] = [
  "SOPS_AGE_KEY",
  "SOPS_AGE_KEY_FILE",
  "SOPS_AGE_KEY_CMD",
  "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
  "SOPS_AGE_SSH_PRIVATE_KEY_CMD",
]

/**
 * The environment of a program run with a sops file's plaintext.
 * @param inherited coffer's own environment
 * @param vars the file's variables (`exec-env`), which win over inherited ones
 * @param options `pristine`: nothing inherited; `keepKeyVariables`: pass `KEY_VARIABLES` on
 * @returns the child's environment, without the key variables unless asked
 */
export function childEnvironment(
  inherited: Readonly<Record<string, string | undefined>>,
  vars: Readonly<Record<string, string>>,
  options: { readonly pristine?: boolean; readonly keepKeyVariables?: boolean } = {},
): Record<string, string> {
  const env: Record<string, string> = {}
  if (options.pristine !== true) {
    for (const [name, value] of Object.entries(inherited)) {
      if (value === undefined) continue
      if (options.keepKeyVariables !== true && KEY_VARIABLES.includes(name)) continue
      env[name] = value
    }
  }
  return Object.assign(env, vars)
}

/** The file can't become environment variables (nested values, `=` in a key). */
export class EnvironmentShapeError extends ToolError {}

/**
 * The environment variables a decrypted document gives (sops's exec-env rules): every
 * top-level value as text, as sops's `ValToString` writes it; comments skipped.
 * @param doc the plaintext
 * @param file the file's name for messages
 * @returns name → value
 * @throws EnvironmentShapeError for nested values or keys containing "="
 */
export function environmentOf(doc: Document, file: string): Record<string, string> {
  const vars: Record<string, string> = {}
  for (const item of doc.branches[0]?.items ?? []) {
    if (item.kind === "comment") continue
    if (item.key.includes("=")) {
      throw new EnvironmentShapeError(
        `${file}: the key ${JSON.stringify(item.key)} contains "=", which can't be in a variable name`,
      )
    }
    if (item.value.kind === "mapping" || item.value.kind === "sequence") {
      throw new EnvironmentShapeError(
        `${file}: ${JSON.stringify(item.key)} is a nested value, and exec-env needs a flat file`,
        {
          hints: ["move nested values to another file, or use exec-file to pass the whole file"],
        },
      )
    }
    vars[item.key] = scalarToText(item.value)
  }
  return vars
}

/**
 * Decrypts a flat sops file into environment variables.
 * @param target the file, its store and whether to check the MAC
 * @param io reading the file, keys, warnings
 * @returns name → value (plaintext: give it to the child and drop it)
 * @throws IoError, EnvironmentShapeError, the key and sops errors
 */
export async function sopsEnvironment(
  target: SopsTarget,
  io: Pick<WorkflowIo, "readFile" | "env" | "discovery" | "gpg" | "warn">,
): Promise<Record<string, string>> {
  const opened = await openSopsFile(
    await readInputFile(io, target.file),
    target.store,
    target.file,
    io,
    target.ignoreMac ?? false,
  )
  try {
    return environmentOf(opened.doc, target.file)
  } finally {
    closeFile(opened)
  }
}

/** How `withPlaintextFile` hands the plaintext over. */
export interface PlaintextFileOptions {
  /** The plaintext's format. */
  readonly output: Store
  /** The file's name inside the private directory (a plain name, no directories). */
  readonly name: string
  /** A FIFO (read once, never stored) rather than a regular 0600 file. */
  readonly fifo: boolean
}

/**
 * Decrypts a sops file to a private place and runs `use` while it is there.
 * @param target the file, its store and whether to check the MAC
 * @param options the output format, the file's name and FIFO or file
 * @param io reading the file, keys, the private directory, warnings
 * @param use gets the plaintext's path and the private directory (to attach a child to
 *   it, so a signal stops the child too); its result is returned
 * @returns what `use` returned, once the private directory is removed
 * @throws IoError (no FIFO could be made), the key and sops errors, what `use` throws
 */
export async function withPlaintextFile<T>(
  target: SopsTarget,
  options: PlaintextFileOptions,
  io: Pick<WorkflowIo, "readFile" | "env" | "discovery" | "gpg" | "warn" | "createPrivateTempDir">,
  use: (path: string, temp: PrivateTempDir) => Promise<T>,
): Promise<T> {
  const opened = await openSopsFile(
    await readInputFile(io, target.file),
    target.store,
    target.file,
    io,
    target.ignoreMac ?? false,
  )
  let plaintext: Uint8Array
  try {
    plaintext = emitPlaintext(options.output, opened.doc)
  } finally {
    closeFile(opened)
  }

  const temp = io.createPrivateTempDir()
  try {
    const path = join(temp.path, options.name)
    if (!options.fifo) {
      writeNewPrivateFile(path, plaintext)
      return await use(path, temp)
    }
    createFifo(path, temp.path)
    const writing = feedFifo(path, plaintext)
    const result = await use(path, temp)
    await finishFifo(path, writing)
    return result
  } finally {
    temp.remove()
  }
}
