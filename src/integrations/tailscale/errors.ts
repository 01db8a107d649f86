/**
 * One error class per Tailscale join failure people must tell apart (docs/tailscale.md
 * "Failures"): each has its own exit status in `coffer tailscale up`, so a unit, a script or
 * a person can act on it. Messages name the control server, the key *file* or the API URL,
 * never a key, a client secret or an access token.
 */
import { ToolError } from "../../internal/errors.js"

/** The `tailscale` binary could not be run, or printed something coffer cannot read. */
export class TailscaleClientError extends ToolError {}

/** `tailscaled` does not answer on its socket (not running, wrong `--socket`). */
export class DaemonUnreachableError extends ToolError {}

/** The control server could not be reached within the timeout (names the server). */
export class ControlUnreachableError extends ToolError {}

/** The control server refused the auth key: invalid, expired, revoked or already used. */
export class AuthKeyRejectedError extends ToolError {}

/** The node is registered but waits for an admin to approve the device. */
export class NeedsMachineAuthError extends ToolError {}

/** `tailscaled` did not reach `Running` within the timeout, for no reason it reported. */
export class JoinTimeoutError extends ToolError {}

/** The client refused the settings (a bad hostname, tag, route or extra flag). */
export class SettingsRejectedError extends ToolError {}

/** The auth key or OAuth client secret file is missing, unreadable or empty. */
export class KeySourceError extends ToolError {}

/** The OAuth token exchange or the auth key request failed (names the API and its reason). */
export class OAuthError extends ToolError {}
