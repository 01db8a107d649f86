/**
 * The declared settings of a Tailscale join, and the `tailscale` command lines that apply
 * them (docs/tailscale.md "Flags"). Pure.
 *
 * A join runs `tailscale up --reset` with every declared setting: the declaration is the
 * complete desired state, so `--reset` is right, and it avoids the client's "changing
 * settings via 'tailscale up' requires mentioning all non-default flags" refusal
 * (https://github.com/tailscale/tailscale/blob/v1.102.5/cmd/tailscale/cli/up.go,
 * `checkForAccidentalSettingReverts`). A node already running gets only the settings that
 * differ, through `tailscale set`, which never re-authenticates.
 */

/** What a host declares about its node. `null` leaves the client's own default alone. */
export interface JoinSettings {
  /** The control server URL; null is Tailscale's (`https://controlplane.tailscale.com`). */
  readonly loginServer: string | null
  /** The node's name in the tailnet; null uses the OS hostname. */
  readonly hostname: string | null
  /** ACL tags, each `tag:NAME` (a bare `NAME` gets the prefix, as the client does). */
  readonly advertiseTags: readonly string[]
  /** Subnet routes offered to the tailnet (`10.0.0.0/8`). */
  readonly advertiseRoutes: readonly string[]
  readonly advertiseExitNode: boolean
  /** `--accept-dns`; null leaves it alone. */
  readonly acceptDns: boolean | null
  /** `--accept-routes`; null leaves it alone. */
  readonly acceptRoutes: boolean | null
  /** Tailscale SSH server. */
  readonly ssh: boolean
  /** More `tailscale up` flags, passed as they are when joining (`--operator=alice`). */
  readonly extraUpFlags: readonly string[]
}

/** The defaults of every field (the client's defaults, nothing managed beyond them). */
export const defaultJoinSettings: JoinSettings = {
  loginServer: null,
  hostname: null,
  advertiseTags: [],
  advertiseRoutes: [],
  advertiseExitNode: false,
  acceptDns: null,
  acceptRoutes: null,
  ssh: false,
  extraUpFlags: [],
}

/** Tailscale's own control server; the client treats `login.tailscale.com` as the same. */
export const defaultControlUrl = "https://controlplane.tailscale.com"

/**
 * The control URL as the client compares it: no trailing slash, and Tailscale's two
 * synonyms folded into one (`ipn.IsLoginServerSynonym` in ipn/prefs.go).
 * @param url a URL, or null/empty for the default
 */
export function normalizeControlUrl(url: string | null): string {
  if (url === null || url === "") return defaultControlUrl
  const trimmed = url.replace(/\/+$/, "")
  return trimmed === "https://login.tailscale.com" ? defaultControlUrl : trimmed
}

/** A tag as the client stores it: `tag:` added when the name has no colon (up.go). */
export function normalizeTag(tag: string): string {
  return tag.includes(":") ? tag : `tag:${tag}`
}

/** Tags normalized and sorted, for comparison. */
export function normalizeTags(tags: readonly string[]): string[] {
  return [...new Set(tags.map(normalizeTag))].sort()
}

/**
 * A route prefix in the form Go's `netip.Prefix.String()` prints (IPv6 compressed as in
 * RFC 5952), so a declared `FD00:0::/8` matches the stored `fd00::/8`. Anything that is
 * not an IP prefix is returned as it is (the client will refuse it with its own message).
 */
export function normalizeRoute(route: string): string {
  const slash = route.indexOf("/")
  if (slash === -1) return route
  const address = route.slice(0, slash)
  const bits = route.slice(slash + 1)
  if (!address.includes(":")) return route
  const groups = expandIpv6(address)
  if (groups === null) return route
  return `${compressIpv6(groups)}/${bits}`
}

