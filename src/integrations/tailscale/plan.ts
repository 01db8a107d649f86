/**
 * What to do to make a node match its declaration, decided from `tailscale status --json`
 * and, when the node is registered, `tailscale debug prefs` (docs/tailscale.md "What
 * `coffer tailscale up` does"). Pure.
 *
 * - `Running` (or `Starting`) against the declared control server with the declared tags:
 *   no login and no new node; settings that differ are applied with `tailscale set`, which
 *   never re-authenticates.
 * - Another control server, other tags, or an expired node key: log in again with a key
 *   and `--force-reauth` (the client refuses to change either without it, up.go
 *   `updatePrefs`).
 * - `NeedsLogin`, `NoState`, `Stopped`: join with a key.
 * - `NeedsMachineAuth`: nothing coffer can do; an admin must approve the device.
 */
import {
  normalizeControlUrl,
  normalizeRoute,
  normalizeRoutes,
  normalizeTags,
  type JoinSettings,
} from "./settings.js"
import type { NodePrefs, NodeStatus } from "./state.js"

/** Why a join logs in. */
export type LoginReason =
  "not-logged-in" | "stopped" | "node-key-expired" | "other-control-server" | "tags-changed"

/** The decision. */
export type JoinAction =
  /** Already as declared. */
  | { readonly kind: "unchanged" }
  /** Registered against the declared server: apply these `tailscale set` flags. */
  | { readonly kind: "set"; readonly args: readonly string[]; readonly changed: readonly string[] }
  /** Log in with a key (`tailscale up --reset --auth-key=file:…`). */
  | { readonly kind: "login"; readonly reason: LoginReason; readonly forceReauth: boolean }
  /** Registered, as declared, still connecting: wait for `Running`. */
  | { readonly kind: "wait" }
  /** Waiting for an admin to approve the device. */
  | { readonly kind: "needs-approval" }
  /** A state a server never has (`InUseOtherUser` is Windows-only). */
  | { readonly kind: "unsupported"; readonly state: string }

/**
 * Whether the decision needs the node's preferences (it does when the node is registered
 * and connecting or connected, to compare the server, tags and settings).
 */
export function needsPrefs(status: NodeStatus): boolean {
  return status.backendState === "Running" || status.backendState === "Starting"
}

/**
 * Decides what to do.
 * @param prefs the node's preferences; required when `needsPrefs(status)`
 * @returns the action
 */
export function planJoin(
  status: NodeStatus,
  prefs: NodePrefs | null,
  settings: JoinSettings,
): JoinAction {
  switch (status.backendState) {
    case "NeedsMachineAuth":
      return { kind: "needs-approval" }
    case "InUseOtherUser":
      return { kind: "unsupported", state: status.backendState }
    case "NoState":
      return { kind: "login", reason: "not-logged-in", forceReauth: false }
    case "NeedsLogin":
      // A node key that no longer works (expired, or deleted on the server) needs a forced
      // re-authentication; a node that never logged in does not have one.
      return status.haveNodeKey
        ? { kind: "login", reason: "node-key-expired", forceReauth: true }
        : { kind: "login", reason: "not-logged-in", forceReauth: false }
    case "Stopped":
      // Logged in but down (`tailscale down`): `up` with the key brings it up; a key is not
      // used again by a node that is registered (tailscale/tailscale#1133).
      return { kind: "login", reason: "stopped", forceReauth: false }
    case "Starting":
    case "Running": {
      if (prefs === null) return { kind: "login", reason: "not-logged-in", forceReauth: false }
      if (normalizeControlUrl(prefs.controlUrl) !== normalizeControlUrl(settings.loginServer)) {
        return { kind: "login", reason: "other-control-server", forceReauth: true }
      }
      // The node has the declared tags when it asks for them (advertised) or when control
      // gave them (a tagged key gives its tags without --advertise-tags).
      const wanted = normalizeTags(settings.advertiseTags)
      const asked = normalizeTags(prefs.advertiseTags)
      const given = normalizeTags(status.tags)
      if (!sameList(asked, wanted) && !sameList(given, wanted)) {
        return { kind: "login", reason: "tags-changed", forceReauth: true }
      }
      const set = settingsToSet(prefs, settings)
      if (set.args.length > 0) return { kind: "set", ...set }
      return status.backendState === "Running" ? { kind: "unchanged" } : { kind: "wait" }
    }
    default: {
      const unknown: never = status.backendState
      return { kind: "unsupported", state: String(unknown) }
    }
  }
}

/**
 * The `tailscale set` flags for the settings that differ (the client's `set` accepts the
 * same spellings as `up`, cmd/tailscale/cli/set.go).
 */
export function settingsToSet(
  prefs: NodePrefs,
  settings: JoinSettings,
): { args: string[]; changed: string[] } {
  const args: string[] = []
  const changed: string[] = []
  if (settings.hostname !== null && settings.hostname !== prefs.hostname) {
    args.push(`--hostname=${settings.hostname}`)
    changed.push("hostname")
  }
  const exitNow = prefs.advertiseRoutes.some((r) => r === "0.0.0.0/0" || r === "::/0")
  const routesNow = normalizeRoutes(prefs.advertiseRoutes)
  const routesWanted = normalizeRoutes(settings.advertiseRoutes)
  const routesDiffer = !sameList(routesNow, routesWanted)
  if (routesDiffer || exitNow !== settings.advertiseExitNode) {
    // Both flags together make `set` replace the routes exactly (calcAdvertiseRoutesForSet).
    args.push(`--advertise-routes=${settings.advertiseRoutes.map(normalizeRoute).join(",")}`)
    args.push(`--advertise-exit-node=${String(settings.advertiseExitNode)}`)
    if (routesDiffer) changed.push("advertise-routes")
    if (exitNow !== settings.advertiseExitNode) changed.push("advertise-exit-node")
  }
  if (settings.acceptDns !== null && settings.acceptDns !== prefs.acceptDns) {
    args.push(`--accept-dns=${String(settings.acceptDns)}`)
    changed.push("accept-dns")
  }
  if (settings.acceptRoutes !== null && settings.acceptRoutes !== prefs.acceptRoutes) {
    args.push(`--accept-routes=${String(settings.acceptRoutes)}`)
    changed.push("accept-routes")
  }
  if (settings.ssh !== prefs.ssh) {
    args.push(`--ssh=${String(settings.ssh)}`)
    changed.push("ssh")
  }
  return { args, changed }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i])
}
