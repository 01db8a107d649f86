/**
 * `coffer encrypt FILE`: sops's `encrypt` (docs/formats/sops.md "Which values are
 * encrypted", "Data key and master keys", "Commands"). Parses a plaintext
 * YAML/JSON/dotenv/INI/binary file, makes a new data key, wraps it for every key given with
 * `--age` (age recipients, SSH public keys too) and `--pgp` (fingerprints, through gpg),
 * encrypts the values the selector picks with fresh IVs and writes the sops file.
 *
 * A file that is already encrypted is refused. Keys come from the command line (or
 * `SOPS_AGE_RECIPIENTS`, `SOPS_PGP_FP`), else from the file's creation rule in `.sops.yaml`
 * (docs/formats/sops.md ".sops.yaml", `workflows/creation-rule.ts`). Output goes to
 * standard output, `--output FILE` or back into FILE with `-i` (atomic: the plaintext file
 * is replaced by the encrypted one in one rename).
 */
import type { CliContext } from "../command.js"
import type { ExitCode } from "../exit-codes.js"
import { flagIsSet, flagValue, flagValues, type FlagSpec, type ParsedFlags } from "../flags.js"
import {
  chooseDestination,
  chooseStores,
  commandIo,
  parseCommandLine,
  singleFile,
  writeResult,
} from "../sops-file.js"
import { UsageError } from "../../internal/errors.js"
import type { ValueSelector } from "../../sops/metadata.js"
import type { Store } from "../../sops/stores/index.js"
import { newFileKeys } from "../../workflows/creation-rule.js"
import { encryptSopsFile } from "../../workflows/encrypt.js"

const selectorFlags: readonly ValueSelector["kind"][] = [
  "unencrypted_suffix",
  "encrypted_suffix",
  "unencrypted_regex",
  "encrypted_regex",
  "unencrypted_comment_regex",
  "encrypted_comment_regex",
]

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
  ...selectorFlags.map((kind): FlagSpec => ({
    key: kind,
    names: [kind.replaceAll("_", "-")],
    kind: "value",
  })),
  { key: "macOnlyEncrypted", names: ["mac-only-encrypted"], kind: "boolean" },
  { key: "inPlace", names: ["i", "in-place"], kind: "boolean" },
  { key: "inputType", names: ["input-type"], kind: "value" },
  { key: "outputType", names: ["output-type"], kind: "value" },
  { key: "output", names: ["o", "output"], kind: "value" },
]

function helpText(invokedAs: string): string {
  return `Usage:
    ${invokedAs} [--age RECIPIENTS | --pgp FINGERPRINTS | --kms ARNS] [FLAGS] FILE

Encrypts a plaintext YAML, JSON, dotenv, INI or binary file as sops does: keys stay
readable, values are encrypted with a new data key, and the data key is encrypted for
every key given.

Keys:
    --age RECIPIENTS        age recipients, comma separated: age1…, age1pq1…, or SSH
                            public keys ("ssh-ed25519 AAAA…"). Default: SOPS_AGE_RECIPIENTS.
    --pgp FINGERPRINTS      PGP fingerprints, comma separated (encrypted through gpg).
                            Default: SOPS_PGP_FP.
    -k, --kms ARNS          AWS KMS key ARNs, comma separated; ARN+ROLE_ARN assumes the
                            role first. Default: SOPS_KMS_ARN.
    --aws-profile NAME      The AWS profile for the --kms keys (written into the file).
    --gcp-kms IDS           GCP KMS key resource IDs, comma separated
                            (projects/P/locations/L/keyRings/R/cryptoKeys/K).
                            Default: SOPS_GCP_KMS_IDS.
    --hc-vault-transit URIS Vault transit keys, comma separated
                            (https://vault:8200/v1/transit/keys/NAME; token from
                            VAULT_TOKEN or ~/.vault-token). Default: SOPS_VAULT_URIS.
    --encryption-context K:V,…
                            KMS encryption context for --kms keys and a rule's flat kms list.
    --shamir-secret-sharing-threshold N
                            Stored in the metadata (all keys here form one key group).

Which values are encrypted (at most one; default --unencrypted-suffix _unencrypted):
    --unencrypted-suffix S  Leave values clear whose key path has a key ending in S.
    --encrypted-suffix S    Encrypt only values with a key ending in S on their path.
    --unencrypted-regex R   Leave values clear with a key matching R on their path.
    --encrypted-regex R     Encrypt only values with a key matching R on their path,
                            e.g. '^(data|stringData)$' for Kubernetes secrets.
    --unencrypted-comment-regex R, --encrypted-comment-regex R
                            The same, decided by the comments above a value.
    --mac-only-encrypted    The MAC covers only encrypted values (clear ones may then be
                            edited by hand).

Output:
    -i, --in-place          Replace FILE with the encrypted file (atomically, keeping its mode).
    -o, --output OUT        Write the encrypted file to OUT.
    --input-type TYPE       yaml, json, dotenv, ini or binary (default: from FILE's suffix).
    --output-type TYPE      The encrypted file's format (default: the input's).

Without --age/--pgp/--kms, the keys (and key groups, threshold, selector) come from the first
creation rule in .sops.yaml whose path_regex matches FILE's path relative to the config's
directory. The config is --config PATH, else SOPS_CONFIG, else .sops.yaml in the current
directory or the nearest parent.
    --config PATH           The .sops.yaml to use.
    --allow-unknown-config-keys
                            Warn about keys of .sops.yaml that sops 3.13 does not know
                            (a config for a newer sops) instead of stopping.

Examples:
    $ ${invokedAs} --age age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p secrets.yaml > secrets.enc.yaml
    $ ${invokedAs} -i --age "$(cat /etc/ssh/ssh_host_ed25519_key.pub)" app.env
    $ ${invokedAs} --pgp 85D77543B3D624B63CEA9E6DBC17301B491B3F21 --encrypted-regex '^(data|stringData)$' secret.yaml
    $ ${invokedAs} --kms arn:aws:kms:eu-west-1:111122223333:alias/secrets --encryption-context app:web prod.yaml
`
}

