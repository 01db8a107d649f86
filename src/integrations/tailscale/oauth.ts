/**
 * Minting a single-use auth key with an OAuth client secret (docs/tailscale.md "OAuth"):
 * the client-credentials exchange at `POST {api}/api/v2/oauth/token`, then `POST
 * {api}/api/v2/tailnet/{tailnet}/keys` with the access token, asking for a key that is
 * single-use, not ephemeral (a server that reboots must come back as the same node),
 * pre-authorized (no device approval) and tagged. Sources: Tailscale's API documentation
 * (https://tailscale.com/api, "Keys" and "OAuth"), and the client the Tailscale CLI uses
 * (https://github.com/tailscale/tailscale/blob/v1.102.5/client/tailscale/keys.go,
 * https://github.com/tailscale/tailscale/blob/v1.102.5/feature/oauthkey/oauthkey.go).
 *
 * Should the join fail, the unused key is deleted again with `DELETE
 * {api}/api/v2/tailnet/{tailnet}/keys/{id}` and the same access token.
 *
 * `fetch` is passed in. Neither the secret, the access token nor the key appears in an
 * error: messages quote the API's own `message` (or OAuth `error_description`), which
 * never contains them.
 */
import { OAuthError } from "./errors.js"

/** What to mint. */
export interface MintRequest {
  /** The API's base URL (`https://api.tailscale.com`). */
  readonly apiUrl: string
  /** The tailnet, `-` for the OAuth client's own. */
  readonly tailnet: string
  /** The client secret (`tskey-client-…`). */
  readonly clientSecret: string
  /** Tags for the key (required: keys minted by an OAuth client must be tagged). */
  readonly tags: readonly string[]
  /** The key's lifetime in seconds (it is used right away; short limits a leak). */
  readonly expirySeconds: number
  /** The key's description in the admin console (at most 50 characters). */
  readonly description: string
  /** Abort the requests (the overall timeout). */
  readonly signal?: AbortSignal
}

/** A minted key. */
export interface MintedKey {
  /** The key's id, for revoking it. */
  readonly id: string
  /** The secret itself: written to a private 0600 file and nothing else. */
  readonly key: string
  readonly expires: string | null
  /**
   * The access token the key was minted with, kept in memory to revoke the key should the
   * join fail (it is valid for an hour; never written anywhere).
   */
  readonly accessToken: string
}

/** Which key to revoke. */
export interface RevokeRequest {
  readonly apiUrl: string
  readonly tailnet: string
  /** The key's id, as the API answered it. */
  readonly id: string
  /** The access token the key was minted with. */
  readonly accessToken: string
  readonly signal?: AbortSignal
}

/** The `fetch` coffer needs (Node's global one by default). */
export type Fetch = (url: string, init: RequestInit) => Promise<Response>

/**
 * The client id sent with the secret: Tailscale's secret names its client
 * (`tskey-client-<id>-<secret>`), and the Go CLI sends a placeholder id because the secret
 * alone identifies the client.
 */
export function clientIdOf(secret: string): string {
  const m = /^tskey-client-([A-Za-z0-9]+)-/.exec(secret)
  return m?.[1] ?? "coffer"
}

function endpoint(apiUrl: string, path: string): string {
  return `${apiUrl.replace(/\/+$/, "")}${path}`
}

async function reasonOf(response: Response): Promise<string> {
  let body: unknown
  try {
    body = await response.json()
  } catch {
    return `HTTP ${String(response.status)}`
  }
  if (typeof body === "object" && body !== null) {
    const b = body as Record<string, unknown>
    // Tailscale's API errors are {"message": …}; OAuth errors are {"error", "error_description"}.
    const detail = [b["message"], b["error_description"], b["error"]].find(
      (v): v is string => typeof v === "string" && v !== "",
    )
    if (detail !== undefined) return `HTTP ${String(response.status)}: ${detail.slice(0, 300)}`
  }
  return `HTTP ${String(response.status)}`
}

async function send(
  fetcher: Fetch,
  url: string,
  init: RequestInit,
  what: string,
): Promise<Response> {
  try {
    return await fetcher(url, init)
  } catch (cause) {
    const detail =
      cause instanceof Error
        ? ((cause.cause as { code?: string } | undefined)?.code ?? cause.message)
        : String(cause)
    throw new OAuthError(
      `can't reach the Tailscale API at ${JSON.stringify(url)} (${what}): ${detail}`,
      {
        hints: ["check --api-url and that this host reaches it"],
        cause,
      },
    )
  }
}

