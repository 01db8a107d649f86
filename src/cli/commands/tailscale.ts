/**
 * `coffer tailscale up`: makes this node's Tailscale state match what is declared, without
 * a human (docs/tailscale.md). Reads `tailscale status --json` (and the daemon's
 * preferences when it is registered), then does nothing, applies settings with `tailscale
 * set`, or logs in with `tailscale up --reset --auth-key=file:…`, and waits for `Running`,
 * all within `--timeout`.
 *
 * The key never goes into an argv, a child's environment, a log line or an error: the
 * client reads it from its file; a key minted with an OAuth client secret lives in a 0600
 * file of a private RAM directory that is removed when the command ends. Each failure people
 * must tell apart has its own exit status (`exit-codes.ts`).
 */
import { readFile, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import type { CliContext } from "../command.js"
import type { ExitCode } from "../exit-codes.js"
import { flagIsSet, flagValue, flagValues, parseFlags, type FlagSpec } from "../flags.js"
import { createPrivateTempDir, type PrivateTempDir } from "../../system/private-temp.js"
import { IoError, UsageError } from "../../internal/errors.js"
import { parseManifest, type TailscaleSpec } from "../../host/manifest.js"
import { processTailscaleClient } from "../../integrations/tailscale/client.js"
import {
  fileKeySource,
  oauthKeySource,
  type KeySource,
  type PrivateFileWriter,
} from "../../integrations/tailscale/keys.js"
import { joinTailnet, type JoinReport } from "../../integrations/tailscale/join.js"
import {
  defaultJoinSettings,
  parseDuration,
  settingsProblems,
  type JoinSettings,
} from "../../integrations/tailscale/settings.js"
import { scrubSecrets } from "../../integrations/tailscale/classify.js"

const flagSpecs: readonly FlagSpec[] = [
  { key: "authKeyFile", names: ["auth-key-file"], kind: "value" },
  { key: "oauthFile", names: ["oauth-client-secret-file"], kind: "value" },
  { key: "apiUrl", names: ["api-url"], kind: "value" },
  { key: "tailnet", names: ["tailnet"], kind: "value" },
  { key: "loginServer", names: ["login-server"], kind: "value" },
  { key: "hostname", names: ["hostname"], kind: "value" },
  { key: "tags", names: ["advertise-tags"], kind: "value" },
  { key: "routes", names: ["advertise-routes"], kind: "value" },
  { key: "exitNode", names: ["advertise-exit-node"], kind: "boolean" },
  { key: "acceptDns", names: ["accept-dns"], kind: "boolean" },
  { key: "acceptRoutes", names: ["accept-routes"], kind: "boolean" },
  { key: "ssh", names: ["ssh"], kind: "boolean" },
  { key: "extra", names: ["extra-up-flag"], kind: "value" },
  { key: "socket", names: ["socket"], kind: "value" },
  { key: "tailscale", names: ["tailscale"], kind: "value" },
  { key: "timeout", names: ["timeout"], kind: "value" },
  { key: "json", names: ["json"], kind: "boolean" },
  { key: "manifest", names: ["manifest"], kind: "value" },
]

/** The default of `--timeout`. */
const defaultTimeout = "60s"
/** The client's own default socket on Linux (paths.DefaultTailscaledSocket). */
const clientDefaultSocket = "/var/run/tailscale/tailscaled.sock"

function helpText(invokedAs: string): string {
  return `Usage:
    ${invokedAs} up [FLAGS]
    ${invokedAs} up --manifest MANIFEST.json [FLAGS]

Makes this node's Tailscale state match what is declared, idempotently. It reads
"tailscale status --json" (and the daemon's preferences once the node is registered):

    Running on the declared control server   nothing, or changed settings applied with
                                             "tailscale set" (no login, no new node)
    NeedsLogin, NoState, Stopped             joins with "tailscale up --reset
                                             --auth-key=file:PATH", waits for Running
    another control server, other tags       logs in again (--force-reauth) with the key
    NeedsMachineAuth                         fails: an admin must approve the device

The key is never in any command line, environment, log line or error: the client reads
it from its file. With --oauth-client-secret-file, coffer exchanges the OAuth client
secret for a fresh single-use, pre-approved, tagged key, kept only in a 0600 file in a
private RAM directory and removed afterwards; if the join fails, coffer revokes that
key through the API. Nothing reads or mints a key on a node that
is already joined.

Key (one of them is needed to log in):
    --auth-key-file PATH              an auth key (tskey-auth-..., a headscale key), or a
                                      tskey-client-... secret the client exchanges itself
    --oauth-client-secret-file PATH   an OAuth client secret: coffer mints the key
    --api-url URL                     the API for OAuth (default https://api.tailscale.com)
    --tailnet NAME                    the tailnet for OAuth (default -, the client's own)

Settings (the complete desired state: what is not given takes the client's default):
    --login-server URL        the control server (default Tailscale's)
    --hostname NAME           the node's name (default: the OS hostname)
    --advertise-tags TAGS     comma-separated, e.g. tag:server (repeatable)
    --advertise-routes CIDRS  comma-separated subnet routes (repeatable)
    --advertise-exit-node     offer this node as an exit node
    --accept-dns[=BOOL]       use the tailnet's DNS settings (default: leave alone)
    --accept-routes[=BOOL]    use other nodes' routes (default: leave alone)
    --ssh                     run Tailscale SSH
    --extra-up-flag FLAG      one more "tailscale up" flag (repeatable), e.g. --operator=alice

Running:
    --manifest PATH           read everything above from the manifest's "tailscale"
                              section (flags given as well override it)
    --socket PATH             tailscaled's socket (default ${clientDefaultSocket})
    --tailscale PATH          the tailscale client (default: tailscale on PATH)
    --timeout DURATION        for the whole run, every call included (default ${defaultTimeout})
    --json                    print the final state as JSON on standard output

Exit status:
    0  Running as declared (joined, settings applied, or nothing to do)
    4  the control server is unreachable (retried with backoff until the timeout)
    5  the control server refused the key (invalid, expired, revoked, already used)
    6  the device waits for an admin's approval (NeedsMachineAuth)
    7  tailscaled did not reach Running within the timeout, for another reason
    8  tailscaled does not answer on its socket
    1  anything else (no key file, OAuth refused, settings refused); 2 bad usage

Examples:
    $ ${invokedAs} up --auth-key-file /run/secrets/tailscale_authkey --hostname dao \\
        --advertise-tags tag:server
    $ ${invokedAs} up --login-server https://headscale.example.net \\
        --auth-key-file /run/secrets/headscale_key --accept-dns=false --timeout 90s
    $ ${invokedAs} up --oauth-client-secret-file /run/secrets/ts_oauth \\
        --advertise-tags tag:server --json
    $ ${invokedAs} up --manifest /etc/coffer/manifest.json
`
}

/** Everything a run needs, from the flags and the manifest. */
interface UpConfig {
  readonly settings: JoinSettings
  readonly authKeyFile: string | null
  readonly oauthFile: string | null
  readonly apiUrl: string
  readonly tailnet: string
  readonly socket: string | null
  readonly tailscale: string
  readonly timeoutMs: number
  readonly json: boolean
}

function commaList(values: readonly string[]): string[] {
  return values
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter((v) => v !== "")
}

async function readSection(path: string, ctx: CliContext): Promise<TailscaleSpec> {
  let text: string
  try {
    text = await readFile(path, "utf8")
  } catch (cause) {
    throw new IoError(
      `can't read manifest ${JSON.stringify(path)}: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`,
      { cause },
    )
  }
  const manifest = parseManifest(text, path, {
    warn: (m) => {
      ctx.warn(m)
    },
  })
  if (manifest.tailscale === null) {
    throw new UsageError(`manifest ${JSON.stringify(path)} has no "tailscale" section`, {
      hints: ['add one (docs/manifest.md "Tailscale join"), or give the settings as flags'],
    })
  }
  return manifest.tailscale
}

async function configOf(args: readonly string[], ctx: CliContext): Promise<UpConfig | null> {
  const parsed = parseFlags(args, flagSpecs, `${ctx.invokedAs} up`)
  if (parsed.help) {
    ctx.stdout.write(helpText(ctx.invokedAs))
    return null
  }
  if (parsed.positionals.length > 0) {
    throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[0])}`, {
      hints: [`run "${ctx.invokedAs} up --help"`],
    })
  }
  const given = (key: string): boolean => parsed.occurrences.some((o) => o.key === key)
  const manifestPath = flagValue(parsed, "manifest")
  const section = manifestPath === undefined ? null : await readSection(manifestPath, ctx)
  const base = section?.settings ?? defaultJoinSettings
  const boolOr = (key: string, fallback: boolean | null): boolean | null =>
    given(key) ? flagIsSet(parsed, key) : fallback
  const settings: JoinSettings = {
    loginServer: flagValue(parsed, "loginServer") ?? base.loginServer,
    hostname: flagValue(parsed, "hostname") ?? base.hostname,
    advertiseTags: given("tags") ? commaList(flagValues(parsed, "tags")) : base.advertiseTags,
    advertiseRoutes: given("routes")
      ? commaList(flagValues(parsed, "routes"))
      : base.advertiseRoutes,
    advertiseExitNode: boolOr("exitNode", base.advertiseExitNode) ?? false,
    acceptDns: boolOr("acceptDns", base.acceptDns),
    acceptRoutes: boolOr("acceptRoutes", base.acceptRoutes),
    ssh: boolOr("ssh", base.ssh) ?? false,
    extraUpFlags: given("extra") ? flagValues(parsed, "extra") : base.extraUpFlags,
  }
  const problems = settingsProblems(settings)
  if (problems.length > 0) {
    throw new UsageError(problems.join("; "), { hints: [`run "${ctx.invokedAs} up --help"`] })
  }

  let authKeyFile = flagValue(parsed, "authKeyFile") ?? null
  let oauthFile = flagValue(parsed, "oauthFile") ?? null
  if (authKeyFile !== null && oauthFile !== null) {
    throw new UsageError("give one of --auth-key-file and --oauth-client-secret-file, not both")
  }
  if (authKeyFile === null && oauthFile === null && section !== null) {
    if (section.authKeySecret !== null) authKeyFile = section.keyPath
    else oauthFile = section.keyPath
  }
  if (oauthFile !== null && settings.advertiseTags.length === 0) {
    throw new UsageError("--oauth-client-secret-file needs --advertise-tags", {
      hints: ["keys minted by an OAuth client are always tagged (tags the client owns)"],
    })
  }
  const timeoutText = flagValue(parsed, "timeout")
  const timeoutMs =
    timeoutText === undefined ? (section?.timeoutMs ?? 60_000) : parseDuration(timeoutText)
  if (timeoutMs === null) {
    throw new UsageError(`--timeout ${JSON.stringify(timeoutText)} is not a duration`, {
      hints: ['write it as Go does: "60s", "2m", "1m30s"'],
    })
  }
  return {
    settings,
    authKeyFile,
    oauthFile,
    apiUrl: flagValue(parsed, "apiUrl") ?? section?.apiUrl ?? "https://api.tailscale.com",
    tailnet: flagValue(parsed, "tailnet") ?? section?.tailnet ?? "-",
    socket: flagValue(parsed, "socket") ?? section?.socket ?? null,
    tailscale: flagValue(parsed, "tailscale") ?? "tailscale",
    timeoutMs,
    json: flagIsSet(parsed, "json"),
  }
}

/** A private RAM directory for a minted key, made on first use. */
function privateWriter(ctx: CliContext): PrivateFileWriter & { close(): void } {
  let dir: PrivateTempDir | null = null
  return {
    write: async (name, content) => {
      dir ??= createPrivateTempDir(ctx.env, (m) => {
        ctx.warn(m)
      })
      const path = join(dir.path, name)
      // O_EXCL and 0600: only this process's user reads the key, and only this once.
      await writeFile(path, content, { mode: 0o600, flag: "wx" })
      return {
        path,
        remove: () => {
          dir?.remove()
          dir = null
        },
      }
    },
    close: () => {
      dir?.remove()
      dir = null
    },
  }
}

function keySourceOf(
  config: UpConfig,
  ctx: CliContext,
  writer: PrivateFileWriter,
  log: (line: string) => void,
): KeySource {
  if (config.oauthFile !== null) {
    return oauthKeySource(
      {
        secretFile: config.oauthFile,
        apiUrl: config.apiUrl,
        tailnet: config.tailnet,
        tags: config.settings.advertiseTags,
        // used at once; a short life limits what a leaked unused key could do
        expirySeconds: Math.max(300, Math.ceil(config.timeoutMs / 1000) + 60),
        description: `coffer ${config.settings.hostname ?? "join"}`.slice(0, 50),
      },
      {
        writer,
        log,
        warn: (m) => {
          ctx.warn(m)
        },
      },
    )
  }
  if (config.authKeyFile !== null) {
    return fileKeySource(config.authKeyFile, config.settings.advertiseTags, (m) => {
      ctx.warn(m)
    })
  }
  return {
    origin: "no key",
    obtain: () =>
      Promise.reject(
        new UsageError("the node must log in, and no key was given", {
          hints: ["give --auth-key-file, --oauth-client-secret-file or --manifest"],
        }),
      ),
  }
}

function summary(report: JoinReport): string {
  const name = JSON.stringify(report.status.hostName ?? "this node")
  const ips =
    report.status.tailscaleIps.length > 0 ? ` (${report.status.tailscaleIps.join(", ")})` : ""
  const server = report.controlUrl
  switch (report.outcome) {
    case "unchanged":
      return `tailscale: ${name} is Running on ${server} as declared${ips}; nothing to do`
    case "updated":
      return `tailscale: ${name} is Running on ${server}${ips}; applied ${report.changed.join(", ")} with tailscale set`
    case "joined":
      return `tailscale: ${name} joined ${server} in ${(report.elapsedMs / 1000).toFixed(1)}s${ips}`
    case "connected":
      return `tailscale: ${name} is Running on ${server}${ips}`
    default: {
      const unknown: never = report.outcome
      return String(unknown)
    }
  }
}

/** The subcommands (also read by `coffer completion`). */
export const subcommands: readonly string[] = ["up"]

/**
 * Runs `coffer tailscale`.
 * @throws UsageError, IoError, ManifestError, and the join's errors (integrations/tailscale/errors.ts)
 */
export async function run(args: readonly string[], ctx: CliContext): Promise<ExitCode | undefined> {
  const [sub, ...rest] = args
  if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
    if (sub === undefined) {
      throw new UsageError("missing the subcommand", {
        hints: [`usage: ${ctx.invokedAs} up [FLAGS]`],
      })
    }
    ctx.stdout.write(helpText(ctx.invokedAs))
    return undefined
  }
  if (!subcommands.includes(sub)) {
    throw new UsageError(`unknown subcommand ${JSON.stringify(sub)}`, {
      hints: [`usage: ${ctx.invokedAs} up [FLAGS]`],
    })
  }
  const config = await configOf(rest, ctx)
  if (config === null) return undefined
  const client = processTailscaleClient(config.tailscale, config.socket, ctx.env)
  const writer = privateWriter(ctx)
  const log = (line: string): void => {
    if (!config.json) ctx.note(line)
  }
  const started = Date.now()
  try {
    const report = await joinTailnet(
      {
        settings: config.settings,
        timeoutMs: config.timeoutMs,
        socket: config.socket ?? clientDefaultSocket,
      },
      {
        client,
        // said even with --json (on stderr): a revoked or unrevoked key matters to the operator
        keys: keySourceOf(config, ctx, writer, (line) => {
          ctx.note(line)
        }),
        now: () => Date.now(),
        sleep: (ms) => sleep(ms),
        log,
      },
    )
    if (config.json)
      ctx.stdout.write(`${JSON.stringify(jsonReport(report, client.calls), null, 2)}\n`)
    ctx.note(summary(report))
    return undefined
  } catch (err) {
    if (config.json) {
      const failure = {
        outcome: "failed",
        error: {
          class: err instanceof Error ? err.name : "Error",
          message: err instanceof Error ? scrubSecrets(err.message) : String(err),
        },
        elapsedMs: Date.now() - started,
        calls: client.calls,
      }
      ctx.stdout.write(`${JSON.stringify(failure, null, 2)}\n`)
    }
    throw err
  } finally {
    writer.close()
  }
}

function jsonReport(report: JoinReport, calls: readonly (readonly string[])[]): unknown {
  return {
    outcome: report.outcome,
    backendState: report.status.backendState,
    controlUrl: report.controlUrl,
    hostname: report.status.hostName,
    dnsName: report.status.dnsName,
    tailscaleIPs: report.status.tailscaleIps,
    tags: report.status.tags,
    reason: report.reason,
    changed: report.changed,
    attempts: report.attempts,
    elapsedMs: report.elapsedMs,
    calls,
  }
}