/**
 * Runs `coffer encrypt`.
 * @throws UsageError, IoError, AlreadyEncryptedError (`workflows/encrypt.ts`), the sops
 *   store and crypto errors
 */
export async function run(args: readonly string[], ctx: CliContext): Promise<ExitCode | undefined> {
  const parsed = parseCommandLine(args, flagSpecs, ctx, helpText)
  if (parsed === undefined) return undefined
  const file = singleFile(parsed, ctx.invokedAs)
  const thresholdFlag = flagValue(parsed, "threshold")
  const io = commandIo(ctx)
  // Keys from --age/--pgp, else from the first creation rule in .sops.yaml that matches FILE.
  const keys = await newFileKeys(io, file, {
    config: flagValue(parsed, "config"),
    allowUnknownConfigKeys: flagIsSet(parsed, "allowUnknownConfigKeys"),
    age: flagValues(parsed, "age"),
    pgp: flagValues(parsed, "pgp"),
    kms: flagValues(parsed, "kms"),
    gcpKms: flagValues(parsed, "gcpKms"),
    vault: flagValues(parsed, "vault"),
    awsProfile: flagValue(parsed, "awsProfile"),
    encryptionContext: flagValue(parsed, "encryptionContext"),
    threshold: thresholdFlag === undefined ? undefined : parseThreshold(thresholdFlag),
  })
  const stores = chooseStores(parsed, file)
  const selectorFlagGiven = selectorFlags.some((kind) => flagValue(parsed, kind) !== undefined)
  const selector =
    selectorFlagGiven || stores.input.format === "binary" || keys.selector === undefined
      ? chooseSelector(parsed, stores.input)
      : keys.selector
  const destination = chooseDestination(parsed, file, flagIsSet(parsed, "inPlace"))

  const encrypted = await encryptSopsFile(
    {
      file,
      input: stores.input,
      output: stores.output,
      keys,
      selector,
      macOnlyEncrypted: flagIsSet(parsed, "macOnlyEncrypted") || keys.macOnlyEncrypted,
    },
    io,
  )
  await writeResult(destination, encrypted, ctx, io)
  return undefined
}

function parseThreshold(text: string | undefined): number {
  if (text === undefined) return 0
  if (!/^\d+$/.test(text) || Number(text) > 255) {
    throw new UsageError(
      `--shamir-secret-sharing-threshold must be a number from 0 to 255, got ${JSON.stringify(text)}`,
    )
  }
  return Number(text)
}

/**
 * At most one selector flag; binary files ignore them (sops 3.11+); the default is
 * `_unencrypted`.
 */
function chooseSelector(parsed: ParsedFlags, store: Store): ValueSelector | undefined {
  const given = selectorFlags.flatMap((kind) => {
    const value = flagValue(parsed, kind)
    return value === undefined ? [] : [{ kind, value }]
  })
  if (given.length > 1) {
    throw new UsageError(
      `only one of ${given.map((g) => `--${g.kind.replaceAll("_", "-")}`).join(", ")} can be used`,
      { hints: ["sops files record a single rule for which values are encrypted"] },
    )
  }
  if (store.format === "binary") return undefined
  return given[0] ?? { kind: "unencrypted_suffix", value: "_unencrypted" }
}
