/**
 * `coffer exec-env FILE CMD`: sops's `exec-env` (docs/formats/sops.md "Commands"). Decrypts
 * FILE, whose top level must be flat, and runs `/bin/sh -c CMD` with every top-level value in its
 * environment (as text, as sops's `ValToString` writes it; comments skipped). The
 * plaintext never touches the disk. The variables that lead to private keys
 * (`KEY_VARIABLES`) are not passed on unless `--keep-key-env`. `--pristine` starts from an empty environment,
 * `--user` runs CMD as another user. CMD's exit status becomes coffer's.
 */
import type { CliContext } from "../command.js"
import { childExitCode, type ExitCode } from "../exit-codes.js"
import { flagIsSet, flagValue, type FlagSpec } from "../flags.js"
import { chooseInputStore, commandIo, exactPositionals, parseCommandLine } from "../sops-file.js"
import { runShellCommand } from "../../system/child-command.js"
import { childEnvironment, sopsEnvironment } from "../../workflows/exec.js"

const flagSpecs: readonly FlagSpec[] = [
  { key: "pristine", names: ["pristine"], kind: "boolean" },
  { key: "keepKeyEnv", names: ["keep-key-env"], kind: "boolean" },
  { key: "user", names: ["user"], kind: "value" },
  { key: "sameProcess", names: ["same-process"], kind: "boolean" },
  { key: "background", names: ["background"], kind: "boolean" },
  { key: "inputType", names: ["input-type"], kind: "value" },
  { key: "ignoreMac", names: ["ignore-mac"], kind: "boolean" },
]

function helpText(invokedAs: string): string {
  return `Usage:
    ${invokedAs} [FLAGS] FILE COMMAND

Runs COMMAND (through /bin/sh -c) with the decrypted top-level values of FILE as
environment variables. FILE must be flat (no nested values). The plaintext never goes to
disk. COMMAND's exit status becomes coffer's.

Flags:
    --pristine              Start from an empty environment (only FILE's variables).
    --keep-key-env          Pass SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD and
                            SOPS_AGE_SSH_PRIVATE_KEY_FILE/_CMD on to COMMAND (by default
                            COMMAND does not get the variables that lead to private keys).
    --user USER             Run COMMAND as USER (coffer must run as root).
    --same-process          Accepted for sops compatibility: COMMAND always runs as a child
                            whose status is passed through.
    --input-type TYPE       yaml, json, dotenv, ini or binary (default: from FILE's suffix).
    --ignore-mac            Decrypt even if the MAC does not match.

Examples:
    $ ${invokedAs} secrets/app.env './server --port 8080'
    $ ${invokedAs} secrets/app.yaml 'psql "postgres://app:$DB_PASSWORD@db/app"'
    $ ${invokedAs} --pristine secrets/app.env env
`
}

/**
 * Runs `coffer exec-env`.
 * @returns COMMAND's exit status
 * @throws UsageError, IoError, EnvironmentShapeError (`workflows/exec.ts`), CommandStartError,
 *   the key and sops errors
 */
export async function run(args: readonly string[], ctx: CliContext): Promise<ExitCode | undefined> {
  const parsed = parseCommandLine(args, flagSpecs, ctx, helpText)
  if (parsed === undefined) return undefined
  const [file, command] = exactPositionals(
    parsed,
    ["FILE", "COMMAND"],
    ctx.invokedAs,
    "quote the command as one argument: coffer exec-env secrets.env './run --flag'",
  )
  const vars = await sopsEnvironment(
    { file, store: chooseInputStore(parsed, file), ignoreMac: flagIsSet(parsed, "ignoreMac") },
    commandIo(ctx),
  )
  const env = childEnvironment(ctx.env, vars, {
    pristine: flagIsSet(parsed, "pristine"),
    keepKeyVariables: flagIsSet(parsed, "keepKeyEnv"),
  })
  return childExitCode(await runShellCommand(command, env, { user: flagValue(parsed, "user") }))
}
