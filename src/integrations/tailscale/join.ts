/**
 * The join: read the node's state, decide (`planJoin`, pure), act, and wait for
 * `Running`, all inside one deadline (docs/tailscale.md "What `coffer tailscale up`
 * does"). Effects come in through `JoinDeps`: the client process, the key source, the
 * clock and sleep.
 *
 * Retries: while tailscaled does not answer yet, `status` is retried with backoff; while
 * the control server is unreachable, the login is retried with backoff (each attempt a
 * `tailscale up` with its own shorter `--timeout`; a key is not used up by a login that
 * never reached the server). Every call is bounded by what is left of the deadline.
 */
import type { ToolError } from "../../internal/errors.js"
import { classifyFailure, scrubSecrets, type ClientOutcome } from "./classify.js"
import type { TailscaleClient } from "./client.js"
import {
  ControlUnreachableError,
  DaemonUnreachableError,
  NeedsMachineAuthError,
  TailscaleClientError,
} from "./errors.js"
import type { AuthKeyFile, KeySource } from "./keys.js"
import { needsPrefs, planJoin, type JoinAction, type LoginReason } from "./plan.js"
import { normalizeControlUrl, upArguments, type JoinSettings } from "./settings.js"
import { parsePrefs, parseStatus, type NodePrefs, type NodeStatus } from "./state.js"

/** What a join needs from the outside. */
export interface JoinDeps {
  readonly client: TailscaleClient
  /** The key, asked for only when the node must log in. */
  readonly keys: KeySource
  /** Milliseconds since some origin (`Date.now`, or a test clock). */
  readonly now: () => number
  readonly sleep: (ms: number) => Promise<void>
  /** Progress lines (never secrets), for the journal. */
  readonly log: (line: string) => void
}

/** What to join, and how long it may take. */
export interface JoinRequest {
  readonly settings: JoinSettings
  /** The overall timeout, in milliseconds: every call fits inside it. */
  readonly timeoutMs: number
  /** tailscaled's socket, for messages. */
  readonly socket: string
}

/** How a join ended. */
export type JoinOutcome =
  /** Already running as declared: nothing changed. */
  | "unchanged"
  /** Running; some settings were applied with `tailscale set`. */
  | "updated"
  /** Logged in with a key and reached `Running`. */
  | "joined"
  /** Was connecting already; reached `Running` without a login. */
  | "connected"

/** The result of a successful join. */
export interface JoinReport {
  readonly outcome: JoinOutcome
  /** Why it logged in (for `joined`). */
  readonly reason: LoginReason | null
  /** The settings `tailscale set` changed (for `updated`). */
  readonly changed: readonly string[]
  /** The node's last state read. */
  readonly status: NodeStatus
  readonly controlUrl: string
  readonly elapsedMs: number
  /** Login attempts made (0 when none was needed). */
  readonly attempts: number
}

const statusArgs = ["status", "--json", "--peers=false"]
/** The first login attempt's share of the deadline; each retry doubles it. */
const firstAttemptMs = 15_000
/** Time kept after the client's own `--timeout` to collect its output before killing it. */
const killGraceMs = 1_500
/** Time kept after a login attempt for the `status` call that says why it failed. */
const diagnosisMs = 2_500

/**
 * Makes the node match its declaration.
 * @returns the report
 * @throws DaemonUnreachableError, ControlUnreachableError, AuthKeyRejectedError,
 *   NeedsMachineAuthError, JoinTimeoutError, SettingsRejectedError, KeySourceError,
 *   OAuthError, TailscaleClientError
 */
export async function joinTailnet(request: JoinRequest, deps: JoinDeps): Promise<JoinReport> {
  const run = new JoinRun(request, deps)
  return run.join()
}

class JoinRun {
  readonly #request: JoinRequest
  readonly #deps: JoinDeps
  readonly #start: number
  readonly #deadline: number
  readonly #controlUrl: string
  #secrets: readonly string[] = []
  #keyOrigin: string | null = null

  constructor(request: JoinRequest, deps: JoinDeps) {
    this.#request = request
    this.#deps = deps
    this.#start = deps.now()
    this.#deadline = this.#start + request.timeoutMs
    this.#controlUrl = normalizeControlUrl(request.settings.loginServer)
  }

  remaining(): number {
    return this.#deadline - this.#deps.now()
  }

