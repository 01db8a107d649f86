/**
 * `coffer rotate FILE`: sops's `rotate` (sops-format.md §12): decrypt, optionally add and
 * remove master keys (`--add-age`, `--rm-age`, `--add-pgp`, `--rm-pgp`: added keys go to
 * the first key group, removals match the key in every group), make a **new data key** and
 * re-encrypt every value, so every ciphertext, `lastmodified` and the MAC change. Like
 * sops it does not read `.sops.yaml`. The result goes to standard output, or back into
 * FILE with `-i` (atomically, keeping the mode).
 */
import type { CliContext } from "../command.js"
import type { ExitCode } from "../exit-codes.js"
import { flagIsSet, flagValues, type FlagSpec } from "../flags.js"
import { recipientsOf, rewriteKeys } from "../key-groups.js"
import {
  chooseDestination,
  chooseStores,
  parseCommandLine,
  readInputFile,
  singleFile,
  writeResult,
} from "../sops-file.js"
import { recoverDataKey } from "../sops-keys.js"
import { createGpgPort, gpgOptionsFromEnv } from "../../keys/pgp.js"
import type { KeyGroupRecipients } from "../../sops/data-key.js"

/** The flags of `coffer rotate` (also read by `coffer completion`). */
export const flagSpecs: readonly FlagSpec[] = [
  { key: "inPlace", names: ["i", "in-place"], kind: "boolean" },
  { key: "addAge", names: ["add-age"], kind: "value" },
  { key: "rmAge", names: ["rm-age"], kind: "value" },
  { key: "addPgp", names: ["add-pgp"], kind: "value" },
  { key: "rmPgp", names: ["rm-pgp"], kind: "value" },
  { key: "inputType", names: ["input-type"], kind: "value" },
  { key: "outputType", names: ["output-type"], kind: "value" },
  { key: "output", names: ["output"], kind: "value" },
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
    --output FILE         Write the result to FILE.
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
  const text = await readInputFile(file)
  const { metadata } = stores.input.parseEncrypted(text)
  const groups = changeGroups(metadata.keyGroups.map(recipientsOf), {
    addAge: split(flagValues(parsed, "addAge")),
    rmAge: split(flagValues(parsed, "rmAge")),
    addPgp: split(flagValues(parsed, "addPgp")).map(normalizeFp),
    rmPgp: split(flagValues(parsed, "rmPgp")).map(normalizeFp),
  })
  const out = await rewriteKeys(
    text,
    stores.input,
    { groups, threshold: metadata.shamirThreshold, rotate: true },
    {
      recoverDataKey: (m) => recoverDataKey(m, ctx, file),
      pgp: createGpgPort(gpgOptionsFromEnv(ctx.env)),
    },
  )
  const result =
    stores.output.format === stores.input.format
      ? out
      : (() => {
          const reparsed = stores.input.parseEncrypted(out)
          return stores.output.emitEncrypted(reparsed.doc, reparsed.metadata)
        })()
  await writeResult(destination, result, ctx)
  return undefined
}

interface KeyEdits {
  readonly addAge: readonly string[]
  readonly rmAge: readonly string[]
  readonly addPgp: readonly string[]
  readonly rmPgp: readonly string[]
}

/** sops: added keys go to the first group; removal matches the key string in all groups. */
function changeGroups(
  groups: readonly KeyGroupRecipients[],
  edits: KeyEdits,
): KeyGroupRecipients[] {
  return groups.map((group, index) => {
    const age = group.age.filter((r) => !edits.rmAge.includes(r.trim()))
    const pgp = group.pgp.filter((fp) => !edits.rmPgp.includes(normalizeFp(fp)))
    if (index === 0) {
      for (const r of edits.addAge) if (!age.includes(r)) age.push(r)
      for (const fp of edits.addPgp) if (!pgp.some((p) => normalizeFp(p) === fp)) pgp.push(fp)
    }
    return { ...group, age, pgp }
  })
}

function split(values: readonly string[]): string[] {
  return values
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter((v) => v !== "")
}

function normalizeFp(fp: string): string {
  return fp.replace(/\s+/g, "").toUpperCase()
}
