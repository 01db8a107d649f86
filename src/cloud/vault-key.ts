/**
 * Vault transit keys as text (docs/formats/sops-cloud-keys.md "Vault transit"): the key URI
 * `https://VAULT:8200/v1/ENGINE_PATH/keys/KEY_NAME` of `--hc-vault-transit`,
 * `SOPS_VAULT_URIS` and rules, read as sops's `NewMasterKeyFromURI` reads it. Pure.
 */
import type { OpaqueMasterKey } from "../sops/metadata.js"
import { UsageError } from "../internal/errors.js"

/**
 * @param uri the key URI
 * @returns the key's naming fields (`vault_address`, `engine_path`, `key_name`)
 * @throws UsageError when the URI has no scheme or is not a transit key path
 */
export function vaultKeyFromUri(uri: string): OpaqueMasterKey {
  let url: URL
  try {
    url = new URL(uri)
  } catch (cause) {
    throw new UsageError(`${JSON.stringify(uri)} is not a Vault URL`, {
      cause,
      hints: ["write it as https://vault.example.com:8200/v1/transit/keys/KEY_NAME"],
    })
  }
  const path = url.pathname
  // spec: sops refuses a Vault behind a path prefix, and needs /vN/ENGINE/…/KEY
  if (
    /\/[^/]+\/v\d+\/[^/]+\/[^/]+\/[^/]+/.test(path) ||
    !/\/v\d+\/[^/]+\/[^/]+\/[^/]+/.test(path)
  ) {
    throw new UsageError(`${JSON.stringify(uri)} is not a Vault transit key URI`, {
      hints: [
        "write it as https://vault.example.com:8200/v1/transit/keys/KEY_NAME (no path prefix)",
      ],
    })
  }
  const dirs = path.replace(/^\/+|\/+$/g, "").split("/")
  return {
    fields: {
      vault_address: `${url.protocol}//${url.host}`,
      engine_path: dirs.slice(1, -2).join("/"),
      key_name: dirs.at(-1) ?? "",
    },
  }
}

/**
 * A comma-separated list of key URIs (`NewMasterKeysFromURIs`); empty entries are skipped.
 * @throws UsageError for a URI sops would refuse
 */
export function vaultKeysFromUris(text: string): OpaqueMasterKey[] {
  return text
    .split(",")
    .filter((uri) => uri !== "")
    .map(vaultKeyFromUri)
}
