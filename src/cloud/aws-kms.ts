/**
 * AWS KMS through the official SDK (docs/formats/sops-cloud-keys.md "AWS KMS",
 * "Credentials"): `Encrypt` and `Decrypt` on the key's ARN with its encryption context, in
 * the region the ARN names, with the credentials sops 3.13 would use: the key's
 * `aws_profile` when set (then the profile wins over environment keys), else
 * `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, else the SDK's default chain (profile files,
 * SSO, `credential_process`, web identity, container and instance metadata). A `role` is
 * assumed through STS first, as `sops@HOSTNAME`. Endpoints come from the SDK's own settings
 * (`AWS_ENDPOINT_URL_KMS`, `AWS_ENDPOINT_URL`, a profile's `endpoint_url`), as in sops.
 *
 * This module imports the SDK when it is loaded, and `port.ts` loads it only for a file
 * that has `kms` keys, so other commands never pay for it.
 */
import { hostname } from "node:os"
import { DecryptCommand, EncryptCommand, KMSClient } from "@aws-sdk/client-kms"
import {
  fromEnv,
  fromNodeProviderChain,
  fromTemporaryCredentials,
} from "@aws-sdk/credential-providers"
import { describeCloudKey, encryptionContextOf, encOf } from "../sops/cloud-keys.js"
import type { OpaqueMasterKey } from "../sops/metadata.js"
import { regionOfKmsArn, stsSessionName } from "./aws-kms-key.js"
import {
  CloudAccessDeniedError,
  CloudCiphertextError,
  CloudCredentialsError,
  CloudKeyDisabledError,
  CloudKeyError,
  CloudKeyNotFoundError,
  CloudServiceError,
} from "./errors.js"

type Env = Readonly<Record<string, string | undefined>>

/** AWS KMS for `CloudKeyPort` (`port.ts`). */
export interface AwsKms {
  encrypt(key: OpaqueMasterKey, dataKey: Uint8Array): Promise<string>
  decrypt(key: OpaqueMasterKey): Promise<Uint8Array>
}

/** Standard base64 with padding, as Go's `base64.StdEncoding` reads it. */
const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/**
 * @param env the environment (for messages and the environment-keys rule)
 * @returns AWS KMS
 */
export function createAwsKms(env: Env): AwsKms {
  const clients = new Map<string, KMSClient>()
  const clientFor = (key: OpaqueMasterKey): KMSClient => {
    const arn = text(key.fields["arn"])
    const region = regionOfKmsArn(arn)
    if (region === undefined) {
      throw new CloudKeyNotFoundError(
        `${describeCloudKey("kms", key)}: no valid ARN found in ${JSON.stringify(arn)}`,
        {
          hints: ["write it as arn:aws:kms:REGION:ACCOUNT:key/KEY_ID (or alias/NAME)"],
        },
      )
    }
    const profile = text(key.fields["aws_profile"])
    const role = text(key.fields["role"])
    const cacheKey = JSON.stringify([region, profile, role])
    let client = clients.get(cacheKey)
    if (client === undefined) {
      const base = baseCredentials(env, profile)
      const credentials =
        role === ""
          ? base
          : fromTemporaryCredentials({
              params: { RoleArn: role, RoleSessionName: stsSessionName(hostname()) },
              masterCredentials: base,
              clientConfig: { region, ...(profile === "" ? {} : { profile }) },
            })
      client = quietly(
        () => new KMSClient({ region, credentials, ...(profile === "" ? {} : { profile }) }),
      )
      clients.set(cacheKey, client)
    }
    return client
  }
  return {
    encrypt: async (key, dataKey) => {
      const client = clientFor(key)
      const context = encryptionContextOf(key)
      try {
        const out = await client.send(
          new EncryptCommand({
            KeyId: text(key.fields["arn"]),
            Plaintext: dataKey,
            ...(Object.keys(context).length === 0 ? {} : { EncryptionContext: { ...context } }),
          }),
        )
        if (out.CiphertextBlob === undefined) {
          throw new CloudServiceError(`${describeCloudKey("kms", key)}: KMS returned no ciphertext`)
        }
        return Buffer.from(out.CiphertextBlob).toString("base64")
      } catch (error) {
        throw describeAwsError(error, key, "encrypt", env)
      }
    },
    decrypt: async (key) => {
      const enc = encOf("kms", key)
      if (!STD_BASE64.test(enc)) {
        throw new CloudCiphertextError(
          `${describeCloudKey("kms", key)}: its enc is not base64 (error base64-decoding encrypted data key)`,
        )
      }
      const client = clientFor(key)
      const context = encryptionContextOf(key)
      try {
        const out = await client.send(
          new DecryptCommand({
            KeyId: text(key.fields["arn"]),
            CiphertextBlob: Buffer.from(enc, "base64"),
            ...(Object.keys(context).length === 0 ? {} : { EncryptionContext: { ...context } }),
          }),
        )
        if (out.Plaintext === undefined) {
          throw new CloudServiceError(`${describeCloudKey("kms", key)}: KMS returned no plaintext`)
        }
        return new Uint8Array(out.Plaintext)
      } catch (error) {
        throw describeAwsError(error, key, "decrypt", env)
      }
    },
  }
}

/**
 * Runs `make` without the SDK's warning that its releases after January 2027 need Node 22
 * (coffer pins a release that supports Node 20; the warning would land on every command's
 * standard error). The variable is set for the call only, never for child processes.
 */
