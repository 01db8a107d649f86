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
import { flagIsSet, flagValue, flagValues, type FlagSpec, type ParsedFlags } from "../flags.js"
import { kmsKeysFromArnList, parseKmsContext } from "../../cloud/aws-kms-key.js"
import type { OpaqueMasterKey } from "../../sops/metadata.js"
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
  { key: "addKms", names: ["add-kms"], kind: "value" },
  { key: "rmKms", names: ["rm-kms"], kind: "value" },
  { key: "awsProfile", names: ["aws-profile"], kind: "value" },
  { key: "encryptionContext", names: ["encryption-context"], kind: "value" },
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
    --add-kms ARNS        Add AWS KMS keys (comma separated; ARN+ROLE_ARN for a role).
    --rm-kms ARNS         Remove AWS KMS keys, written as sops shows them
                          (ARN[+ROLE][|CONTEXT[|PROFILE]]).
    --aws-profile NAME, --encryption-context K:V,…
                          The profile and KMS encryption context of the --add-kms and
                          --rm-kms keys.
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
      ...kmsEdits(parsed),
    },
    io,
  )
  await writeResult(destination, result, ctx, io)
  return undefined
}

/** `--add-kms`, `--rm-kms` with `--encryption-context` and `--aws-profile`, as sops reads them. */
function kmsEdits(parsed: ParsedFlags): {
  addKms: OpaqueMasterKey[]
  removeKms: OpaqueMasterKey[]
} {
  const context = parseKmsContext(flagValue(parsed, "encryptionContext") ?? "")
  const profile = flagValue(parsed, "awsProfile") ?? ""
  const keys = (name: string): OpaqueMasterKey[] =>
    kmsKeysFromArnList(flagValues(parsed, name).join(","), context, profile)
  return { addKms: keys("addKms"), removeKms: keys("rmKms") }
}

function split(values: readonly string[]): string[] {
  return values
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter((v) => v !== "")
}