function expandIpv6(address: string): number[] | null {
  if (address.includes(".")) return null // IPv4-mapped forms: leave to the client
  const halves = address.toLowerCase().split("::")
  if (halves.length > 2) return null
  const parse = (part: string): number[] | null => {
    if (part === "") return []
    const out: number[] = []
    for (const g of part.split(":")) {
      if (!/^[0-9a-f]{1,4}$/.test(g)) return null
      out.push(Number.parseInt(g, 16))
    }
    return out
  }
  const head = parse(halves[0] ?? "")
  const tail = halves.length === 2 ? parse(halves[1] ?? "") : []
  if (head === null || tail === null) return null
  if (halves.length === 1) return head.length === 8 ? head : null
  const zeros = 8 - head.length - tail.length
  if (zeros < 1) return null
  return [...head, ...new Array<number>(zeros).fill(0), ...tail]
}

function compressIpv6(groups: readonly number[]): string {
  // spec (RFC 5952 §4.2): the longest run of two or more zero groups becomes "::", the first one on a tie
  let best = { start: -1, length: 0 }
  for (let i = 0; i < groups.length;) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < groups.length && groups[j] === 0) j++
    if (j - i > best.length && j - i >= 2) best = { start: i, length: j - i }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (best.start === -1) return hex.join(":")
  const left = hex.slice(0, best.start).join(":")
  const right = hex.slice(best.start + best.length).join(":")
  return `${left}::${right}`
}

/** Routes normalized and sorted, exit routes (`0.0.0.0/0`, `::/0`) left out. */
export function normalizeRoutes(routes: readonly string[]): string[] {
  return [...new Set(routes.map(normalizeRoute))]
    .filter((r) => r !== "0.0.0.0/0" && r !== "::/0")
    .sort()
}

/** How a join passes the key: a file the client reads itself (never the key in argv). */
export interface UpOptions {
  /** The file holding the auth key; passed as `--auth-key=file:PATH`. */
  readonly authKeyFile: string
  /** `--timeout` for the client's own wait for `Running`, in whole seconds (at least 1). */
  readonly timeoutSeconds: number
  /** Re-authenticate a node that has a node key (other control server, new tags, expired key). */
  readonly forceReauth: boolean
  /**
   * Pass `--advertise-tags`. Not for a key coffer minted with the tags: such a key gives the
   * node its tags by itself, and headscale refuses `--advertise-tags` with a pre-auth key
   * ("requested tags … are invalid or not permitted").
   */
  readonly advertiseTags: boolean
}

/**
 * The arguments of `tailscale up` for a join (after the global `--socket`).
 * @returns `["up", "--reset", ...]`; the key appears only as `file:PATH`
 */
export function upArguments(settings: JoinSettings, opts: UpOptions): string[] {
  const args = ["up", "--reset", "--json"]
  if (settings.loginServer !== null) args.push(`--login-server=${settings.loginServer}`)
  args.push(`--auth-key=file:${opts.authKeyFile}`)
  if (opts.forceReauth) args.push("--force-reauth")
  args.push(...settingFlags(opts.advertiseTags ? settings : { ...settings, advertiseTags: [] }))
  args.push(...settings.extraUpFlags)
  args.push(`--timeout=${String(Math.max(1, Math.floor(opts.timeoutSeconds)))}s`)
  return args
}

/** Every declared setting as `up`/`set` flags (both accept these spellings). */
function settingFlags(settings: JoinSettings): string[] {
  const flags: string[] = []
  if (settings.hostname !== null) flags.push(`--hostname=${settings.hostname}`)
  if (settings.advertiseTags.length > 0) {
    flags.push(`--advertise-tags=${normalizeTags(settings.advertiseTags).join(",")}`)
  }
  if (settings.advertiseRoutes.length > 0) {
    flags.push(`--advertise-routes=${settings.advertiseRoutes.join(",")}`)
  }
  if (settings.advertiseExitNode) flags.push("--advertise-exit-node")
  if (settings.acceptDns !== null) flags.push(`--accept-dns=${String(settings.acceptDns)}`)
  if (settings.acceptRoutes !== null) flags.push(`--accept-routes=${String(settings.acceptRoutes)}`)
  if (settings.ssh) flags.push("--ssh")
  return flags
}

