/**
 * The keys and settings of a new sops file (docs/formats/sops.md ".sops.yaml", "Commands"):
 * keys given on the command line (`--age`, `--pgp`, or `SOPS_AGE_RECIPIENTS`/`SOPS_PGP_FP`)
 * form one key group; otherwise the first creation rule of `.sops.yaml` that matches the
 * file decides (found with `--config`, `SOPS_CONFIG` or from the working directory upward).
 * Unlike sops (issue #1790), explicit keys work even when no rule matches.
 *
 * Shared by `encrypt` and `edit` (new files) and by `updatekeys`.
 */
import type { WorkflowIo } from "./io.js"
import { describeSystemError } from "../system/system-error.js"
import type { ConfigParseOptions, CreationRule, SopsConfig } from "../policy/config.js"
import { locateSopsConfig, parseSopsConfig } from "../policy/config.js"
import { ConfigError, ConfigNotFoundError, NoMatchingRuleError } from "../policy/errors.js"
import { matchCreationRule } from "../policy/match.js"
import type { KeyGroupRecipients, WrappedDataKey } from "../sops/data-key.js"
import { wrapDataKey } from "../sops/data-key.js"
import type { ValueSelector } from "../sops/metadata.js"
import { UsageError } from "../internal/errors.js"
import { vaultKeysFromUris } from "../cloud/vault-key.js"
import { gcpKmsKeysFromList, kmsKeysFromArnList, parseKmsContext } from "../cloud/aws-kms-key.js"

/** How a new file is encrypted. */
export interface NewFileKeys {
  readonly keyGroups: readonly KeyGroupRecipients[]
  /** From `--shamir-secret-sharing-threshold`, else the rule's, else 0. */
  readonly shamirThreshold: number
  /** The rule's selector (command-line selectors override it in the caller). */
  readonly selector: ValueSelector | undefined
  readonly macOnlyEncrypted: boolean
  /** The rule used, when the keys came from `.sops.yaml`. */
  readonly rule: CreationRule | undefined
}

/** What the command line said about keys. */
export interface KeyFlags {
  /** `--config PATH`. */
  readonly config?: string | undefined
  /** `--age` values (comma-separated strings). */
  readonly age: readonly string[]
  /** `--pgp` values (comma-separated strings). */
  readonly pgp: readonly string[]
  /** `--kms` values (comma-separated ARNs, `ARN+ROLE_ARN` for a role); default `SOPS_KMS_ARN`. */
  readonly kms?: readonly string[]
  /** `--gcp-kms` values (comma-separated resource IDs); default `SOPS_GCP_KMS_IDS`. */
  readonly gcpKms?: readonly string[]
  /** `--hc-vault-transit` values (comma-separated key URIs); default `SOPS_VAULT_URIS`. */
  readonly vault?: readonly string[]
  /** `--aws-profile`: the profile written into new `--kms` keys. */
  readonly awsProfile?: string | undefined
  /**
   * `--encryption-context` (`k1:v1,k2:v2`): for `--kms` keys only; as with `sops encrypt`,
   * a rule's keys keep the context the rule gives them.
   */
  readonly encryptionContext?: string | undefined
  /** `--shamir-secret-sharing-threshold`, when given. */
  readonly threshold?: number | undefined
  /** `--allow-unknown-config-keys`: keys of `.sops.yaml` sops does not know are warnings. */
  readonly allowUnknownConfigKeys?: boolean | undefined
}

/** What finding `.sops.yaml` needs. */
export type SopsConfigIo = Pick<WorkflowIo, "cwd" | "env" | "exists" | "readFile" | "warn">

/** Splits comma-separated keys (flags, else the environment variable), trimmed, empties dropped. */
export function splitKeyList(flags: readonly string[], fromEnv: string | undefined): string[] {
  const sources = flags.length > 0 ? flags : fromEnv === undefined ? [] : [fromEnv]
  return sources
    .flatMap((s) => s.split(","))
    .map((s) => s.trim())
    .filter((s) => s !== "")
}