/**
 * Exchanges the client secret for an access token, then creates the key.
 * @returns the minted key
 * @throws OAuthError naming the endpoint and the API's reason
 */
export async function mintAuthKey(
  request: MintRequest,
  fetcher: Fetch = fetch,
): Promise<MintedKey> {
  if (request.tags.length === 0) {
    throw new OAuthError("an OAuth client can only mint tagged keys: give --advertise-tags")
  }
  const tokenUrl = endpoint(request.apiUrl, "/api/v2/oauth/token")
  const tokenResponse = await send(
    fetcher,
    tokenUrl,
    {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: new URLSearchParams({
        grant_type: "client_credentials",
        client_id: clientIdOf(request.clientSecret),
        client_secret: request.clientSecret,
      }).toString(),
      ...(request.signal === undefined ? {} : { signal: request.signal }),
    },
    "token exchange",
  )
  if (!tokenResponse.ok) {
    throw new OAuthError(
      `the Tailscale API at ${JSON.stringify(tokenUrl)} refused the OAuth client secret: ${await reasonOf(tokenResponse)}`,
      {
        hints: [
          "check the secret in the file given with --oauth-client-secret-file (it may have been revoked)",
        ],
      },
    )
  }
  const token = (await tokenResponse.json().catch(() => null)) as { access_token?: unknown } | null
  const accessToken = token?.access_token
  if (typeof accessToken !== "string" || accessToken === "") {
    throw new OAuthError(`the Tailscale API at ${JSON.stringify(tokenUrl)} sent no access_token`)
  }

  const keysUrl = endpoint(
    request.apiUrl,
    `/api/v2/tailnet/${encodeURIComponent(request.tailnet)}/keys`,
  )
  const keyResponse = await send(
    fetcher,
    keysUrl,
    {
      method: "POST",
      headers: {
        authorization: `Bearer ${accessToken}`,
        "content-type": "application/json",
        accept: "application/json",
      },
      body: JSON.stringify({
        capabilities: {
          devices: {
            create: {
              reusable: false,
              ephemeral: false,
              preauthorized: true,
              tags: [...request.tags],
            },
          },
        },
        expirySeconds: Math.max(1, Math.ceil(request.expirySeconds)),
        description: request.description.slice(0, 50),
      }),
      ...(request.signal === undefined ? {} : { signal: request.signal }),
    },
    "creating an auth key",
  )
  if (!keyResponse.ok) {
    throw new OAuthError(
      `the Tailscale API at ${JSON.stringify(keysUrl)} refused to create an auth key: ${await reasonOf(keyResponse)}`,
      {
        hints: [
          "the OAuth client needs the auth_keys scope, and every --advertise-tags tag must be one of its tags (or owned by them)",
        ],
      },
    )
  }
  const created = (await keyResponse.json().catch(() => null)) as {
    id?: unknown
    key?: unknown
    expires?: unknown
  } | null
  if (typeof created?.key !== "string" || created.key === "") {
    throw new OAuthError(`the Tailscale API at ${JSON.stringify(keysUrl)} sent no key`)
  }
  return {
    id: typeof created.id === "string" || typeof created.id === "number" ? String(created.id) : "",
    key: created.key,
    expires: typeof created.expires === "string" ? created.expires : null,
    accessToken,
  }
}

/**
 * Deletes a key (`DELETE {api}/api/v2/tailnet/{tailnet}/keys/{id}`), so that a key minted
 * for a join that failed cannot join anything later. An answer of 404 (the key is gone
 * already: used, expired or deleted) counts as revoked.
 * @throws OAuthError naming the endpoint and the API's reason
 */
export async function revokeAuthKey(request: RevokeRequest, fetcher: Fetch = fetch): Promise<void> {
  if (request.id === "") {
    throw new OAuthError("the Tailscale API gave the minted key no id, so it can't be revoked")
  }
  const url = endpoint(
    request.apiUrl,
    `/api/v2/tailnet/${encodeURIComponent(request.tailnet)}/keys/${encodeURIComponent(request.id)}`,
  )
  const response = await send(
    fetcher,
    url,
    {
      method: "DELETE",
      headers: { authorization: `Bearer ${request.accessToken}`, accept: "application/json" },
      ...(request.signal === undefined ? {} : { signal: request.signal }),
    },
    "revoking an auth key",
  )
  if (response.ok || response.status === 404) {
    await response.body?.cancel()
    return
  }
  throw new OAuthError(
    `the Tailscale API at ${JSON.stringify(url)} refused to revoke the key: ${await reasonOf(response)}`,
  )
}
