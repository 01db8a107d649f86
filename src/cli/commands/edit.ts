/**
 * `coffer edit FILE` (also `coffer FILE`): sops's edit mode (docs/formats/sops.md
 * "Commands"; docs/goals.md "Editing is safe"). Decrypts FILE into a 0600 file in a private
 * 0700 directory on a RAM-backed file system where one exists, runs the editor on it, and
 * re-encrypts the result with the same data key, so values that did not change keep their
 * ciphertext. A FILE that does not exist starts from an example document and is encrypted
 * to its creation rule's keys (or `--age`/`--pgp`).
 *
 * Safety: the plaintext directory is removed on every exit path, including SIGINT, SIGTERM
 * and SIGHUP (`private-temp.ts`); an editor that fails changes nothing; no change means no
 * rewrite (exit status 3, "unchanged"); content that does not parse offers to reopen the
 * editor on a terminal, and otherwise fails leaving the original file as it was (the edit
 * is discarded rather than kept on disk in plaintext); the file is replaced atomically with
 * its mode kept.
 */
import type { CliContext } from "../command.js"
import { exitCodes, type ExitCode } from "../exit-codes.js"
import { flagIsSet, flagValue, flagValues, type FlagSpec } from "../flags.js"
import { chooseInputStore, commandIo, parseCommandLine, singleFile } from "../sops-file.js"
import { UsageError } from "../../internal/errors.js"
import { chooseEditor, runEditor } from "../../system/editor.js"
import { confirm } from "../../system/terminal.js"
import { newFileKeys } from "../../workflows/creation-rule.js"
import { editSopsFile } from "../../workflows/edit.js"
import { childEnvironment } from "../../workflows/exec.js"

const flagSpecs: readonly FlagSpec[] = [
  { key: "config", names: ["config"], kind: "value" },
  { key: "allowUnknownConfigKeys", names: ["allow-unknown-config-keys"], kind: "boolean" },
  { key: "age", names: ["age", "a"], kind: "value" },
  { key: "pgp", names: ["pgp", "p"], kind: "value" },
  { key: "kms", names: ["kms", "k"], kind: "value" },
  { key: "awsProfile", names: ["aws-profile"], kind: "value" },
  { key: "gcpKms", names: ["gcp-kms"], kind: "value" },
  { key: "vault", names: ["hc-vault-transit"], kind: "value" },
  { key: "encryptionContext", names: ["encryption-context"], kind: "value" },
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
SIGTERM; one left by a coffer killed with SIGKILL is removed by the next coffer command
that makes one (it says so). Without a RAM file system coffer refuses, unless
COFFER_TMPDIR names a directory to use. If nothing changed, nothing is written and the
exit status is 3.

Editor: $SOPS_EDITOR, $EDITOR, $VISUAL, else vim, nano or vi. The value is split like a
shell command line ("code --wait" works) and the file's path is added as the last argument.

Flags:
    --config PATH           The .sops.yaml to use (default: SOPS_CONFIG, else found from
                            the current directory upward).
    --allow-unknown-config-keys
                            Warn about keys of .sops.yaml that sops 3.13 does not know
                            (a config for a newer sops) instead of stopping.
    --age RECIPIENTS, --pgp FINGERPRINTS, -k/--kms ARNS, --gcp-kms IDS,
    --hc-vault-transit URIS
                            Keys for a new file instead of the creation rule's
                            (--aws-profile NAME and --encryption-context K:V,… go
                            with --kms).
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
 * @throws UsageError, IoError, EditorError, EditedContentError (`workflows/edit.ts`), the
 *   config, key and sops errors
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

  const io = commandIo(ctx)
  const outcome = await editSopsFile(
    {
      file,
      store,
      ignoreMac: flagIsSet(parsed, "ignoreMac"),
      newFileKeys: () =>
        newFileKeys(io, file, {
          config: flagValue(parsed, "config"),
          allowUnknownConfigKeys: flagIsSet(parsed, "allowUnknownConfigKeys"),
          age: flagValues(parsed, "age"),
          pgp: flagValues(parsed, "pgp"),
          kms: flagValues(parsed, "kms"),
          gcpKms: flagValues(parsed, "gcpKms"),
          vault: flagValues(parsed, "vault"),
          awsProfile: flagValue(parsed, "awsProfile"),
          encryptionContext: flagValue(parsed, "encryptionContext"),
          threshold: threshold === undefined ? undefined : Number(threshold),
        }),
      chooseEditor: () => {
        const editor = chooseEditor(ctx.env, {
          variables: ["SOPS_EDITOR", "EDITOR", "VISUAL"],
          fallbacks: ["vim", "nano", "vi"],
        })
        // the editor (and its plugins) get no variable that leads to a private key
        return {
          edit: (path, temp) => runEditor(editor, path, temp, childEnvironment(ctx.env, {})),
        }
      },
      onInvalidEdit: async (e) => {
        if (!ctx.stdin.isTTY) return undefined
        ctx.warn(`the edited file is not valid: ${e.message}`)
        for (const hint of e.hints) ctx.note(`hint: ${hint}`)
        return confirm("reopen the editor to fix it? (no discards your edit)")
      },
    },
    io,
  )
  if (outcome === "unchanged") {
    ctx.note(`${file}: no changes, nothing was written`)
    return exitCodes.unchanged
  }
  return undefined
}