/**
 * Finds and parses `.sops.yaml`; warns about ignored `.sops.yml` files and unknown fields.
 * @param io the working directory, `SOPS_CONFIG`, reading files, warnings
 * @param explicit `--config PATH`
 * @param options whether keys sops does not know are allowed
 * @returns the config, or undefined when none was found (an explicit path must exist)
 * @throws ConfigError when the file can't be read or parsed (UnknownConfigKeyError for a
 *   key sops does not know)
 */
export async function loadSopsConfig(
  io: SopsConfigIo,
  explicit: string | undefined,
  options: ConfigParseOptions = {},
): Promise<{ readonly config: SopsConfig | undefined; readonly searched: readonly string[] }> {
  const location = locateSopsConfig(
    { cwd: io.cwd, explicit, env: io.env["SOPS_CONFIG"] },
    { exists: (path) => io.exists(path) },
  )
  for (const ignored of location.ignored) {
    io.warn(`${ignored} is ignored: sops (and coffer) only read files named .sops.yaml`)
  }
  if (location.path === undefined) return { config: undefined, searched: location.searched }
  let text: string
  try {
    // read as readFileSync(path, "utf8") reads (invalid UTF-8 becomes U+FFFD)
    text = Buffer.from(await io.readFile(location.path)).toString("utf8")
  } catch (cause) {
    throw new ConfigError(
      `can't read the config ${JSON.stringify(location.path)}: ${describeSystemError(cause)}`,
      {
        cause,
        hints: [
          location.source === "flag"
            ? "check the path given with --config"
            : location.source === "env"
              ? "check the path in SOPS_CONFIG"
              : "check the file's permissions",
        ],
      },
    )
  }
  const config = parseSopsConfig(text, location.path, options)
  for (const warning of config.warnings) io.warn(warning)
  return { config, searched: location.searched }
}

/**
 * The creation rule for a file.
 * @throws ConfigNotFoundError when there is no config (listing where it was looked for),
 *   NoMatchingRuleError, PathRegexError, ConfigError
 */
export async function creationRuleFor(
  io: SopsConfigIo,
  file: string,
  explicitConfig: string | undefined,
  options: ConfigParseOptions = {},
): Promise<{
  readonly rule: CreationRule
  readonly config: SopsConfig
  readonly matchedPath: string
}> {
  const { config, searched } = await loadSopsConfig(io, explicitConfig, options)
  if (config === undefined) {
    const shown = searched.length > 3 ? [...searched.slice(0, 3), "…"] : searched
    throw new ConfigNotFoundError("no .sops.yaml found, and no keys were given", {
      hints: [
        `looked for ${shown.join(", ")} (up to the root)`,
        "pass --age RECIPIENT or --pgp FINGERPRINT, or add a .sops.yaml with creation_rules",
      ],
    })
  }
  const match = matchCreationRule(config, file, io.cwd)
  return { rule: match.rule, config, matchedPath: match.matchedPath }
}

/**
 * The keys and settings for a new file: explicit keys, else its creation rule.
 * @param io the environment (`SOPS_AGE_RECIPIENTS`, `SOPS_PGP_FP`) and the config lookup
 * @param file the file being created (as given on the command line)
 * @param flags `--config`, `--age`, `--pgp`, the threshold
 * @returns the key groups, threshold, selector and `mac_only_encrypted`
 * @throws ConfigNotFoundError, NoMatchingRuleError, ConfigError, PathRegexError;
 *   ConfigError when the matching rule lists no keys
 */
