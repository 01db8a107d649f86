/**
 * Turns what the `tailscale` client printed into one error class per failure people must
 * tell apart (docs/tailscale.md "Failures"). Pure.
 *
 * The client's messages are read as tailscale v1.102.5 and headscale v0.29.2 print them
 * (observed on loopback, see test/tailscale/): `backend error: <control's reason>` when the
 * control server refuses a login, `timeout waiting for Tailscale service to enter a Running
 * state` when `--timeout` runs out, and the daemon's health line `The last login error was:
 * …` saying why. Keys are scrubbed from everything quoted.
 */
import type { ToolError } from "../../internal/errors.js"
import {
  AuthKeyRejectedError,
  ControlUnreachableError,
  DaemonUnreachableError,
  JoinTimeoutError,
  OAuthError,
  SettingsRejectedError,
  TailscaleClientError,
} from "./errors.js"

/** What one run of the client did. */
export interface ClientOutcome {
  /** The subcommand, for messages (`status`, `up`, `set`, `debug prefs`). */
  readonly command: string
  /** The exit status; null when it was killed. */
  readonly exitCode: number | null
  readonly stdout: string
  readonly stderr: string
  /** coffer stopped it at the deadline. */
  readonly timedOut: boolean
}

/** What the classifier knows around the failure. */
export interface FailureContext {
  /** The control server's URL as declared (or Tailscale's). */
  readonly controlUrl: string
  /** The daemon's socket, for "not running" messages. */
  readonly socket: string
  /** The daemon's health lines, read after the failure when it still answered. */
  readonly health: readonly string[]
  /** The backend state read after the failure, when known. */
  readonly backendState: string | null
  /** Where the key came from (`file "/run/secrets/tailscale_authkey"`), for messages. */
  readonly keyOrigin: string | null
  /** The overall timeout, in seconds, for messages. */
  readonly timeoutSeconds: number
  /** Key texts to scrub from anything quoted (the key file's content, a minted key). */
  readonly secrets: readonly string[]
}

const daemonPattern =
  /failed to connect to local tailscale|connect to local Tailscale daemon|dial unix [^:]*: connect:/i
const connectionPattern =
  /connection refused|no such host|i\/o timeout|network is unreachable|no route to host|context deadline exceeded|tls handshake|dial tcp|fetch control key|unexpected EOF|\b50[234]\b|service unavailable|bad gateway|unable to connect to the (tailscale )?coordination server/i
const keyPattern =
  /auth[- ]?key|invalid key|key (has )?expired|expired key|already (been )?used|revoked|unable to validate|not authorized|unauthorized/i
const settingsPattern =
  /flag provided but not defined|invalid value|invalid argument|requires mentioning all|can't change --login-server|^tag: |non-address bits|not a valid|invalid hostname|oauth authkeys require/im
const tagsPattern = /requested tags .* are invalid or not permitted/i
const oauthPattern = /oauth2:|Status: 40[13]|Message: /

/**
 * Replaces key texts, and anything shaped like a Tailscale or headscale key, with a
 * placeholder.
 * @param text anything the client printed
 * @param secrets exact texts to remove as well
 */
