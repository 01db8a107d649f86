/**
 * `coffer decrypt FILE`: sops's `decrypt` (docs/formats/sops.md "Commands"). Reads a sops-encrypted
 * YAML/JSON/dotenv/INI/binary file, recovers the data key once (age identities found as
 * sops finds them, PGP through gpg), authenticates every value and the MAC, and prints
 * the plaintext in the file's format (or `--output-type`). `--extract '["a"]["b"]'`
 * prints one value: a string raw, another scalar or a subtree in the output format.
 *
 * Plaintext goes to standard output, to `--output FILE` (0600 even when FILE existed with
 * another mode, replaced atomically; a symbolic link there is refused) or back into FILE
 * with `-i` (atomic; the file keeps its mode, and nothing is written when anything fails).
 */
import type { CliContext } from "../command.js"
import type { ExitCode } from "../exit-codes.js"
import { flagIsSet, flagValue, type FlagSpec } from "../flags.js"
import {
  chooseDestination,
  chooseStores,
  commandIo,
  parseCommandLine,
  singleFile,
  writeResult,
} from "../sops-file.js"
import { UsageError } from "../../internal/errors.js"
import { decryptSopsFile } from "../../workflows/decrypt.js"
import { parseTreePath } from "../../workflows/tree-path.js"

const flagSpecs: readonly FlagSpec[] = [
  { key: "inPlace", names: ["i", "in-place"], kind: "boolean" },
  { key: "extract", names: ["extract"], kind: "value" },
  { key: "inputType", names: ["input-type"], kind: "value" },
  { key: "outputType", names: ["output-type"], kind: "value" },
  { key: "ignoreMac", names: ["ignore-mac"], kind: "boolean" },
  { key: "output", names: ["o", "output"], kind: "value" },
  { key: "json", names: ["json"], kind: "boolean" },
]

function helpText(invokedAs: string): string {
  return `Usage:
    ${invokedAs} [FLAGS] FILE

Decrypts a sops file (YAML, JSON, dotenv, INI or binary) and prints the plaintext.

Flags:
    -i, --in-place          Replace FILE with its plaintext (atomically, keeping its mode).
    --extract PATH          Print only the value at PATH, e.g. '["db"]["password"]' or
                            '["hosts"][0]'. A string prints raw (no newline); a subtree
                            prints in the output format.
    --input-type TYPE       yaml, json, dotenv, ini or binary (default: from FILE's suffix:
                            .yaml/.yml, .json, .env, .ini, anything else is binary).
    --output-type TYPE      The plaintext's format (default: the input's).
    --ignore-mac            Decrypt even if the MAC is missing or does not match (every
                            value is still authenticated on its own).
    -o, --output OUT        Write the plaintext to OUT, mode 0600 (an existing OUT is
                            replaced and made 0600; a symbolic link is refused).
    --json                  Report a failure as one JSON object on standard error
                            ({"error": {"type", "message", "hints", "exitStatus", "bug"}},
                            docs/cli-json.md), for programs. The plaintext's own format
                            is --output-type.

Keys are found as sops finds them: age identities from SOPS_AGE_SSH_PRIVATE_KEY_FILE,
SOPS_AGE_SSH_PRIVATE_KEY_CMD, ~/.ssh/id_ed25519 or ~/.ssh/id_rsa, SOPS_AGE_KEY,
SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD and $XDG_CONFIG_HOME/sops/age/keys.txt
(~/.config/sops/age/keys.txt); PGP keys through gpg (GNUPGHOME, SOPS_GPG_EXEC).
An SSH ed25519 key opens files encrypted to its SSH public key and to its ssh-to-age
recipient.

Examples:
    $ SOPS_AGE_KEY_FILE=key.txt ${invokedAs} secrets/app.yaml
    $ ${invokedAs} --extract '["db"]["password"]' secrets/app.yaml
    $ SOPS_AGE_SSH_PRIVATE_KEY_FILE=/etc/ssh/ssh_host_ed25519_key ${invokedAs} --output-type json secrets/host.yaml
    $ ${invokedAs} -i secrets/app.env
`
}

/**
 * Runs `coffer decrypt`.
 * @throws UsageError, IoError, the sops store and crypto errors (see `src/sops/errors.ts`)
 */
export async function run(args: readonly string[], ctx: CliContext): Promise<ExitCode | undefined> {
  // --json applies to errors found while parsing the rest of the line too
  if (args.includes("--json") || args.includes("-json")) ctx.reportErrorsAsJson()
  const parsed = parseCommandLine(args, flagSpecs, ctx, helpText)
  if (parsed === undefined) return undefined
  if (flagIsSet(parsed, "json")) ctx.reportErrorsAsJson()
  const file = singleFile(parsed, ctx.invokedAs)
  const inPlace = flagIsSet(parsed, "inPlace")
  const extractText = flagValue(parsed, "extract")
  const extractPath = extractText === undefined ? undefined : parseTreePath(extractText)
  if (inPlace && extractPath !== undefined) {
    throw new UsageError("--extract can't be used with --in-place", {
      hints: ["use --output to write the extracted value to a file"],
    })
  }
  const stores = chooseStores(parsed, file)
  const destination = chooseDestination(parsed, file, inPlace)

  const io = commandIo(ctx)
  const out = await decryptSopsFile(
    {
      file,
      input: stores.input,
      output: stores.output,
      extract: extractPath,
      ignoreMac: flagIsSet(parsed, "ignoreMac"),
    },
    io,
  )
  if (destination.kind === "stdout" && ctx.stdout.isTTY && isBinary(out)) {
    // docs/conventions.md "CLI output": never write binary to a terminal unless asked.
    throw new UsageError(
      `${JSON.stringify(file)} decrypts to binary data, which is not shown on a terminal`,
      {
        hints: ["write it to a file with --output FILE, or pipe it: coffer decrypt FILE | …"],
      },
    )
  }
  await writeResult(destination, out, ctx, io, { plaintext: true })
  return undefined
}

/** Whether output holds a NUL byte (text never does). */
function isBinary(out: string | Uint8Array): boolean {
  return typeof out === "string" ? out.includes("\u0000") : out.includes(0)
}
