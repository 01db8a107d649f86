/**
 * `coffer rotate FILE`: sops's `rotate` (docs/formats/sops.md "Commands"): decrypt,
 * optionally add and remove master keys (`--add-age`, `--rm-age`, `--add-pgp`, `--rm-pgp`:
 * added keys go to the first key group, removals match the key in every group), make a
 * **new data key** and re-encrypt every value, so every ciphertext, `lastmodified` and the
 * MAC change. Like sops it does not read `.sops.yaml`. The result goes to standard output,
 * or back into FILE with `-i` (atomically, keeping the mode).
 */
import type { CliContext } from "../command.js"
import type { ExitCode } from "../exit-codes.js"
import { flagIsSet, flagValues, type FlagSpec } from "../flags.js"
import {
  chooseDestination,
  chooseStores,
  commandIo,
  parseCommandLine,
  singleFile,
  writeResult,
} from "../sops-file.js"
import { rotateSopsFile } from "../../workflows/rotate.js"

/** The flags of `coffer rotate` (also read by `coffer completion`). */
export const flagSpecs: readonly FlagSpec[] = [
  { key: "inPlace", names: ["i", "in-place"], kind: "boolean" },
  { key: "addAge", names: ["add-age"], kind: "value" },
  { key: "rmAge", names: ["rm-age"], kind: "value" },
  { key: "addPgp", names: ["add-pgp"], kind: "value" },
  { key: "rmPgp", names: ["rm-pgp"], kind: "value" },
  { key: "inputType", names: ["input-type"], kind: "value" },
  { key: "outputType", names: ["output-type"], kind: "value" },
  { key: "output", names: ["o", "output"], kind: "value" },
]

function helpText(invokedAs: string): string {
  return `Usage:
    ${invokedAs} [-i] [--add-age R] [--rm-age R] [--add-pgp FP] [--rm-pgp FP] FILE

Makes a new data key for a sops file and re-encrypts every value with it, so a key
removed earlier (or a leaked data key) can't decrypt the new version. Master keys can be
added (to the first key group) or removed (from every group) at the same time. Like sops,
rotate does not read .sops.yaml: use "coffer updatekeys --rotate" to apply the rules and
rotate in one step.

Flags:
    -i, --in-place        Replace FILE (atomically, keeping its mode) instead of printing.
    --add-age R           Add age recipients (comma separated; age1… or SSH public keys).
    --rm-age R            Remove age recipients (comma separated).
    --add-pgp FP          Add PGP fingerprints (comma separated).
    --rm-pgp FP           Remove PGP fingerprints (comma separated).
    -o, --output FILE     Write the result to FILE.
    --input-type TYPE, --output-type TYPE
                          yaml, json, dotenv, ini or binary (default: from FILE's suffix).

Examples:
    $ ${invokedAs} -i secrets/app.yaml
    $ ${invokedAs} -i --rm-age age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p secrets/app.yaml
    $ ${invokedAs} --add-age "$(cat host.pub)" secrets/app.yaml > rotated.yaml
`
}

/**
 * Runs `coffer rotate`.
 * @throws UsageError, IoError, DataKeyError, MasterKeyError, the store and crypto errors
 */
export async function run(args: readonly string[], ctx: CliContext): Promise<ExitCode | undefined> {
  const parsed = parseCommandLine(args, flagSpecs, ctx, helpText)
  if (parsed === undefined) return undefined
  const file = singleFile(parsed, ctx.invokedAs)
  const stores = chooseStores(parsed, file)
  const destination = chooseDestination(parsed, file, flagIsSet(parsed, "inPlace"))
  const io = commandIo(ctx)
  const result = await rotateSopsFile(
    {
      file,
      input: stores.input,
      output: stores.output,
      addAge: split(flagValues(parsed, "addAge")),
      removeAge: split(flagValues(parsed, "rmAge")),
      addPgp: split(flagValues(parsed, "addPgp")),
      removePgp: split(flagValues(parsed, "rmPgp")),
    },
    io,
  )
  await writeResult(destination, result, ctx, io)
  return undefined
}

function split(values: readonly string[]): string[] {
  return values
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter((v) => v !== "")
}