export function scrubSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text
  for (const secret of secrets) {
    const trimmed = secret.trim()
    if (trimmed.length >= 8) out = out.split(trimmed).join("[key]")
  }
  return out.replace(/\b(tskey|hskey)-[A-Za-z0-9_-]+(\?[^\s"']*)?/g, "$1-[redacted]")
}

/** The first meaningful line of the client's output (its usage text is dropped). */
function firstLine(text: string): string {
  const line = text
    .split("\n")
    .map((l) => l.trim())
    .find((l) => l !== "" && !l.startsWith("{") && !l.startsWith("}") && !l.startsWith('"'))
  return (line ?? "").replace(/^(error|fatal): /i, "")
}

/** The daemon's own explanation of the last failed login, from its health lines. */
export function lastLoginError(health: readonly string[]): string | null {
  for (const line of health) {
    const m = /The last login error was: (.*)$/.exec(line)
    if (m?.[1] !== undefined) return m[1].trim()
  }
  return null
}

function keyHints(reason: string): string[] {
  if (/already (been )?used/i.test(reason)) {
    return [
      "a single-use key registers one device: put a new key (reusable or pre-approved) in the secret, or use an OAuth client secret so coffer mints a fresh key for each join",
    ]
  }
  if (/expired/i.test(reason)) {
    return [
      "auth keys expire (at most 90 days on Tailscale): create a new one, or use --oauth-client-secret-file so coffer mints a fresh key at each join",
    ]
  }
  return ["check that the secret holds a current auth key for this control server"]
}

/**
 * Classifies a failed run of the client.
 * @returns the error to throw (never containing a key)
 */
export function classifyFailure(outcome: ClientOutcome, context: FailureContext): ToolError {
  const scrub = (t: string): string => scrubSecrets(t, context.secrets)
  const printed = scrub(`${outcome.stderr}\n${outcome.stdout}`)
  const server = JSON.stringify(context.controlUrl)
  const keyFrom = context.keyOrigin === null ? "" : ` from ${context.keyOrigin}`

  if (daemonPattern.test(printed)) {
    return new DaemonUnreachableError(
      `tailscaled does not answer on ${JSON.stringify(context.socket)}`,
      {
        hints: [
          "start it (systemctl start tailscaled), or give its socket with --socket",
          scrub(firstLine(printed)),
        ].filter((h) => h !== ""),
      },
    )
  }

  const backend = /backend error: (.*)/.exec(printed)?.[1]?.trim()
  if (backend !== undefined && tagsPattern.test(backend)) {
    return new SettingsRejectedError(`control server ${server} refused the tags: ${backend}`, {
      hints: [
        "the key's owner must own the tags (tagOwners); headscale gives a tagged pre-auth key's tags to the node itself and refuses --advertise-tags with any pre-auth key: leave the tags out, or use --oauth-client-secret-file",
      ],
    })
  }
  if (backend !== undefined) {
    if (connectionPattern.test(backend)) return controlUnreachable(server, backend, context)
    if (keyPattern.test(backend)) {
      return new AuthKeyRejectedError(
        `control server ${server} refused the auth key${keyFrom}: ${backend}`,
        { hints: keyHints(backend) },
      )
    }
    return new TailscaleClientError(`control server ${server} refused the login: ${backend}`)
  }

  if (oauthPattern.test(printed) && /tskey-client|oauth/i.test(printed)) {
    return new OAuthError(
      `the client could not mint a key with the OAuth client secret${keyFrom}: ${firstLine(printed)}`,
      {
        hints: [
          "the OAuth client needs the auth_keys scope and must own every --advertise-tags tag",
        ],
      },
    )
  }

  if (settingsPattern.test(printed)) {
    return new SettingsRejectedError(
      `tailscale ${outcome.command} refused the settings: ${firstLine(printed)}`,
      { hints: ["check --hostname, --advertise-tags, --advertise-routes and --extra-up-flag"] },
    )
  }

  const timedOut =
    outcome.timedOut ||
    /timeout waiting for Tailscale service to enter a Running state/.test(printed)
  if (timedOut) {
    const last = lastLoginError(context.health)
    if (last !== null) {
      const reason = scrub(last)
      if (connectionPattern.test(reason)) return controlUnreachable(server, reason, context)
      if (keyPattern.test(reason)) {
        return new AuthKeyRejectedError(
          `control server ${server} refused the auth key${keyFrom}: ${reason}`,
          { hints: keyHints(reason) },
        )
      }
    }
    const unreachable = context.health.find((h) => connectionPattern.test(h))
    if (unreachable !== undefined) return controlUnreachable(server, scrub(unreachable), context)
    const state = context.backendState === null ? "" : ` (state ${context.backendState})`
    return new JoinTimeoutError(
      `tailscaled did not reach Running within ${String(context.timeoutSeconds)}s${state}`,
      {
        hints: [
          ...context.health.map((h) => `tailscaled: ${scrub(h)}`),
          "raise --timeout, or see why with: tailscale status; tailscale debug derp",
        ],
      },
    )
  }

  const line = firstLine(printed)
  return new TailscaleClientError(
    `tailscale ${outcome.command} failed (exit ${String(outcome.exitCode)})${line === "" ? "" : `: ${line}`}`,
  )
}

function controlUnreachable(
  server: string,
  reason: string,
  context: FailureContext,
): ControlUnreachableError {
  return new ControlUnreachableError(`control server ${server} is unreachable: ${reason}`, {
    hints: [
      `coffer retried for ${String(context.timeoutSeconds)}s; check that the server runs and that this host reaches it, or raise --timeout`,
    ],
  })
}