export async function newFileKeys(
  io: SopsConfigIo,
  file: string,
  flags: KeyFlags,
): Promise<NewFileKeys> {
  const age = splitKeyList(flags.age, io.env["SOPS_AGE_RECIPIENTS"])
  const pgp = splitKeyList(flags.pgp, io.env["SOPS_PGP_FP"]).map((fp) => fp.replaceAll(" ", ""))
  const contextText = flags.encryptionContext ?? ""
  const context = parseKmsContext(contextText)
  if (contextText !== "" && context === undefined) {
    throw new UsageError(`invalid KMS encryption context format ${JSON.stringify(contextText)}`, {
      hints: ["write it as name:value pairs separated by commas: app:web,env:prod"],
    })
  }
  // spec: --kms (else SOPS_KMS_ARN) is one comma-separated text, as sops's MasterKeysFromArnString reads it
  const kmsText =
    (flags.kms ?? []).length > 0 ? (flags.kms ?? []).join(",") : (io.env["SOPS_KMS_ARN"] ?? "")
  const kms = kmsKeysFromArnList(kmsText, context, flags.awsProfile ?? "")
  const gcpText =
    (flags.gcpKms ?? []).length > 0
      ? (flags.gcpKms ?? []).join(",")
      : (io.env["SOPS_GCP_KMS_IDS"] ?? "")
  const gcp = gcpKmsKeysFromList(gcpText)
  const vault = vaultKeysFromUris(
    (flags.vault ?? []).length > 0
      ? (flags.vault ?? []).join(",")
      : (io.env["SOPS_VAULT_URIS"] ?? ""),
  )
  const configOptions: ConfigParseOptions = { allowUnknownKeys: flags.allowUnknownConfigKeys }
  if (age.length > 0 || pgp.length > 0 || kms.length > 0 || gcp.length > 0 || vault.length > 0) {
    // Explicit keys replace the rule's; the rule (if one matches) still gives its settings.
    let rule: CreationRule | undefined
    try {
      rule = (await creationRuleFor(io, file, flags.config, configOptions)).rule
    } catch (e) {
      if (!(e instanceof ConfigNotFoundError || e instanceof NoMatchingRuleError)) throw e
    }
    return {
      keyGroups: [
        {
          age,
          pgp,
          opaque: {
            ...(kms.length > 0 ? { kms } : {}),
            ...(gcp.length > 0 ? { gcp_kms: gcp } : {}),
            ...(vault.length > 0 ? { hc_vault: vault } : {}),
          },
        },
      ],
      shamirThreshold: flags.threshold ?? 0,
      selector: rule?.selector,
      macOnlyEncrypted: rule?.macOnlyEncrypted ?? false,
      rule: undefined,
    }
  }
  const { rule, config, matchedPath } = await creationRuleFor(io, file, flags.config, configOptions)
  if (rule.keyGroups.length === 0) {
    throw new ConfigError(
      `${JSON.stringify(config.path)}${rule.line === undefined ? "" : ` line ${String(rule.line)}`}: creation rule ${String(rule.index + 1)} matches ${JSON.stringify(matchedPath)} but lists no keys`,
      { hints: ["add age: or pgp: keys (or key_groups) to the rule, or pass --age/--pgp"] },
    )
  }
  return {
    keyGroups: rule.keyGroups,
    shamirThreshold: flags.threshold ?? rule.shamirThreshold,
    selector: rule.selector,
    macOnlyEncrypted: rule.macOnlyEncrypted,
    rule,
  }
}

/**
 * Wraps a new data key for the chosen keys (PGP through gpg).
 * @returns the key groups with `enc` filled in, and the threshold to store
 * @throws MasterKeyError, RecipientParseError, ShamirError, PgpError
 */
export async function wrapForNewFile(
  dataKey: Uint8Array,
  keys: NewFileKeys,
  io: Pick<WorkflowIo, "gpg" | "cloud">,
): Promise<WrappedDataKey> {
  const pgp = io.gpg()
  const hasCloud = keys.keyGroups.some((g) =>
    Object.values(g.opaque ?? {}).some((l) => l.length > 0),
  )
  const cloud = hasCloud ? io.cloud?.() : undefined
  return wrapDataKey(dataKey, keys.keyGroups, {
    threshold: keys.shamirThreshold,
    pgp,
    ...(cloud === undefined ? {} : { cloud }),
  })
}
