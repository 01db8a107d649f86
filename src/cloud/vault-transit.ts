/**
 * HashiCorp Vault's transit engine over its HTTP API with plain `fetch`
 * (docs/formats/sops-cloud-keys.md "Vault transit"): `PUT {vault_address}/v1/{engine_path}
 * /encrypt/{key_name}` with `{"plaintext": base64}` answers `{"data": {"ciphertext":
 * "vault:v1:…"}}`, which is the `enc` sops stores as is; `…/decrypt/{key_name}` with
 * `{"ciphertext"}` answers `{"data": {"plaintext": base64}}`. The token is `VAULT_TOKEN`,
 * else the contents of `~/.vault-token`, sent as `X-Vault-Token`; `VAULT_NAMESPACE` is sent
 * as `X-Vault-Namespace`, as Vault's own client does.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describeCloudKey, encOf } from "../sops/cloud-keys.js"
import type { OpaqueMasterKey } from "../sops/metadata.js"
import {
  CloudAccessDeniedError,
  CloudCiphertextError,
  CloudCredentialsError,
  CloudKeyNotFoundError,
  CloudServiceError,
} from "./errors.js"
import type { CloudKeyError } from "./errors.js"

type Env = Readonly<Record<string, string | undefined>>

/** Vault transit for `CloudKeyPort` (`port.ts`). */
export interface VaultTransit {
  encrypt(key: OpaqueMasterKey, dataKey: Uint8Array): Promise<string>
  decrypt(key: OpaqueMasterKey): Promise<Uint8Array>
}

/**
 * @param env the environment (`VAULT_TOKEN`, `VAULT_NAMESPACE`, `HOME`)
 * @returns Vault transit
 */
export function createVaultTransit(env: Env): VaultTransit {
  const call = async (
    key: OpaqueMasterKey,
    action: "encrypt" | "decrypt",
    body: Record<string, string>,
  ): Promise<Record<string, unknown>> => {
    const text = (name: string): string =>
      typeof key.fields[name] === "string" ? key.fields[name] : ""
    const address = text("vault_address").replace(/\/+$/, "")
    const path = [text("engine_path"), action, text("key_name")].join("/")
    const token = vaultToken(env)
    if (token === "") {
      throw new CloudCredentialsError(
        `${describeCloudKey("hc_vault", key)}: no Vault token found`,
        {
          hints: [
            "Vault tokens were looked for in:",
            "  VAULT_TOKEN",
            `  ${env["HOME"] ?? "~"}/.vault-token (written by vault login)`,
            "run vault login, or set VAULT_TOKEN",
          ],
        },
      )
    }
    const namespace = env["VAULT_NAMESPACE"] ?? ""
    let response: Response
    try {
      response = await fetch(`${address}/v1/${path}`, {
        // spec: Vault's own client (and so sops) writes with PUT; Vault takes PUT and POST alike
        method: "PUT",
        headers: {
          "x-vault-token": token,
          "content-type": "application/json",
          ...(namespace === "" ? {} : { "x-vault-namespace": namespace }),
        },
        body: JSON.stringify(body),
      })
    } catch (error) {
      const cause = error as { cause?: { code?: unknown }; message?: unknown }
      throw new CloudServiceError(
        `${describeCloudKey("hc_vault", key)}: Vault could not be reached at ${address} (${typeof cause.cause?.code === "string" ? cause.cause.code : String(cause.message)})`,
        { cause: error, hints: ["check the vault_address of the key and the network"] },
      )
    }
    const raw = await response.text()
    let json: Record<string, unknown> = {}
    try {
      json = JSON.parse(raw) as Record<string, unknown>
    } catch {
      // described by the status below
    }
    if (!response.ok) throw describeVaultError(key, action, path, response.status, json)
    const data = json["data"]
    return typeof data === "object" && data !== null ? (data as Record<string, unknown>) : {}
  }
  return {
    encrypt: async (key, dataKey) => {
      const data = await call(key, "encrypt", {
        plaintext: Buffer.from(dataKey).toString("base64"),
      })
      const ciphertext = data["ciphertext"]
      if (typeof ciphertext !== "string") {
        throw new CloudServiceError(
          `${describeCloudKey("hc_vault", key)}: Vault returned no ciphertext`,
        )
      }
      return ciphertext
    },
    decrypt: async (key) => {
      const data = await call(key, "decrypt", { ciphertext: encOf("hc_vault", key) })
      const plaintext = data["plaintext"]
      if (typeof plaintext !== "string") {
        throw new CloudServiceError(
          `${describeCloudKey("hc_vault", key)}: Vault returned no plaintext`,
        )
      }
      return new Uint8Array(Buffer.from(plaintext, "base64"))
    },
  }
}

/** `VAULT_TOKEN`, else `~/.vault-token` (trimmed), else "". */
function vaultToken(env: Env): string {
  const token = env["VAULT_TOKEN"] ?? ""
  if (token !== "") return token
  const home = env["HOME"] ?? ""
  if (home === "") return ""
  try {
    return readFileSync(join(home, ".vault-token"), "utf8").trim()
  } catch {
    return ""
  }
}

/** An error answer (`{"errors": [...]}`) as the class that says why. */
function describeVaultError(
  key: OpaqueMasterKey,
  action: "encrypt" | "decrypt",
  path: string,
  status: number,
  json: Record<string, unknown>,
): CloudKeyError {
  const errors = Array.isArray(json["errors"]) ? (json["errors"] as unknown[]).map(String) : []
  const detail = `HTTP ${String(status)}${errors.length === 0 ? "" : `: ${errors.join("; ")}`}`
  const what = `${describeCloudKey("hc_vault", key)}: failed to ${action} the sops data key with Vault transit backend '${path}'`
  if (status === 403 || status === 401) {
    return new CloudAccessDeniedError(`${what}: access denied (${detail})`, {
      hints: [`check that the token's policy allows update on ${path}`],
    })
  }
  if (errors.some((e) => /key not found|no such key|not found/i.test(e)) || status === 404) {
    return new CloudKeyNotFoundError(`${what}: no such key (${detail})`, {
      hints: ["check the engine path and key name, and that the transit engine is mounted there"],
    })
  }
  if (status === 400 && action === "decrypt") {
    return new CloudCiphertextError(`${what}: the key does not open this ciphertext (${detail})`, {
      hints: [
        "the enc may belong to another key, be damaged, or be older than the key's min_decryption_version",
      ],
    })
  }
  return new CloudServiceError(`${what}: ${detail}`)
}
