/**
 * Editing plaintext in an editor (docs/goals.md "Editing is safe"; docs/agenix.md "The
 * agenix command line"; docs/formats/sops.md "Commands" `edit`): choosing the editor from
 * the environment, writing the plaintext to a 0600 file in a private directory
 * (`private-temp.ts`), running the editor on it attached to the terminal, and reading the
 * result back. `coffer edit` and `coffer agenix -e` share it; each keeps its own documented
 * order of variables.
 *
 * The command line is either split into words as sops does (`splitShellWords`, no shell) or,
 * for agenix, run by `/bin/sh` as agenix does; either way the file's path is passed as one
 * argument after the others, never through a shell's parser. While the editor runs, a
 * signal stops it and removes the private directory (`PrivateTempDir.attachChild`).
 */
import { spawn } from "node:child_process"
import { accessSync, constants } from "node:fs"
import { open, readFile } from "node:fs/promises"
import { basename, delimiter, join } from "node:path"
import { describeSystemError } from "./system-error.js"
import type { PrivateTempDir } from "./private-temp.js"
import { ToolError } from "../internal/errors.js"
import { splitShellWords } from "../keys/shell-words.js"

/** The editor could not be started, or exited with a failure: nothing was changed. */
export class EditorError extends ToolError {}

/** An editor to run: the words of its command line, and how messages name it. */
export interface EditorCommand {
  /** The program and its arguments; the file's path is added as the last argument. */
  readonly words: readonly string[]
  /** The editor as the user wrote it, for messages. */
  readonly shown: string
  /** The variables that choose the editor, for hints (`EDITOR`). */
  readonly variables: readonly string[]
}

/**
 * The editor from the environment: the first non-empty variable of `variables`, else the
 * first of `fallbacks` found on `PATH`.
 * @param env the environment (`PATH` and the variables)
 * @param options `variables` in order (sops: `SOPS_EDITOR`, `EDITOR`, `VISUAL`);
 *   `fallbacks` in order (sops: vim, nano, vi); `shell` runs the command line with
 *   `/bin/sh -c` (agenix) instead of splitting it into words (sops)
 * @returns the editor command
 * @throws EditorError when no variable is set and no fallback is on `PATH`
 * @throws UsageError when the variable has an unterminated quote (without `shell`)
 */
export function chooseEditor(
  env: NodeJS.ProcessEnv,
  options: {
    readonly variables: readonly string[]
    readonly fallbacks: readonly string[]
    readonly shell?: boolean
  },
): EditorCommand {
  for (const name of options.variables) {
    const value = env[name]?.trim()
    if (value === undefined || value === "") continue
    if (options.shell === true) return shellEditor(value, options.variables)
    const words = splitShellWords(value, name)
    if (words.length > 0) return { words, shown: words[0] ?? value, variables: options.variables }
  }
  for (const candidate of options.fallbacks) {
    if (onPath(candidate, env["PATH"] ?? "")) {
      return { words: [candidate], shown: candidate, variables: options.variables }
    }
  }
  throw new EditorError("no editor found", {
    hints: [
      `set ${options.variables.join(" or ")}, e.g. EDITOR=nano; ${options.fallbacks.join(", ")} ${options.fallbacks.length === 1 ? "is" : "are"} not on PATH`,
    ],
  })
}

/**
 * An editor command line run by `/bin/sh` (so `code --wait` and `$HOME/bin/ed` work), as
 * agenix runs `$EDITOR`.
 * @param command the command line
 * @param variables the variables that choose the editor, for hints
 */
export function shellEditor(command: string, variables: readonly string[]): EditorCommand {
  // the file is "$1": one argument, whatever its name
  return { words: ["/bin/sh", "-c", `${command} "$1"`, "coffer-editor"], shown: command, variables }
}

function onPath(command: string, path: string): boolean {
  return path.split(delimiter).some((dir) => {
    if (dir === "") return false
    try {
      accessSync(join(dir, command), constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}

/**
 * The path for the plaintext of `name` in a private directory: its base name is kept, so
 * the editor picks the right syntax highlighting.
 * @param temp the private directory
 * @param name the file being edited
 * @param fallback the name when `name` has no usable base name
 */
export function plaintextPath(temp: PrivateTempDir, name: string, fallback: string): string {
  const base = basename(name)
  return join(temp.path, base === "" || base === "." || base === ".." ? fallback : base)
}

/**
 * Writes plaintext into a new file, created exclusively with mode 0600 (no one else can
 * read it, and a planted file or symlink makes it fail rather than be followed).
 * @param path the file, in a private directory
 * @param content the plaintext
 * @throws EditorError when the file can't be created
 */
export async function writePlaintextFile(
  path: string,
  content: Uint8Array | string,
): Promise<void> {
  try {
    // "wx": O_CREAT|O_EXCL, mode 0600 from the start.
    const handle = await open(path, "wx", 0o600)
    try {
      await handle.writeFile(content)
    } finally {
      await handle.close()
    }
  } catch (cause) {
    throw new EditorError(
      `can't create the temporary plaintext file: ${describeSystemError(cause)}`,
      { cause },
    )
  }
}

/**
 * Reads a plaintext file back after editing.
 * @returns its bytes, or undefined when the editor removed it (or never created it)
 * @throws EditorError when it can't be read
 */
export async function readPlaintextFile(path: string): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(await readFile(path))
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === "ENOENT") return undefined
    throw new EditorError(`can't read the edited file back: ${describeSystemError(cause)}`, {
      cause,
    })
  }
}

/**
 * Runs the editor on a file, attached to the terminal, and waits for it. A signal meanwhile
 * stops the editor and removes `temp` (`private-temp.ts`).
 * @param editor the editor command
 * @param file the file to edit
 * @param temp the private directory holding `file`
 * @param env the environment for the editor
 * @throws EditorError when it can't start or exits with a failure status
 */
export async function runEditor(
  editor: EditorCommand,
  file: string,
  temp: PrivateTempDir,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const [command, ...args] = editor.words
  if (command === undefined) throw new EditorError("the editor command is empty")
  const shown = JSON.stringify(editor.shown)
  await new Promise<void>((resolve, reject) => {
    const child = spawn(command, [...args, file], { stdio: "inherit", env })
    temp.attachChild(child)
    child.once("error", (cause) => {
      temp.attachChild(undefined)
      reject(
        new EditorError(`can't start the editor ${shown}: ${describeSystemError(cause)}`, {
          cause,
          hints: [`check ${editor.variables.join(" or ")}; nothing was changed`],
        }),
      )
    })
    child.once("exit", (code, signal) => {
      temp.attachChild(undefined)
      if (code === 0) {
        resolve()
        return
      }
      reject(
        new EditorError(
          `the editor ${shown} ${signal === null ? `exited with status ${String(code)}` : `was killed by ${signal}`}: nothing was changed`,
          { hints: ["the file is as it was before the edit"] },
        ),
      )
    })
  })
}
