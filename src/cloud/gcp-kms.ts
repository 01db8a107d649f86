/**
 * Google Cloud KMS through its REST API with plain `fetch` (docs/formats/sops-cloud-keys.md
 * "GCP KMS"): `POST {endpoint}/v1/{resource_id}:encrypt` and `:decrypt`, the data key and
 * ciphertext as base64 in JSON, `enc` the ciphertext in standard base64 as sops writes it.
 * Credentials in sops's order: `GOOGLE_CREDENTIALS` (a file's path or the JSON itself),
 * else `GOOGLE_OAUTH_ACCESS_TOKEN`, else Application Default Credentials through
 * `google-auth-library` (imported only then). The endpoint is `SOPS_GCP_KMS_ENDPOINT`
 * (a URL, or `host:port` for https), else `cloudkms.` and `SOPS_GCP_KMS_UNIVERSE_DOMAIN`,
 * else `https://cloudkms.googleapis.com`.
 */
import { existsSync, readFileSync } from "node:fs"
import { describeCloudKey, encOf } from "../sops/cloud-keys.js"
import type { OpaqueMasterKey } from "../sops/metadata.js"
import {
  CloudAccessDeniedError,
  CloudCiphertextError,
  CloudCredentialsError,
  CloudKeyDisabledError,
  CloudKeyNotFoundError,
  CloudServiceError,
} from "./errors.js"
import type { CloudKeyError } from "./errors.js"

type Env = Readonly<Record<string, string | undefined>>

/** GCP KMS for `CloudKeyPort` (`port.ts`). */
export interface GcpKms {
  encrypt(key: OpaqueMasterKey, dataKey: Uint8Array): Promise<string>
  decrypt(key: OpaqueMasterKey): Promise<Uint8Array>
}

/** sops's check of a key's resource ID. */
const RESOURCE_ID = /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+$/
const SCOPE = "https://www.googleapis.com/auth/cloud-platform"

/**
 * @param env the environment (credentials and endpoint variables)
 * @returns GCP KMS
 */
export function createGcpKms(env: Env): GcpKms {
  let headers: Promise<Record<string, string>> | undefined
  const authHeaders = (key: OpaqueMasterKey): Promise<Record<string, string>> =>
    (headers ??= resolveAuth(env, key))
  const call = async (
    key: OpaqueMasterKey,
    action: "encrypt" | "decrypt",
    body: Record<string, string>,
  ): Promise<Record<string, unknown>> => {
    const id = resourceIdOf(key)
    const url = `${endpointOf(env)}/v1/${id}:${action}`
    let auth: Record<string, string>
    try {
      auth = await authHeaders(key)
    } catch (error) {
      headers = undefined
      throw error
    }
    let response: Response
    try {
      response = await fetch(url, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify(body),
      })
    } catch (error) {
      throw new CloudServiceError(
        `${describeCloudKey("gcp_kms", key)}: GCP KMS could not be reached at ${endpointOf(env)} (${causeText(error)})`,
        { cause: error, hints: ["check the network, or SOPS_GCP_KMS_ENDPOINT if it is set"] },
      )
    }
    const text = await response.text()
    let json: Record<string, unknown> = {}
    try {
      json = JSON.parse(text) as Record<string, unknown>
    } catch {
      // an answer that is not JSON is described by its status below
    }
    if (!response.ok) throw describeGcpError(key, action, response.status, json)
    return json
  }
  return {
    encrypt: async (key, dataKey) => {
      const out = await call(key, "encrypt", {
        name: resourceIdOf(key),
        plaintext: Buffer.from(dataKey).toString("base64"),
      })
      const ciphertext = out["ciphertext"]
      if (typeof ciphertext !== "string") {
        throw new CloudServiceError(
          `${describeCloudKey("gcp_kms", key)}: GCP KMS returned no ciphertext`,
        )
      }
      // spec: sops stores the ciphertext bytes in standard base64
      return Buffer.from(ciphertext, "base64").toString("base64")
    },
    decrypt: async (key) => {
      const enc = encOf("gcp_kms", key)
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(enc) || enc.length % 4 !== 0) {
        throw new CloudCiphertextError(`${describeCloudKey("gcp_kms", key)}: its enc is not base64`)
      }
      // spec: sops's REST client also sends the key's name in the body of a decrypt
      const out = await call(key, "decrypt", { name: resourceIdOf(key), ciphertext: enc })
      const plaintext = out["plaintext"]
      if (typeof plaintext !== "string") {
        throw new CloudServiceError(
          `${describeCloudKey("gcp_kms", key)}: GCP KMS returned no plaintext`,
        )
      }
      return new Uint8Array(Buffer.from(plaintext, "base64"))
    },
  }
}

function resourceIdOf(key: OpaqueMasterKey): string {
  const id = key.fields["resource_id"]
  if (typeof id !== "string" || !RESOURCE_ID.test(id)) {
    throw new CloudKeyNotFoundError(
      `${describeCloudKey("gcp_kms", key)}: no valid resource ID found in ${JSON.stringify(id ?? "")}`,
      { hints: ["write it as projects/P/locations/L/keyRings/R/cryptoKeys/K"] },
    )
  }
  return id
}