/**
 * A duration as Go's `time.ParseDuration` writes the common ones (`60s`, `2m`, `1m30s`,
 * `500ms`, `1.5h`), or a bare number of seconds.
 * @returns milliseconds, or null when it is not a positive duration
 */
export function parseDuration(text: string): number | null {
  const trimmed = text.trim()
  if (/^\d+(\.\d+)?$/.test(trimmed)) {
    const seconds = Number(trimmed)
    return seconds > 0 ? Math.round(seconds * 1000) : null
  }
  const unitMs: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
  let total = 0
  let rest = trimmed
  if (rest === "") return null
  while (rest !== "") {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)/.exec(rest)
    if (m === null) return null
    total += Number(m[1]) * (unitMs[m[2] ?? ""] ?? 0)
    rest = rest.slice(m[0].length)
  }
  return total > 0 ? Math.round(total) : null
}

/** `tailscale up` flags that carry a secret: they would put it in argv. */
const secretFlags = ["auth-key", "authkey", "client-secret", "id-token", "client-id", "audience"]
/** Flags coffer sets itself (from a setting, or to make the join deterministic). */
const managedFlags: Readonly<Record<string, string>> = {
  "login-server": "loginServer (--login-server)",
  hostname: "hostname (--hostname)",
  "advertise-tags": "advertiseTags (--advertise-tags)",
  "advertise-routes": "advertiseRoutes (--advertise-routes)",
  "advertise-exit-node": "advertiseExitNode (--advertise-exit-node)",
  "accept-dns": "acceptDns (--accept-dns)",
  "accept-routes": "acceptRoutes (--accept-routes)",
  ssh: "ssh (--ssh)",
  timeout: "timeout (--timeout)",
  reset: "nothing: coffer always passes --reset",
  json: "nothing: coffer reads --json itself",
  "force-reauth": "nothing: coffer re-authenticates when the server or tags change",
}

/**
 * Why an extra `tailscale up` flag is refused, or null when it may be passed on.
 * @param flag one argument, such as `--operator=alice` or `--shields-up`
 */
export function extraUpFlagProblem(flag: string): string | null {
  const m = /^--?([a-z][a-z0-9-]*)(=.*)?$/s.exec(flag)
  if (m === null) return `${JSON.stringify(flag)} is not a flag (write --name or --name=value)`
  const name = m[1] ?? ""
  if (secretFlags.includes(name)) {
    return `--${name} would put a secret in the command line: use the key secret (--auth-key-file or --oauth-client-secret-file)`
  }
  const setting = managedFlags[name]
  if (setting !== undefined) return `--${name} is set by coffer: use ${setting}`
  return null
}

/**
 * Why a setting is refused before anything runs, or null. Checks only what the client
 * would refuse for certain (it has the final word on everything else).
 */
export function settingsProblems(settings: JoinSettings): string[] {
  const problems: string[] = []
  if (settings.loginServer !== null && !/^https?:\/\/[^\s/]+/.test(settings.loginServer)) {
    problems.push(`login server ${JSON.stringify(settings.loginServer)} is not an http(s) URL`)
  }
  if (
    settings.hostname !== null &&
    !/^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(settings.hostname)
  ) {
    problems.push(
      `hostname ${JSON.stringify(settings.hostname)} is not a DNS label (letters, digits and "-", at most 63)`,
    )
  }
  for (const tag of settings.advertiseTags) {
    if (!/^tag:[A-Za-z0-9][A-Za-z0-9-]*$/.test(normalizeTag(tag))) {
      problems.push(`tag ${JSON.stringify(tag)} is not a tag such as "tag:server"`)
    }
  }
  for (const route of settings.advertiseRoutes) {
    if (!/^[0-9A-Fa-f.:]+\/\d{1,3}$/.test(route)) {
      problems.push(`route ${JSON.stringify(route)} is not an IP prefix such as "10.0.0.0/8"`)
    }
  }
  for (const flag of settings.extraUpFlags) {
    const problem = extraUpFlagProblem(flag)
    if (problem !== null) problems.push(problem)
  }
  return problems
}