function quietly<T>(make: () => T): T {
  const name = "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED"
  const before = process.env[name]
  process.env[name] = "true"
  try {
    return make()
  } finally {
    if (before === undefined) Reflect.deleteProperty(process.env, name)
    else process.env[name] = before
  }
}

function text(value: unknown): string {
  return typeof value === "string" ? value : ""
}

/**
 * The credentials sops's `config.LoadDefaultConfig` resolves: a profile given in the file
 * wins; else static environment keys; else the whole default chain (which also reads
 * `AWS_PROFILE`).
 */
function baseCredentials(env: Env, profile: string): ReturnType<typeof fromNodeProviderChain> {
  if (profile !== "") return fromNodeProviderChain({ profile })
  if (nonEmpty(env["AWS_ACCESS_KEY_ID"]) && nonEmpty(env["AWS_SECRET_ACCESS_KEY"])) return fromEnv()
  return fromNodeProviderChain()
}

function nonEmpty(value: string | undefined): boolean {
  return value !== undefined && value !== ""
}

/** Where the SDK looked for credentials, for the hint of CloudCredentialsError. */
function credentialPlaces(env: Env, profile: string): string[] {
  const chosen =
    profile !== ""
      ? `profile ${JSON.stringify(profile)} (aws_profile of the key)`
      : nonEmpty(env["AWS_PROFILE"])
        ? `profile ${JSON.stringify(env["AWS_PROFILE"])} (AWS_PROFILE)`
        : 'profile "default"'
  const home = env["HOME"] ?? "~"
  return [
    "AWS credentials were looked for in:",
    ...(profile === "" ? ["  the environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"] : []),
    `  ${chosen} in ${env["AWS_SHARED_CREDENTIALS_FILE"] ?? `${home}/.aws/credentials`} and ${env["AWS_CONFIG_FILE"] ?? `${home}/.aws/config`} (keys, SSO, credential_process, role_arn)`,
    "  web identity: AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN",
    "  container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or AWS_CONTAINER_CREDENTIALS_FULL_URI",
    env["AWS_EC2_METADATA_DISABLED"]?.toLowerCase() === "true"
      ? "  EC2 instance metadata: skipped (AWS_EC2_METADATA_DISABLED=true)"
      : "  EC2 instance metadata (IMDS)",
    "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run aws sso login / aws configure",
  ]
}

interface SdkError {
  readonly name?: unknown
  readonly message?: unknown
  readonly code?: unknown
  readonly $metadata?: { readonly httpStatusCode?: unknown }
}

/** The SDK's error as the class that says why, naming the key. */
function describeAwsError(
  error: unknown,
  key: OpaqueMasterKey,
  action: "encrypt" | "decrypt",
  env: Env,
): CloudKeyError {
  if (error instanceof CloudKeyError) return error
  const e = (typeof error === "object" && error !== null ? error : {}) as SdkError
  const name = typeof e.name === "string" ? e.name : ""
  const detail = typeof e.message === "string" ? e.message : String(error)
  const what = `${describeCloudKey("kms", key)}: failed to ${action} the sops data key with AWS KMS`
  const role = text(key.fields["role"])
  const profile = text(key.fields["aws_profile"])
  const opts = { cause: error }
  if (name === "CredentialsProviderError" || /could not load credentials/i.test(detail)) {
    return new CloudCredentialsError(`${what}: no AWS credentials found`, {
      ...opts,
      hints: credentialPlaces(env, profile),
    })
  }
  if (
    [
      "AccessDeniedException",
      "AccessDenied",
      "UnrecognizedClientException",
      "InvalidSignatureException",
      "InvalidClientTokenId",
      "ExpiredTokenException",
      "ExpiredToken",
      "SignatureDoesNotMatch",
    ].includes(name)
  ) {
    return new CloudAccessDeniedError(`${what}: access denied (${name}: ${detail})`, {
      ...opts,
      hints: [
        role === ""
          ? "check that the credentials in use may call kms:Encrypt and kms:Decrypt on this key (key policy and IAM)"
          : `check that the credentials may assume ${role} and that the role may use this key`,
      ],
    })
  }
  if (name === "DisabledException" || name === "KMSInvalidStateException") {
    return new CloudKeyDisabledError(`${what}: the key is not usable (${name}: ${detail})`, {
      ...opts,
      hints: [
        "enable the key (aws kms enable-key), or cancel its deletion, or use another master key",
      ],
    })
  }
  if (name === "NotFoundException") {
    return new CloudKeyNotFoundError(`${what}: no such key (${detail})`, {
      ...opts,
      hints: ["check the ARN and its region, and the account of the credentials"],
    })
  }
  if (name === "InvalidCiphertextException" || name === "IncorrectKeyException") {
    return new CloudCiphertextError(`${what}: the key does not open this ciphertext (${name})`, {
      ...opts,
      hints: ["the enc may belong to another key or be damaged, or the encryption context differs"],
    })
  }
  const code = typeof e.code === "string" ? e.code : ""
  if (code !== "" && e.$metadata?.httpStatusCode === undefined) {
    return new CloudServiceError(`${what}: KMS could not be reached (${code})`, {
      ...opts,
      hints: [
        "check the network, or the endpoint in AWS_ENDPOINT_URL_KMS / AWS_ENDPOINT_URL if one is set",
      ],
    })
  }
  return new CloudServiceError(`${what}: ${name === "" ? "" : `${name}: `}${detail}`, opts)
}
