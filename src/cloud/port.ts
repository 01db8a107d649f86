/**
 * The `CloudKeyPort` of the command line (docs/formats/sops-cloud-keys.md "Loading"): each
 * cloud's client module, and with it that cloud's SDK, is imported the first time a key of
 * its type is used, so a command on an age-only file never loads any of them.
 */
import type { CloudKeyPort } from "../sops/cloud-keys.js"
import type { OpaqueKeyType } from "../sops/metadata.js"
import type { AwsKms } from "./aws-kms.js"
import type { GcpKms } from "./gcp-kms.js"
import type { VaultTransit } from "./vault-transit.js"

/** What the cloud clients are configured with. */
export interface CloudPortOptions {
  /** The environment (credentials, endpoints, `VAULT_ADDR`…). */
  readonly env: Readonly<Record<string, string | undefined>>
}

/**
 * @param options the environment
 * @returns the port: AWS KMS, GCP KMS and Vault transit; other types report themselves
 *   unsupported
 */
export function createCloudKeyPort(options: CloudPortOptions): CloudKeyPort {
  let aws: Promise<AwsKms> | undefined
  const awsKms = (): Promise<AwsKms> =>
    (aws ??= import("./aws-kms.js").then((m) => m.createAwsKms(options.env)))
  let gcp: Promise<GcpKms> | undefined
  const gcpKms = (): Promise<GcpKms> =>
    (gcp ??= import("./gcp-kms.js").then((m) => m.createGcpKms(options.env)))
  let vault: Promise<VaultTransit> | undefined
  const vaultTransit = (): Promise<VaultTransit> =>
    (vault ??= import("./vault-transit.js").then((m) => m.createVaultTransit(options.env)))
  const supported: readonly OpaqueKeyType[] = ["kms", "gcp_kms", "hc_vault"]
  return {
    supports: (type) => supported.includes(type),
    encrypt: async (type, key, dataKey) => {
      if (type === "kms") return (await awsKms()).encrypt(key, dataKey)
      if (type === "gcp_kms") return (await gcpKms()).encrypt(key, dataKey)
      if (type === "hc_vault") return (await vaultTransit()).encrypt(key, dataKey)
      throw new Error(`no client for ${type} keys`)
    },
    decrypt: async (type, key) => {
      if (type === "kms") return (await awsKms()).decrypt(key)
      if (type === "gcp_kms") return (await gcpKms()).decrypt(key)
      if (type === "hc_vault") return (await vaultTransit()).decrypt(key)
      throw new Error(`no client for ${type} keys`)
    },
  }
}