  report(
    outcome: JoinOutcome,
    status: NodeStatus,
    extra: { reason?: LoginReason; changed?: readonly string[]; attempts?: number } = {},
  ): JoinReport {
    return {
      outcome,
      reason: extra.reason ?? null,
      changed: extra.changed ?? [],
      status,
      controlUrl: this.#controlUrl,
      elapsedMs: this.#deps.now() - this.#start,
      attempts: extra.attempts ?? 0,
    }
  }

  fail(outcome: ClientOutcome, after: NodeStatus | null): ToolError {
    return classifyFailure(outcome, {
      controlUrl: this.#controlUrl,
      socket: this.#request.socket,
      health: after?.health ?? [],
      backendState: after?.backendState ?? null,
      keyOrigin: this.#keyOrigin,
      timeoutSeconds: Math.round(this.#request.timeoutMs / 1000),
      secrets: this.#secrets,
    })
  }

  async join(): Promise<JoinReport> {
    const status = await this.readStatus({ retry: true })
    const prefs = needsPrefs(status) ? await this.readPrefs() : null
    const action = planJoin(status, prefs, this.#request.settings)
    this.#deps.log(describeAction(action, status))
    switch (action.kind) {
      case "unchanged":
        return this.report("unchanged", status)
      case "set": {
        await this.call(["set", ...action.args], status)
        const final = status.backendState === "Running" ? status : await this.waitRunning()
        return this.report("updated", final, { changed: action.changed })
      }
      case "wait":
        return this.report("connected", await this.waitRunning())
      case "needs-approval":
        throw this.needsApproval(status, prefs)
      case "unsupported":
        throw new TailscaleClientError(
          `tailscaled is in state ${action.state}, which a server never is`,
          { hints: ["run tailscale status to see why"] },
        )
      case "login":
        return this.login(action.reason, action.forceReauth)
      default: {
        const unknown: never = action
        throw new TailscaleClientError(`unknown action ${JSON.stringify(unknown)}`)
      }
    }
  }

  /** Runs one client call bounded by the deadline; a failure is classified and thrown. */
  async call(args: readonly string[], context: NodeStatus | null): Promise<ClientOutcome> {
    const outcome = await this.#deps.client.run(args, { timeoutMs: this.boundedMs(10_000) })
    if (outcome.exitCode !== 0) throw this.fail(outcome, context)
    return outcome
  }

  boundedMs(most: number): number {
    // a call cut to nothing by the deadline could not even report why it failed
    return Math.max(500, Math.min(most, this.remaining()))
  }

  async readStatus(opts: { retry: boolean }): Promise<NodeStatus> {
    let delay = 250
    let previous: ToolError | null = null
    for (;;) {
      const outcome = await this.#deps.client.run(statusArgs, { timeoutMs: this.boundedMs(10_000) })
      if (outcome.exitCode === 0) return parseStatus(outcome.stdout)
      // cut short by the deadline after the daemon did not answer: say that, not "timeout"
      if (outcome.timedOut && previous !== null) throw previous
      const error = this.fail(outcome, null)
      previous = error
      // tailscaled may still be starting: its socket appears a moment after the unit starts.
      if (!opts.retry || !(error instanceof DaemonUnreachableError) || this.remaining() <= delay) {
        throw error
      }
      this.#deps.log(`tailscaled does not answer yet; trying again in ${String(delay)} ms`)
      await this.#deps.sleep(delay)
      delay = Math.min(delay * 2, 4_000)
    }
  }

  async readPrefs(): Promise<NodePrefs> {
    const outcome = await this.call(["debug", "prefs"], null)
    return parsePrefs(outcome.stdout)
  }

  /** Polls `status` until `Running`, `NeedsMachineAuth` or the deadline. */
  async waitRunning(): Promise<NodeStatus> {
    let last: NodeStatus | null = null
    for (;;) {
      if (this.remaining() <= 0) {
        throw this.fail(
          { command: "status", exitCode: null, stdout: "", stderr: "", timedOut: true },
          last,
        )
      }
      last = await this.readStatus({ retry: false })
      if (last.backendState === "Running") return last
      if (last.backendState === "NeedsMachineAuth") throw this.needsApproval(last, null)
      await this.#deps.sleep(Math.min(500, Math.max(1, this.remaining())))
    }
  }

  needsApproval(status: NodeStatus, prefs: NodePrefs | null): NeedsMachineAuthError {
    const control = normalizeControlUrl(prefs?.controlUrl ?? this.#request.settings.loginServer)
    // spec: the admin console is the control URL + /admin, login.tailscale.com for Tailscale's (ipn/prefs.go AdminPageURL)
    const admin = `${control === "https://controlplane.tailscale.com" ? "https://login.tailscale.com" : control}/admin/machines`
    const name = status.hostName ?? this.#request.settings.hostname ?? "this device"
    const tailnet = status.tailnet === null ? "" : ` of tailnet ${JSON.stringify(status.tailnet)}`
    return new NeedsMachineAuthError(
      `device ${JSON.stringify(name)} waits for approval by an admin${tailnet}: approve it at ${admin}`,
      {
        hints: [
          "or join with a pre-approved key (preauthorized; keys coffer mints with --oauth-client-secret-file always are)",
        ],
      },
    )
  }

  async login(reason: LoginReason, forceReauth: boolean): Promise<JoinReport> {
    this.#keyOrigin = this.#deps.keys.origin
    const abort = new AbortController()
    const timer = setTimeout(
      () => {
        abort.abort()
      },
      Math.max(1, this.remaining()),
    )
    let key: AuthKeyFile
    try {
      key = await this.#deps.keys.obtain(abort.signal)
    } finally {
      clearTimeout(timer)
    }
    this.#keyOrigin = key.origin
    this.#secrets = key.secrets
    let joined = false
    try {
      const report = await this.loginWith(key, reason, forceReauth)
      joined = true
      return report
    } finally {
      await key.dispose(joined)
    }
  }

  async loginWith(
    key: AuthKeyFile,
    reason: LoginReason,
    forceReauth: boolean,
  ): Promise<JoinReport> {
    let budget = firstAttemptMs
    let backoff = 1_000
    for (let attempt = 1; ; attempt++) {
      // keep time to ask the daemon why, should the attempt run out
      const attemptMs = this.boundedMs(Math.min(budget, this.remaining() - diagnosisMs))
      const clientTimeout = Math.max(1, Math.floor((attemptMs - killGraceMs) / 1000))
      const args = upArguments(this.#request.settings, {
        authKeyFile: key.path,
        timeoutSeconds: clientTimeout,
        forceReauth,
        advertiseTags: !key.carriesTags,
      })
      const outcome = await this.#deps.client.run(args, {
        timeoutMs: attemptMs,
        // `up --json` prints {"BackendState": "NeedsMachineAuth"} and then waits forever
        onStdout: (soFar) => waitsForApproval(soFar),
      })
      if (waitsForApproval(outcome.stdout))
        throw this.needsApproval(await this.readStatus({ retry: false }), null)
      if (outcome.exitCode === 0) {
        const status = await this.readStatus({ retry: false })
        return this.report("joined", status, { reason, attempts: attempt })
      }
      const after = await this.readStatus({ retry: false }).catch(() => null)
      if (after?.backendState === "Running") {
        return this.report("joined", after, { reason, attempts: attempt })
      }
      const error = this.fail(outcome, after)
      if (!(error instanceof ControlUnreachableError) || this.remaining() <= backoff + 2_000) {
        throw error
      }
      this.#deps.log(
        `${scrubSecrets(error.message, this.#secrets)}; trying again in ${String(backoff / 1000)}s`,
      )
      await this.#deps.sleep(backoff)
      backoff = Math.min(backoff * 2, 16_000)
      budget *= 2
    }
  }
}

function waitsForApproval(upOutput: string): boolean {
  return /"BackendState":\s*"NeedsMachineAuth"/.test(upOutput)
}

function describeAction(action: JoinAction, status: NodeStatus): string {
  switch (action.kind) {
    case "unchanged":
      return `tailscaled is ${status.backendState} as declared`
    case "set":
      return `tailscaled is ${status.backendState}; applying ${action.changed.join(", ")} with tailscale set`
    case "login":
      return `tailscaled is ${status.backendState}; logging in with a key (${action.reason})`
    case "wait":
      return `tailscaled is ${status.backendState}; waiting for Running`
    case "needs-approval":
      return `tailscaled is ${status.backendState}`
    case "unsupported":
      return `tailscaled is ${action.state}`
    default: {
      const unknown: never = action
      return String(unknown)
    }
  }
}