/** The REST endpoint, without a final slash. */
function endpointOf(env: Env): string {
  const endpoint = env["SOPS_GCP_KMS_ENDPOINT"] ?? ""
  if (endpoint !== "") {
    const withScheme = /^[a-z]+:\/\//i.test(endpoint) ? endpoint : `https://${endpoint}`
    return withScheme.replace(/\/+$/, "")
  }
  const universe = env["SOPS_GCP_KMS_UNIVERSE_DOMAIN"] ?? ""
  return `https://cloudkms.${universe === "" ? "googleapis.com" : universe}`
}

/** The Authorization header as sops would get it. */
async function resolveAuth(env: Env, key: OpaqueMasterKey): Promise<Record<string, string>> {
  const credentials = env["GOOGLE_CREDENTIALS"] ?? ""
  if (credentials !== "") {
    // spec: sops reads a file when the value names one, else takes the value as the JSON
    const json = existsSync(credentials) ? readFileSync(credentials, "utf8") : credentials
    let parsed: Record<string, unknown>
    try {
      parsed = JSON.parse(json) as Record<string, unknown>
    } catch (cause) {
      throw new CloudCredentialsError(
        `${describeCloudKey("gcp_kms", key)}: GOOGLE_CREDENTIALS is neither a file nor JSON credentials`,
        { cause, hints: ["set GOOGLE_CREDENTIALS to a service account key file or its JSON"] },
      )
    }
    const { GoogleAuth } = await import("google-auth-library")
    return authorize(new GoogleAuth({ credentials: parsed, scopes: [SCOPE] }), key, env)
  }
  const token = env["GOOGLE_OAUTH_ACCESS_TOKEN"] ?? ""
  if (token !== "") return { authorization: `Bearer ${token}` }
  const { GoogleAuth } = await import("google-auth-library")
  return authorize(new GoogleAuth({ scopes: [SCOPE] }), key, env)
}

async function authorize(
  auth: { getRequestHeaders(): Promise<Headers | Record<string, string>> },
  key: OpaqueMasterKey,
  env: Env,
): Promise<Record<string, string>> {
  try {
    const headers = await auth.getRequestHeaders()
    const out: Record<string, string> = {}
    if (headers instanceof Headers) headers.forEach((v, k) => (out[k] = v))
    else Object.assign(out, headers)
    return out
  } catch (cause) {
    const home = env["HOME"] ?? "~"
    throw new CloudCredentialsError(
      `${describeCloudKey("gcp_kms", key)}: no Google credentials found (${causeText(cause)})`,
      {
        cause,
        hints: [
          "Google credentials were looked for in:",
          "  GOOGLE_CREDENTIALS (a service account key file, or its JSON)",
          "  GOOGLE_OAUTH_ACCESS_TOKEN (an OAuth 2.0 access token)",
          `  GOOGLE_APPLICATION_CREDENTIALS, then ${home}/.config/gcloud/application_default_credentials.json`,
          "  the GCE metadata server",
          "run gcloud auth application-default login, or set one of those variables",
        ],
      },
    )
  }
}

function causeText(error: unknown): string {
  const e = error as { message?: unknown; cause?: { code?: unknown } }
  const code = typeof e.cause?.code === "string" ? `${e.cause.code}: ` : ""
  return `${code}${typeof e.message === "string" ? e.message : String(error)}`
}

/** An error answer (`{"error": {"code", "message", "status"}}`) as the class that says why. */
function describeGcpError(
  key: OpaqueMasterKey,
  action: "encrypt" | "decrypt",
  httpStatus: number,
  json: Record<string, unknown>,
): CloudKeyError {
  const error = (json["error"] ?? {}) as { status?: unknown; message?: unknown }
  const status = typeof error.status === "string" ? error.status : `HTTP ${String(httpStatus)}`
  const message = typeof error.message === "string" ? error.message : ""
  const what = `${describeCloudKey("gcp_kms", key)}: failed to ${action} the sops data key with GCP KMS`
  const detail = `${status}${message === "" ? "" : `: ${message}`}`
  if (status === "PERMISSION_DENIED" || status === "UNAUTHENTICATED") {
    return new CloudAccessDeniedError(`${what}: access denied (${detail})`, {
      hints: [
        "check that the credentials have roles/cloudkms.cryptoKeyEncrypterDecrypter on this key",
      ],
    })
  }
  if (status === "NOT_FOUND") {
    return new CloudKeyNotFoundError(`${what}: no such key (${detail})`, {
      hints: ["check the resource ID: project, location, key ring and key name"],
    })
  }
  if (status === "FAILED_PRECONDITION") {
    return new CloudKeyDisabledError(`${what}: the key is not usable (${detail})`, {
      hints: [
        "enable the key's primary version (or the version that encrypted it), or use another master key",
      ],
    })
  }
  if (status === "INVALID_ARGUMENT" && action === "decrypt") {
    return new CloudCiphertextError(`${what}: the key does not open this ciphertext (${detail})`, {
      hints: ["the enc may belong to another key or be damaged"],
    })
  }
  return new CloudServiceError(`${what}: ${detail}`)
}
