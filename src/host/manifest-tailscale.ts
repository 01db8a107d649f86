/**
 * The manifest's `tailscale` section (docs/manifest.md "Tailscale join"): which secret
 * holds the auth key (or the OAuth client secret), and the node's settings. Pure: checked
 * here, turned into `coffer-tailscale.service` by `units.ts`, read back by `coffer
 * tailscale up --manifest`.
 */
import type { ManifestProblem } from "./errors.js"
import {
  defaultJoinSettings,
  parseDuration,
  settingsProblems,
  type JoinSettings,
} from "../integrations/tailscale/settings.js"

/** The validated section, defaults filled in. */
export interface TailscaleSpec {
  /** The secret holding an auth key (or a `tskey-client-` secret the client exchanges). */
  readonly authKeySecret: string | null
  /** The secret holding an OAuth client secret coffer exchanges for a fresh key. */
  readonly oauthClientSecret: string | null
  /** Where the key secret is installed: what the join reads. */
  readonly keyPath: string
  readonly apiUrl: string
  readonly tailnet: string
  readonly settings: JoinSettings
  /** tailscaled's socket. */
  readonly socket: string
  /** The overall timeout of a join, in milliseconds. */
  readonly timeoutMs: number
  /** The generated unit's name. */
  readonly unit: string
}

/** The fields the section accepts. */
export const tailscaleFields: ReadonlySet<string> = new Set([
  "authKeySecret",
  "oauthClientSecret",
  "apiUrl",
  "tailnet",
  "loginServer",
  "hostname",
  "advertiseTags",
  "advertiseRoutes",
  "advertiseExitNode",
  "acceptDns",
  "acceptRoutes",
  "ssh",
  "extraUpFlags",
  "socket",
  "timeout",
  "unit",
])

/** The unit `coffer units` writes for the join, unless the section names another. */
export const defaultTailscaleUnit = "coffer-tailscale.service"

type Json = Readonly<Record<string, unknown>>

/**
 * Checks the section against the manifest's secrets.
 * @param raw the section's JSON value (an object)
 * @param secretPaths the manifest's secrets: name → installed path
 * @param isUnitName the manifest's unit name check
 * @returns the section, or null when it has problems (pushed to `problems`)
 */
export function checkTailscaleSection(
  raw: Json,
  secretPaths: ReadonlyMap<string, string>,
  isUnitName: (name: string) => boolean,
  problems: ManifestProblem[],
  warn: (message: string) => void,
): TailscaleSpec | null {
  const subject = "tailscale"
  const before = problems.length
  const problem = (field: string, message: string): void => {
    problems.push({ subject, field, message })
  }
  for (const key of Object.keys(raw)) {
    if (!tailscaleFields.has(key)) warn(`tailscale: unknown field ${JSON.stringify(key)} ignored`)
  }
  const string = (field: string): string | null => {
    const v = raw[field]
    if (v === undefined || v === null) return null
    if (typeof v !== "string") {
      problem(field, `${field} is not a string`)
      return null
    }
    return v
  }
  const bool = (field: string, fallback: boolean | null): boolean | null => {
    const v = raw[field]
    if (v === undefined || v === null) return fallback
    if (typeof v !== "boolean") {
      problem(field, `${field} is not true, false or null`)
      return fallback
    }
    return v
  }
  const list = (field: string): string[] => {
    const v = raw[field]
    if (v === undefined || v === null) return []
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) {
      problem(field, `${field} is not a list of strings`)
      return []
    }
    return v
  }

  const authKeySecret = string("authKeySecret")
  const oauthClientSecret = string("oauthClientSecret")
  let keyPath = ""
  if ((authKeySecret === null) === (oauthClientSecret === null)) {
    problem(
      "authKeySecret",
      "give exactly one of authKeySecret and oauthClientSecret (the name of a secret in this manifest)",
    )
  } else {
    const field = authKeySecret !== null ? "authKeySecret" : "oauthClientSecret"
    const name = authKeySecret ?? oauthClientSecret ?? ""
    const path = secretPaths.get(name)
    if (path === undefined) {
      problem(
        field,
        `${field} names the secret ${JSON.stringify(name)}, which this manifest does not have`,
      )
    } else keyPath = path
  }

  const settings: JoinSettings = {
    loginServer: string("loginServer"),
    hostname: string("hostname"),
    advertiseTags: list("advertiseTags"),
    advertiseRoutes: list("advertiseRoutes"),
    advertiseExitNode: bool("advertiseExitNode", false) ?? false,
    acceptDns: bool("acceptDns", defaultJoinSettings.acceptDns),
    acceptRoutes: bool("acceptRoutes", defaultJoinSettings.acceptRoutes),
    ssh: bool("ssh", false) ?? false,
    extraUpFlags: list("extraUpFlags"),
  }
  for (const message of settingsProblems(settings)) problem("", message)
  if (oauthClientSecret !== null && settings.advertiseTags.length === 0) {
    problem(
      "advertiseTags",
      "oauthClientSecret needs advertiseTags: keys minted by an OAuth client are always tagged",
    )
  }

  const apiUrl = string("apiUrl") ?? "https://api.tailscale.com"
  if (!/^https?:\/\/[^\s/]+/.test(apiUrl))
    problem("apiUrl", `apiUrl ${JSON.stringify(apiUrl)} is not an http(s) URL`)
  const tailnet = string("tailnet") ?? "-"
  if (tailnet === "" || /[/\s]/.test(tailnet)) {
    problem("tailnet", `tailnet ${JSON.stringify(tailnet)} is not a tailnet name (or "-")`)
  }
  const socket = string("socket") ?? "/run/tailscale/tailscaled.sock"
  if (!socket.startsWith("/") || /[\n\r\0]/.test(socket)) {
    problem("socket", `socket ${JSON.stringify(socket)} is not an absolute path`)
  }
  const timeoutText = string("timeout") ?? "60s"
  const timeoutMs = parseDuration(timeoutText)
  if (timeoutMs === null) {
    problem(
      "timeout",
      `timeout ${JSON.stringify(timeoutText)} is not a duration such as "60s" or "2m"`,
    )
  }
  const unit = string("unit") ?? defaultTailscaleUnit
  if (!isUnitName(unit) || !unit.endsWith(".service")) {
    problem("unit", `unit ${JSON.stringify(unit)} is not a .service unit name`)
  }
  if (problems.length > before) return null
  return {
    authKeySecret,
    oauthClientSecret,
    keyPath,
    apiUrl,
    tailnet,
    settings,
    socket,
    timeoutMs: timeoutMs ?? 60_000,
    unit,
  }
}
