/**
 * `coffer exec-file FILE CMD`: sops's `exec-file` (docs/formats/sops.md "Commands").
 * Decrypts FILE into a FIFO (default) or a 0600 temp file (`--no-fifo`) inside a fresh
 * private 0700 directory on a RAM-backed file system where one exists, replaces `{}` in CMD
 * with its path and runs `/bin/sh -c CMD`. The directory is removed afterwards, also on
 * SIGINT/SIGTERM. A FIFO can be read once; use `--no-fifo` for programs that read a file
 * twice or seek.
 */
import { basename } from "node:path"
import type { CliContext } from "../command.js"
import { childExitCode, type ExitCode } from "../exit-codes.js"
import { flagIsSet, flagValue, type FlagSpec } from "../flags.js"
import {
  chooseInputStore,
  chooseStores,
  commandIo,
  exactPositionals,
  parseCommandLine,
} from "../sops-file.js"
import { UsageError } from "../../internal/errors.js"
import { runShellCommand } from "../../system/child-command.js"
import { childEnvironment, withPlaintextFile } from "../../workflows/exec.js"

const flagSpecs: readonly FlagSpec[] = [
  { key: "noFifo", names: ["no-fifo"], kind: "boolean" },
  { key: "keepKeyEnv", names: ["keep-key-env"], kind: "boolean" },
  { key: "filename", names: ["filename"], kind: "value" },
  { key: "user", names: ["user"], kind: "value" },
  { key: "background", names: ["background"], kind: "boolean" },
  { key: "inputType", names: ["input-type"], kind: "value" },
  { key: "outputType", names: ["output-type"], kind: "value" },
  { key: "ignoreMac", names: ["ignore-mac"], kind: "boolean" },
]

function helpText(invokedAs: string): string {
  return `Usage:
    ${invokedAs} [FLAGS] FILE COMMAND

Decrypts FILE to a private place and runs COMMAND (through /bin/sh -c) with every {}
replaced by the plaintext's path. By default the path is a FIFO (a pipe: the plaintext is
never stored; it can be read once). The private directory (mode 0700, on a RAM file system
where there is one) is removed when COMMAND exits, on Ctrl-C and on SIGTERM.

Flags:
    --no-fifo               Write a regular 0600 file instead of a FIFO (for programs that
                            read the file more than once).
    --filename NAME         The plaintext file's name (default: FILE's name), e.g. to give
                            it the extension a program expects. No directories.
    --output-type TYPE      The plaintext's format (default: FILE's).
    --keep-key-env          Pass SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD and
                            SOPS_AGE_SSH_PRIVATE_KEY_FILE/_CMD on to COMMAND (by default
                            COMMAND does not get the variables that lead to private keys).
    --user USER             Run COMMAND as USER (coffer must run as root).
    --input-type TYPE       yaml, json, dotenv, ini or binary (default: from FILE's suffix).
    --ignore-mac            Decrypt even if the MAC does not match.

Examples:
    $ ${invokedAs} secrets/app.yaml 'myapp --config {}'
    $ ${invokedAs} --no-fifo --filename kubeconfig secrets/kube.yaml 'KUBECONFIG={} kubectl get pods'
`
}

function checkFilename(name: string): string {
  if (name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0")) {
    throw new UsageError(`--filename ${JSON.stringify(name)} must be a plain file name`, {
      hints: ["no directories: the file always goes into coffer's private directory"],
    })
  }
  return name
}

/**
 * Runs `coffer exec-file`.
 * @returns COMMAND's exit status
 * @throws UsageError, IoError, CommandStartError, the key and sops errors
 */
export async function run(args: readonly string[], ctx: CliContext): Promise<ExitCode | undefined> {
  const parsed = parseCommandLine(args, flagSpecs, ctx, helpText)
  if (parsed === undefined) return undefined
  const [file, command] = exactPositionals(
    parsed,
    ["FILE", "COMMAND"],
    ctx.invokedAs,
    "quote the command as one argument: coffer exec-file app.yaml 'cat {}'",
  )
  const name = checkFilename(flagValue(parsed, "filename") ?? basename(file))
  const { output } = chooseStores(parsed, file)
  const status = await withPlaintextFile(
    { file, store: chooseInputStore(parsed, file), ignoreMac: flagIsSet(parsed, "ignoreMac") },
    { output, name, fifo: !flagIsSet(parsed, "noFifo") },
    commandIo(ctx),
    (path, temp) =>
      runShellCommand(
        command.replaceAll("{}", path),
        childEnvironment(ctx.env, {}, { keepKeyVariables: flagIsSet(parsed, "keepKeyEnv") }),
        {
          user: flagValue(parsed, "user"),
          temp,
        },
      ),
  )
  return childExitCode(status)
}
