/**
 * `coffer groups add|delete`: sops's key group commands (docs/formats/sops.md "Key groups
 * and Shamir", "Commands"). `add` appends a key group of `--age`/`--pgp` keys; `delete
 * INDEX` removes the group at a 0-based index. The data key stays; it is split again with
 * Shamir into one share per group (threshold: `--shamir-secret-sharing-threshold`, else the
 * file's; 0 means all groups), so every group's keys are wrapped again. Values,
 * `lastmodified` and the MAC are untouched. The result goes to standard output, or back
 * into the file with `-i`.
 */
import type { CliContext } from "../command.js"
import type { ExitCode } from "../exit-codes.js"
import { flagIsSet, flagValue, flagValues, type FlagSpec } from "../flags.js"
import { versionLine } from "../help.js"
import {
  chooseDestination,
  chooseStores,
  commandIo,
  parseFlagsAnywhere,
  writeResult,
} from "../sops-file.js"
import { UsageError } from "../../internal/errors.js"
import { kmsKeysFromArnList, parseKmsContext } from "../../cloud/aws-kms-key.js"
import type { KeyGroupRecipients } from "../../sops/data-key.js"
import {
  addKeyGroup,
  deleteKeyGroup,
  readKeyGroups,
  writeKeyGroups,
} from "../../workflows/key-group-edit.js"

/** The flags of `coffer groups add` and `delete` (also read by `coffer completion`). */
export const flagSpecs: readonly FlagSpec[] = [
  { key: "file", names: ["file", "f"], kind: "value" },
  { key: "inPlace", names: ["i", "in-place"], kind: "boolean" },
  { key: "age", names: ["age"], kind: "value" },
  { key: "pgp", names: ["pgp"], kind: "value" },
  { key: "kms", names: ["kms"], kind: "value" },
  { key: "awsProfile", names: ["aws-profile"], kind: "value" },
  { key: "encryptionContext", names: ["encryption-context"], kind: "value" },
  { key: "threshold", names: ["shamir-secret-sharing-threshold"], kind: "value" },
  { key: "inputType", names: ["input-type"], kind: "value" },
  { key: "outputType", names: ["output-type"], kind: "value" },
]

/** The subcommands of `coffer groups` (also read by `coffer completion`). */
export const subcommands: readonly string[] = ["add", "delete"]

function helpText(invokedAs: string): string {
  return `Usage:
    ${invokedAs} add --file FILE [-i] [--age R]... [--pgp FP]... [--kms ARN]... [--shamir-secret-sharing-threshold N]
    ${invokedAs} delete --file FILE [-i] [--shamir-secret-sharing-threshold N] INDEX

Adds or deletes a key group of a sops file. With several groups the data key is split
with Shamir's secret sharing: each group's keys decrypt one share, and any N groups (the
threshold) recover the data key. The data key and the values stay the same.

Flags:
    --file FILE           The sops file.
    -i, --in-place        Replace FILE (atomically, keeping its mode) instead of printing.
    --age R               add: an age recipient of the new group (repeatable, or comma
                          separated; age1… or an SSH public key).
    --pgp FP              add: a PGP fingerprint of the new group (repeatable).
    --kms ARN             add: an AWS KMS key of the new group (repeatable, or comma
                          separated; ARN+ROLE_ARN for a role), with --aws-profile NAME
                          and --encryption-context K:V,… if needed.
    --shamir-secret-sharing-threshold N
                          How many groups are needed (default: the file's; 0 = all).

Examples:
    $ ${invokedAs} add --file app.yaml -i --age age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p --shamir-secret-sharing-threshold 2
    $ ${invokedAs} delete --file app.yaml -i 1
`
}

/**
 * Runs `coffer groups`.
 * @throws UsageError, IoError, DataKeyError, MasterKeyError, ShamirError, store errors
 */
export async function run(args: readonly string[], ctx: CliContext): Promise<ExitCode | undefined> {
  const [sub, ...rest] = args
  if (sub === undefined || sub === "-h" || sub === "--help" || sub === "help") {
    ;(sub === undefined ? ctx.stderr : ctx.stdout).write(helpText(ctx.invokedAs))
    if (sub === undefined) throw new UsageError(`${ctx.invokedAs} needs add or delete`)
    return undefined
  }
  if (!subcommands.includes(sub)) {
    throw new UsageError(`unknown subcommand ${JSON.stringify(sub)}`, {
      hints: [`use ${ctx.invokedAs} add or ${ctx.invokedAs} delete`],
    })
  }
  const command = `${ctx.invokedAs} ${sub}`
  const parsed = parseFlagsAnywhere(rest, flagSpecs, command)
  if (parsed.help) {
    ctx.stdout.write(helpText(ctx.invokedAs))
    return undefined
  }
  if (parsed.version) {
    ctx.stdout.write(versionLine())
    return undefined
  }
  const file = flagValue(parsed, "file")
  if (file === undefined) {
    throw new UsageError(`${command} needs --file FILE`, { hints: [`run "${command} --help"`] })
  }
  const stores = chooseStores(parsed, file)
  const destination = chooseDestination(parsed, file, flagIsSet(parsed, "inPlace"))
  const thresholdFlag = parseThreshold(flagValue(parsed, "threshold"))
  const io = commandIo(ctx)
  const read = await readKeyGroups(file, stores.input, io)
  const { groups } = read
  let next: KeyGroupRecipients[]
  if (sub === "add") {
    if (parsed.positionals.length > 0) {
      throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[0])}`)
    }
    const age = split(flagValues(parsed, "age"))
    const pgp = split(flagValues(parsed, "pgp")).map((fp) => fp.replace(/\s+/g, ""))
    const kms = kmsKeysFromArnList(
      split(flagValues(parsed, "kms")).join(","),
      parseKmsContext(flagValue(parsed, "encryptionContext") ?? ""),
      flagValue(parsed, "awsProfile") ?? "",
    )
    if (age.length === 0 && pgp.length === 0 && kms.length === 0) {
      throw new UsageError("the new key group needs keys", {
        hints: ["pass --age RECIPIENT, --pgp FINGERPRINT or --kms ARN (repeatable)"],
      })
    }
    next = addKeyGroup(groups, { age, pgp, ...(kms.length > 0 ? { opaque: { kms } } : {}) })
  } else {
    const [indexText, ...extra] = parsed.positionals
    if (indexText === undefined || extra.length > 0 || !/^\d+$/.test(indexText)) {
      throw new UsageError(`${command} needs one INDEX (0-based)`, {
        hints: [
          `the file has ${String(groups.length)} key group(s): 0 to ${String(groups.length - 1)}`,
        ],
      })
    }
    next = deleteKeyGroup(groups, Number(indexText), file, indexText)
  }
  const result = await writeKeyGroups(read, next, thresholdFlag, stores.output, io)
  await writeResult(destination, result, ctx, io)
  return undefined
}

function parseThreshold(text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  if (!/^\d+$/.test(text) || Number(text) > 255) {
    throw new UsageError(
      `--shamir-secret-sharing-threshold must be a number from 0 to 255, got ${JSON.stringify(text)}`,
    )
  }
  return Number(text)
}

function split(values: readonly string[]): string[] {
  return values
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter((v) => v !== "")
}
