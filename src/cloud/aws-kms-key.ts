/**
 * AWS KMS master keys as text (docs/formats/sops-cloud-keys.md "AWS KMS"): the ARN forms
 * sops accepts, `ARN+ROLE_ARN` in `--kms` and `SOPS_KMS_ARN`, the encryption context as
 * `--encryption-context` writes it (`k1:v1,k2:v2`), the region taken from the ARN, and the
 * STS session name `sops@HOSTNAME`. Pure.
 */
import type { OpaqueMasterKey } from "../sops/metadata.js"

/** The ARNs sops accepts for a KMS key; group 1 is the region (sops's `arnRegex`). */
const KMS_ARN = /^arn:aws[\w-]*:kms:(.+):[0-9]+:(key|alias)\/.+$/

/**
 * @param arn the key's ARN
 * @returns its region, or undefined when it is not a KMS key or alias ARN
 */
export function regionOfKmsArn(arn: string): string | undefined {
  return KMS_ARN.exec(arn)?.[1]
}

/**
 * Parses `--encryption-context` (`k1:v1,k2:v2`) as sops's `ParseKMSContext` does: a pair
 * that is not exactly `name:value` makes the whole context be ignored (sops warns).
 * @param text the flag's value
 * @returns the context, or undefined when there is none or it is ignored
 */
export function parseKmsContext(text: string): Record<string, string> | undefined {
  if (text === "") return undefined
  const out: Record<string, string> = {}
  for (const pair of text.split(",")) {
    const parts = pair.split(":")
    if (parts.length !== 2) return undefined
    out[parts[0] ?? ""] = parts[1] ?? ""
  }
  return out
}

/**
 * One `--kms` entry as sops's `NewMasterKeyFromArn` reads it: spaces removed, and
 * `ARN+arn:…` split into the key and the role to assume.
 * @param text the entry
 * @param context the encryption context (`--encryption-context`), if any
 * @param awsProfile `--aws-profile`, or ""
 * @returns the key's naming fields
 */
export function kmsKeyFromArn(
  text: string,
  context: Readonly<Record<string, string>> | undefined,
  awsProfile: string,
): OpaqueMasterKey {
  let arn = text.replaceAll(" ", "")
  let role = ""
  // spec: an ARN path cannot hold ':', so '+arn:' separates the key's ARN from the role's
  const roleIndex = arn.indexOf("+arn:")
  if (roleIndex > 0) {
    role = arn.slice(roleIndex + 1)
    arn = arn.slice(0, roleIndex)
  }
  return {
    fields: {
      arn,
      ...(role === "" ? {} : { role }),
      ...(context === undefined ? {} : { context: { ...context } }),
      aws_profile: awsProfile,
    },
  }
}

/**
 * A comma-separated list of `--kms` entries (`MasterKeysFromArnString`).
 * @returns the keys, none for ""
 */
export function kmsKeysFromArnList(
  text: string,
  context: Readonly<Record<string, string>> | undefined,
  awsProfile: string,
): OpaqueMasterKey[] {
  if (text === "") return []
  return text.split(",").map((entry) => kmsKeyFromArn(entry, context, awsProfile))
}

/**
 * `--gcp-kms` and `SOPS_GCP_KMS_IDS` as sops's `MasterKeysFromResourceIDString` reads them:
 * comma-separated resource IDs, spaces removed.
 * @returns the keys' naming fields, none for ""
 */
export function gcpKmsKeysFromList(text: string): OpaqueMasterKey[] {
  if (text === "") return []
  return text.split(",").map((id) => ({ fields: { resource_id: id.replaceAll(" ", "") } }))
}

/** The longest STS role session name AWS accepts. */
const ROLE_SESSION_NAME_LIMIT = 64

/**
 * The STS role session name sops uses: `sops@` and the hostname without the characters
 * sops's `stsSessionRegex` removes, cut to 64 characters.
 * @param hostname the machine's host name
 * @returns the session name
 */
export function stsSessionName(hostname: string): string {
  // spec: the class is sops's `[^a-zA-Z0-9=,.@-_]`, where `@-_` is a range (@ to _)
  const name = `sops@${hostname.replace(/[^a-zA-Z0-9=,.@-_]+/g, "")}`
  return name.length >= ROLE_SESSION_NAME_LIMIT ? name.slice(0, ROLE_SESSION_NAME_LIMIT) : name
}

/**
 * A KMS key as sops's `ToString` writes it (`ARN[+ROLE][|CONTEXT[|PROFILE]]`, the context
 * as sorted `name:value` pairs): what `--rm-kms` is compared with.
 * @param key the key's fields
 * @returns the text
 */
export function kmsKeyString(key: OpaqueMasterKey): string {
  const text = (v: unknown): string => (typeof v === "string" ? v : "")
  const arn = text(key.fields["arn"])
  const role = text(key.fields["role"])
  const arnRole = role === "" ? arn : `${arn}+${role}`
  const raw = key.fields["context"]
  const pairs =
    typeof raw === "object" && raw !== null && !Array.isArray(raw)
      ? Object.entries(raw as Record<string, unknown>)
          .filter(([, v]) => v !== null && v !== undefined)
          .map(([k, v]) => [k, typeof v === "string" ? v : String(v)] as const)
      : []
  pairs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  const context = pairs.map(([k, v]) => `${k}:${v}`).join(",")
  const profile = text(key.fields["aws_profile"])
  if (profile !== "") return `${arnRole}|${context}|${profile}`
  if (context !== "") return `${arnRole}|${context}`
  return arnRole
}
