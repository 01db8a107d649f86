/**
 * What `tailscale status --json` and `tailscale debug prefs` report, read into plain values
 * (docs/tailscale.md "States"). Pure.
 *
 * Field names follow `ipnstate.Status` and `ipn.Prefs` of tailscale v1.102.5
 * (https://github.com/tailscale/tailscale/blob/v1.102.5/ipn/ipnstate/ipnstate.go,
 * https://github.com/tailscale/tailscale/blob/v1.102.5/ipn/prefs.go). Unknown fields are
 * ignored, so newer clients keep working as long as these keep their meaning.
 */
import { TailscaleClientError } from "./errors.js"

/** `ipn.State` as a string (ipn/backend.go). */
export type BackendState =
  | "NoState"
  | "InUseOtherUser"
  | "NeedsLogin"
  | "NeedsMachineAuth"
  | "Stopped"
  | "Starting"
  | "Running"

const backendStates: readonly BackendState[] = [
  "NoState",
  "InUseOtherUser",
  "NeedsLogin",
  "NeedsMachineAuth",
  "Stopped",
  "Starting",
  "Running",
]

/** The parts of `tailscale status --json` a join looks at. */
export interface NodeStatus {
  readonly backendState: BackendState
  /** Whether the profile has a node key (it registered once). */
  readonly haveNodeKey: boolean
  readonly authUrl: string
  readonly tailscaleIps: readonly string[]
  /** `Self.HostName`: the name the node reports (null before the first netmap). */
  readonly hostName: string | null
  /** `Self.DNSName` without its final dot. */
  readonly dnsName: string | null
  /** ACL tags control applied to the node. */
  readonly tags: readonly string[]
  /** `Self.Online`: connected to the control server right now. */
  readonly online: boolean
  /** Health warnings, one line each. */
  readonly health: readonly string[]
  /** `CurrentTailnet.Name`, when connected. */
  readonly tailnet: string | null
  /** The daemon's version. */
  readonly version: string
}

/** The parts of `tailscale debug prefs` a join compares with the declaration. */
export interface NodePrefs {
  readonly controlUrl: string
  readonly hostname: string
  readonly advertiseTags: readonly string[]
  readonly advertiseRoutes: readonly string[]
  /** `CorpDNS` (`--accept-dns`). */
  readonly acceptDns: boolean
  /** `RouteAll` (`--accept-routes`). */
  readonly acceptRoutes: boolean
  /** `RunSSH` (`--ssh`). */
  readonly ssh: boolean
  readonly wantRunning: boolean
  readonly loggedOut: boolean
}

type Json = Readonly<Record<string, unknown>>

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value)
}

function parseJsonObject(text: string, what: string): Json {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (cause) {
    throw new TailscaleClientError(`${what} printed something that is not JSON`, {
      hints: ["check that --tailscale names the tailscale client (v1.102 or later)"],
      cause,
    })
  }
  if (!isObject(value)) throw new TailscaleClientError(`${what} printed JSON that is not an object`)
  return value
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : []
}

function text(value: unknown): string {
  return typeof value === "string" ? value : ""
}

/**
 * Reads `tailscale status --json`.
 * @throws TailscaleClientError when it is not JSON or has no known `BackendState`
 */
export function parseStatus(json: string): NodeStatus {
  const status = parseJsonObject(json, "tailscale status --json")
  const state = status["BackendState"]
  if (typeof state !== "string" || !(backendStates as readonly string[]).includes(state)) {
    throw new TailscaleClientError(
      `tailscale status --json reports an unknown BackendState ${JSON.stringify(state ?? null)}`,
      { hints: ["coffer knows the states of tailscale v1.102; see docs/tailscale.md"] },
    )
  }
  const self = isObject(status["Self"]) ? status["Self"] : {}
  const tailnet = isObject(status["CurrentTailnet"]) ? status["CurrentTailnet"] : null
  const hostName = text(self["HostName"])
  const dnsName = text(self["DNSName"]).replace(/\.$/, "")
  return {
    backendState: state as BackendState,
    haveNodeKey: status["HaveNodeKey"] === true,
    authUrl: text(status["AuthURL"]),
    tailscaleIps: strings(status["TailscaleIPs"]),
    hostName: hostName === "" ? null : hostName,
    dnsName: dnsName === "" ? null : dnsName,
    tags: strings(self["Tags"]),
    online: self["Online"] === true,
    health: strings(status["Health"]),
    tailnet: tailnet === null || text(tailnet["Name"]) === "" ? null : text(tailnet["Name"]),
    version: text(status["Version"]),
  }
}

/**
 * Reads `tailscale debug prefs` (the daemon's preferences, private keys already stripped
 * by the daemon).
 * @throws TailscaleClientError when it is not JSON
 */
export function parsePrefs(json: string): NodePrefs {
  const prefs = parseJsonObject(json, "tailscale debug prefs")
  return {
    controlUrl: text(prefs["ControlURL"]),
    hostname: text(prefs["Hostname"]),
    advertiseTags: strings(prefs["AdvertiseTags"]),
    advertiseRoutes: strings(prefs["AdvertiseRoutes"]),
    acceptDns: prefs["CorpDNS"] === true,
    acceptRoutes: prefs["RouteAll"] === true,
    ssh: prefs["RunSSH"] === true,
    wantRunning: prefs["WantRunning"] === true,
    loggedOut: prefs["LoggedOut"] === true,
  }
}
