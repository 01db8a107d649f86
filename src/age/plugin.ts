/**
 * The client side of the age plugin protocol (docs/formats/age.md "Plugins",
 * c2sp.org/age-plugin): plugin recipients `age1NAME1…` and identities `AGE-PLUGIN-NAME-1…`
 * are handed to the binary `age-plugin-NAME`, found on PATH, which runs the `recipient-v1`
 * (wrap) or `identity-v1` (unwrap) state machine over its stdin/stdout. Messages are age
 * stanzas (stanza.ts).
 *
 * - Phase 1 (client → plugin, uni-directional): keys, file key or stanzas, `done`.
 * - Phase 2 (plugin → client, bi-directional): the plugin asks (`msg`, `confirm`,
 *   `request-public`, `request-secret`, routed to a `PluginUi`) and answers
 *   (`recipient-stanza`, `labels`, `file-key`, `error`) until `done`; we reply to each
 *   command, `unsupported` for one we don't know (grease included).
 *
 * Several recipients (or identities) of one plugin share a single plugin process
 * (`groupPluginRecipients`, `groupPluginIdentities`). The process is started in the temp
 * directory and ended (SIGINT, then SIGKILL) by its PID once the exchange is over.
 *
 * Security: the plugin name becomes part of a file name, so it is restricted to
 * [a-z0-9-_.+] (advisory GHSA-4fg7-vxc8-qx5w) and the binary is looked up in the absolute
 * directories of PATH only, never relative to the current directory.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process"
import { accessSync, constants as fsConstants, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { delimiter, isAbsolute, join } from "node:path"
import type { Identity, Recipient, Stanza, WrapLabelsRecipient } from "./recipient.js"
import { HeaderError, IdentityParseError, PluginError, RecipientParseError } from "./errors.js"
import { decodeBase64Strict } from "./base64.js"
import { decodeBech32, encodeBech32 } from "./bech32.js"
import { encodeStanza, parseStanza } from "./stanza.js"
import { concatBytes, decodeUtf8, encodeUtf8 } from "../internal/bytes.js"
import { systemEntropy, type Entropy } from "../internal/entropy.js"

/** The two state machines of the plugin protocol. */
export type PluginStateMachine = "recipient-v1" | "identity-v1"

/**
 * How plugin requests reach the user. Each callback is optional: a missing one, or one
 * that throws, is answered `fail` and the plugin decides what to do. The command line
 * prompts on the terminal; tests answer programmatically.
 */
export interface PluginUi {
  /** Shows a message from plugin `plugin` (lowercase initial, no final period). */
  displayMessage?(plugin: string, message: string): void | Promise<void>
  /**
   * Asks for a value. `secret` values (PINs, passphrases) must not be echoed or logged.
   * @returns the value typed
   */
  requestValue?(plugin: string, prompt: string, secret: boolean): string | Promise<string>
  /**
   * Asks to choose between `yes` and (when given) `no`.
   * @returns true for `yes`
   */
  confirm?(
    plugin: string,
    prompt: string,
    yes: string,
    no: string | null,
  ): boolean | Promise<boolean>
  /** Called once when the plugin has kept us waiting 5 seconds (e.g. for a key touch). */
  waiting?(plugin: string): void
}

/** A running plugin: stanzas in, stanzas out. */
export interface PluginConnection {
  send(stanza: Stanza): Promise<void>
  /**
   * @returns the next stanza from the plugin
   * @throws PluginError if the plugin exits or sends something malformed
   */
  receive(): Promise<Stanza>
  /** Ends the exchange and the process. */
  close(): Promise<void>
}

/** Starts `age-plugin-NAME --age-plugin=STATE_MACHINE` (replaceable in tests). */
export type PluginLauncher = (
  name: string,
  stateMachine: PluginStateMachine,
) => Promise<PluginConnection>

/** Settings shared by plugin recipients and identities. */
export interface PluginOptions {
  /** Answers the plugin's questions (default: none, every request is answered `fail`). */
  readonly ui?: PluginUi
  /** The environment: PATH to search, and what the plugin inherits (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Starts plugins (default: a child process found on PATH). */
  readonly launcher?: PluginLauncher
  /** Randomness for grease (default: the system CSPRNG). */
  readonly entropy?: Entropy
}

let defaults: PluginOptions = {}

/**
 * Sets the options used when a plugin key is parsed without any (as `keyfile.ts` does):
 * the command line calls this once with its terminal UI and `process.env`.
 * @param options the new defaults
 */
export function setPluginDefaults(options: PluginOptions): void {
  defaults = { ...options }
}

const NAME_PATTERN = /^[a-z0-9\-_.+]+$/

/**
 * Checks a plugin name (advisory GHSA-4fg7-vxc8-qx5w: the name becomes part of a file
 * name, so it must not contain path separators or anything but [a-z0-9-_.+]).
 * @param name the name, in any case
 * @returns the name in lower case
 * @throws PluginError if the name is empty or has other characters
 */
export function checkPluginName(name: string): string {
  const lower = name.toLowerCase()
  if (!NAME_PATTERN.test(lower)) {
    throw new PluginError(`invalid plugin name ${JSON.stringify(name)}`, {
      hints: ["plugin names use only letters, digits and - _ . +"],
    })
  }
  return lower
}

/** @returns the Bech32 recipient `age1NAME1…` for plugin `name` and `data` */
export function encodePluginRecipient(name: string, data: Uint8Array): string {
  return encodeBech32(`age1${checkPluginName(name)}`, data)
}

/** @returns the Bech32 identity `AGE-PLUGIN-NAME-1…` for plugin `name` and `data` */
export function encodePluginIdentity(name: string, data: Uint8Array): string {
  return encodeBech32(`AGE-PLUGIN-${checkPluginName(name).toUpperCase()}-`, data)
}

/** A recipient handled by plugin `age-plugin-NAME`: `age1NAME1…`, or an identity encrypted to. */
export class PluginRecipient implements WrapLabelsRecipient {
  /** The plugin name (lower case). */
  readonly name: string
  /** The recipient (or identity) string sent to the plugin. */
  readonly encoding: string
  /** Whether `encoding` is an identity (`add-identity`) rather than a recipient. */
  readonly isIdentity: boolean
  readonly #options: PluginOptions | undefined

  /**
   * @param name the plugin name (already checked)
   * @param encoding the Bech32 string sent to the plugin
   * @param isIdentity whether `encoding` is an identity
   * @param options UI, environment and launcher (default: `setPluginDefaults`, read when the
   *   plugin runs)
   */
  constructor(name: string, encoding: string, isIdentity: boolean, options?: PluginOptions) {
    this.name = checkPluginName(name)
    this.encoding = encoding
    this.isIdentity = isIdentity
    this.#options = options
  }

  /**
   * Parses `age1NAME1…`.
   * @returns the recipient (the plugin is only started when wrapping)
   * @throws RecipientParseError if the string is not a valid plugin recipient
   */
  static fromString(text: string, options?: PluginOptions): PluginRecipient {
    let hrp: string
    try {
      hrp = decodeBech32(text).hrp
    } catch (cause) {
      throw new RecipientParseError(`invalid plugin recipient "${text}"`, {
        cause,
        hints: ["a plugin recipient is age1NAME1… in lower case, as printed by the plugin"],
      })
    }
    const name = hrp.startsWith("age1") ? hrp.slice(4) : ""
    if (hrp !== hrp.toLowerCase() || !NAME_PATTERN.test(name)) {
      throw new RecipientParseError(`invalid plugin recipient "${text}": bad plugin name`, {
        hints: ["plugin names use only lower-case letters, digits and - _ . +"],
      })
    }
    return new PluginRecipient(name, text, false, options)
  }

  /** @returns the string this recipient was made from */
  encode(): string {
    return this.encoding
  }

  /** @returns the same as `encode()` (a recipient is public) */
  toString(): string {
    return this.encoding
  }

  /**
   * Runs `recipient-v1` for this recipient alone.
   * @returns the plugin's stanzas
   * @throws PluginError if the plugin is missing, fails or breaks the protocol
   */
  async wrapFileKey(fileKey: Uint8Array): Promise<readonly Stanza[]> {
    return (await this.wrapFileKeyWithLabels(fileKey)).stanzas
  }

  /**
   * Runs `recipient-v1` for this recipient alone.
   * @returns the plugin's stanzas and the labels it declared (empty if none)
   * @throws PluginError if the plugin is missing, fails or breaks the protocol
   */
  wrapFileKeyWithLabels(
    fileKey: Uint8Array,
  ): Promise<{ readonly stanzas: readonly Stanza[]; readonly labels: readonly string[] }> {
    return wrapWithPlugin(this.name, [this], fileKey, this.options)
  }

  /** The options this recipient runs its plugin with (`setPluginDefaults` when none were given). */
  get options(): PluginOptions {
    return this.#options ?? defaults
  }
}

/** Several recipients of one plugin, wrapped by a single plugin process. */
export class PluginRecipientGroup implements WrapLabelsRecipient {
  readonly name: string
  readonly recipients: readonly PluginRecipient[]

  /**
   * @param recipients at least one recipient, all for the same plugin
   * @throws PluginError if the list is empty or mixes plugins
   */
  constructor(recipients: readonly PluginRecipient[]) {
    this.name = nameOfOnePlugin(recipients, "a plugin recipient group needs recipients")
    this.recipients = recipients
  }

  /** @returns the stanzas for every recipient of the group */
  async wrapFileKey(fileKey: Uint8Array): Promise<readonly Stanza[]> {
    return (await this.wrapFileKeyWithLabels(fileKey)).stanzas
  }

  /**
   * @returns the stanzas for every recipient and the labels the plugin declared
   * @throws PluginError if the plugin is missing, fails or breaks the protocol
   */
  wrapFileKeyWithLabels(
    fileKey: Uint8Array,
  ): Promise<{ readonly stanzas: readonly Stanza[]; readonly labels: readonly string[] }> {
    const options = this.recipients[0]?.options ?? defaults
    return wrapWithPlugin(this.name, this.recipients, fileKey, options)
  }
}

/** An identity handled by plugin `age-plugin-NAME`: `AGE-PLUGIN-NAME-1…`, possibly data-less. */
export class PluginIdentity implements Identity {
  /** The plugin name (lower case). */
  readonly name: string
  readonly #encoding: string
  readonly #options: PluginOptions | undefined

  /**
   * @param name the plugin name (already checked)
   * @param encoding the identity string sent to the plugin
   * @param options UI, environment and launcher (default: `setPluginDefaults`, read when the
   *   plugin runs)
   */
  constructor(name: string, encoding: string, options?: PluginOptions) {
    this.name = checkPluginName(name)
    this.#encoding = encoding
    this.#options = options
  }

  /**
   * Parses `AGE-PLUGIN-NAME-1…` (the message never quotes it: it may hold a secret).
   * @returns the identity (the plugin is only started when unwrapping)
   * @throws IdentityParseError if the string is not a valid plugin identity
   */
  static fromString(text: string, options?: PluginOptions): PluginIdentity {
    let hrp: string
    try {
      hrp = decodeBech32(text).hrp
    } catch (cause) {
      throw new IdentityParseError("invalid plugin identity (AGE-PLUGIN-…)", {
        cause,
        hints: ["a plugin identity is AGE-PLUGIN-NAME-1… in upper case, as written by the plugin"],
      })
    }
    const name =
      hrp.startsWith("AGE-PLUGIN-") && hrp.endsWith("-") ? hrp.slice(11, -1).toLowerCase() : ""
    if (hrp !== hrp.toUpperCase() || !NAME_PATTERN.test(name)) {
      throw new IdentityParseError(`invalid plugin identity: bad plugin name in "${hrp}"`, {
        hints: ["plugin names use only letters, digits and - _ . +"],
      })
    }
    return new PluginIdentity(name, text, options)
  }

  /**
   * The data-less identity of `-j NAME` (for example `AGE-PLUGIN-DEMO-1G7ZR6S`).
   * @returns the identity
   * @throws PluginError if the name is not a valid plugin name
   */
  static withoutData(name: string, options?: PluginOptions): PluginIdentity {
    const checked = checkPluginName(name)
    return new PluginIdentity(checked, encodePluginIdentity(checked, new Uint8Array(0)), options)
  }

  /**
   * @returns the identity string. It may be a secret: never log it. (There is deliberately
   *   no `toString`, as for X25519Identity.)
   */
  encode(): string {
    return this.#encoding
  }

  /** @returns a recipient that makes the plugin encrypt to this identity (`-e -i`, `-e -j`) */
  toRecipient(): PluginRecipient {
    return new PluginRecipient(this.name, this.#encoding, true, this.#options)
  }

  /**
   * Runs `identity-v1` with this identity and every stanza of the header.
   * @returns the file key, or null if the plugin unwrapped none
   * @throws PluginError if the plugin is missing, reports an error or breaks the protocol
   */
  unwrapFileKey(stanzas: readonly Stanza[]): Promise<Uint8Array | null> {
    return unwrapWithPlugin(this.name, [this.#encoding], stanzas, this.options)
  }

  /** The options this identity runs its plugin with (`setPluginDefaults` when none were given). */
  get options(): PluginOptions {
    return this.#options ?? defaults
  }
}

/** Several identities of one plugin, tried by a single plugin process. */
export class PluginIdentityGroup implements Identity {
  readonly name: string
  readonly identities: readonly PluginIdentity[]

  /**
   * @param identities at least one identity, all for the same plugin
   * @throws PluginError if the list is empty or mixes plugins
   */
  constructor(identities: readonly PluginIdentity[]) {
    this.name = nameOfOnePlugin(identities, "a plugin identity group needs identities")
    this.identities = identities
  }

  /**
   * @returns the file key, or null if the plugin unwrapped none
   * @throws PluginError if the plugin is missing, reports an error or breaks the protocol
   */
  unwrapFileKey(stanzas: readonly Stanza[]): Promise<Uint8Array | null> {
    const encodings = this.identities.map((i) => i.encode())
    return unwrapWithPlugin(this.name, encodings, stanzas, this.identities[0]?.options ?? defaults)
  }
}

/**
 * Merges the plugin recipients of each plugin into one group (at the place of the first),
 * so that each plugin runs once per file. Other recipients keep their order.
 * @returns the recipients to encrypt to
 */
export function groupPluginRecipients(recipients: readonly Recipient[]): Recipient[] {
  return groupByPlugin(
    recipients,
    (r) => r instanceof PluginRecipient,
    (list) => new PluginRecipientGroup(list),
  )
}

/**
 * Merges the plugin identities of each plugin into one group (at the place of the first),
 * so that each plugin runs once per file. Other identities keep their order.
 * @returns the identities to decrypt with
 */
export function groupPluginIdentities(identities: readonly Identity[]): Identity[] {
  return groupByPlugin(
    identities,
    (i) => i instanceof PluginIdentity,
    (list) => new PluginIdentityGroup(list),
  )
}

/** Replaces the plugin keys of each plugin by `group(keys)` at the place of the first. */
function groupByPlugin<K, P extends K & { readonly name: string }>(
  keys: readonly K[],
  isPlugin: (key: K) => key is P,
  group: (keys: readonly P[]) => K,
): K[] {
  const byName = new Map<string, P[]>()
  for (const k of keys) {
    if (isPlugin(k)) {
      const list = byName.get(k.name) ?? []
      list.push(k)
      byName.set(k.name, list)
    }
  }
  const out: K[] = []
  for (const k of keys) {
    if (!isPlugin(k)) {
      out.push(k)
      continue
    }
    const list = byName.get(k.name)
    if (list === undefined) continue // already placed with the first of its plugin
    byName.delete(k.name)
    out.push(list.length === 1 ? k : group(list))
  }
  return out
}

/**
 * @param keys the keys of a group
 * @param what the start of the error message
 * @returns the one plugin name of `keys`
 * @throws PluginError if `keys` is empty or mixes plugins
 */
function nameOfOnePlugin(keys: readonly { readonly name: string }[], what: string): string {
  const first = keys[0]
  if (first === undefined || keys.some((k) => k.name !== first.name)) {
    throw new PluginError(`${what} of one plugin`)
  }
  return first.name
}

// ---------------------------------------------------------------------------------------
// The state machines.

const FILE_KEY_LENGTH = 16

async function wrapWithPlugin(
  name: string,
  recipients: readonly PluginRecipient[],
  fileKey: Uint8Array,
  options: PluginOptions,
): Promise<{ stanzas: Stanza[]; labels: string[] }> {
  const stanzas: Stanza[] = []
  let labels: string[] | null = null
  return exchange(name, "recipient-v1", options, {
    // Phase 1: our keys, the file key, and the labels extension.
    keys: recipients.map((r) =>
      command(r.isIdentity ? "add-identity" : "add-recipient", [r.encoding]),
    ),
    then: [command("wrap-file-key", [], fileKey), command("extension-labels")],
    accept: (message) => {
      switch (message.type) {
        case "recipient-stanza": {
          const [index, type, ...args] = message.args
          if (type === undefined) {
            throw protocolError(name, "recipient-stanza without a stanza type")
          }
          // We send a single file key, so its index is 0.
          if (index !== "0") throw protocolError(name, `recipient-stanza for file ${index ?? ""}`)
          stanzas.push({ type, args, body: message.body })
          return true
        }
        case "labels":
          if (labels !== null) throw protocolError(name, "labels sent twice")
          labels = [...message.args]
          return true
        default:
          return false
      }
    },
    done: () => {
      if (stanzas.length === 0) {
        throw new PluginError(`plugin ${name} returned no recipient stanzas`, {
          hints: [`check that age-plugin-${name} supports these recipients`],
        })
      }
      // spec: no more stanzas per file than recipients and identities
      if (stanzas.length > recipients.length) {
        throw protocolError(name, `${stanzas.length} stanzas for ${recipients.length} keys`)
      }
      return { stanzas, labels: labels ?? [] }
    },
  })
}

async function unwrapWithPlugin(
  name: string,
  identities: readonly string[],
  stanzas: readonly Stanza[],
  options: PluginOptions,
): Promise<Uint8Array | null> {
  let fileKey: Uint8Array | null = null
  return exchange(name, "identity-v1", options, {
    // Phase 1: our identities and every stanza of the (single) file.
    keys: identities.map((identity) => command("add-identity", [identity])),
    then: stanzas.map((s) => command("recipient-stanza", ["0", s.type, ...s.args], s.body)),
    accept: (message) => {
      if (message.type !== "file-key") return false
      if (message.args.length !== 1 || message.args[0] !== "0") {
        throw protocolError(name, "file-key for a file we did not send")
      }
      if (fileKey !== null) throw protocolError(name, "file-key sent twice")
      if (message.body.length !== FILE_KEY_LENGTH) {
        throw protocolError(name, `file key of ${message.body.length} bytes`)
      }
      fileKey = message.body
      return true
    },
    done: () => fileKey,
  })
}

/** What one run of a state machine sends, and how it takes the plugin's answers. */
interface Exchange<T> {
  /** Phase 1: the `add-recipient`/`add-identity` commands, each followed by grease. */
  readonly keys: readonly Stanza[]
  /** Phase 1: the commands after the keys (before `done`). */
  readonly then: readonly Stanza[]
  /**
   * Phase 2: takes a message of this state machine (answered `ok`).
   * @returns false when the message is not one (it is then answered as a request)
   * @throws PluginError when the message breaks the protocol
   */
  accept(message: Stanza): boolean
  /** Phase 2: the result once the plugin says `done`. */
  done(): T
}

/**
 * Runs `age-plugin-NAME --age-plugin=STATE_MACHINE` through both phases, then ends it.
 * `error` and the requests (`msg`, `confirm`, …) are handled the same in both machines.
 * @returns the result of `steps.done()`
 * @throws PluginError if the plugin is missing, reports an error or breaks the protocol
 */
async function exchange<T>(
  name: string,
  stateMachine: PluginStateMachine,
  options: PluginOptions,
  steps: Exchange<T>,
): Promise<T> {
  const connection = await launch(name, stateMachine, options)
  try {
    for (const key of steps.keys) {
      await connection.send(key)
      await sendGrease(connection, options.entropy ?? systemEntropy)
    }
    for (const message of steps.then) await connection.send(message)
    await connection.send(command("done"))

    // Phase 2: the plugin talks until done.
    for (;;) {
      const message = await receiveWithNotice(connection, name, options.ui)
      if (message.type === "done") return steps.done()
      if (message.type === "error") {
        await connection.send(command("ok"))
        throw pluginReportedError(name, message)
      }
      if (steps.accept(message)) await connection.send(command("ok"))
      else await answerRequest(connection, name, message, options.ui)
    }
  } finally {
    await connection.close()
  }
}

/** Answers `msg`, `confirm`, `request-public`, `request-secret`, or `unsupported`. */
async function answerRequest(
  connection: PluginConnection,
  name: string,
  message: Stanza,
  ui: PluginUi | undefined,
): Promise<void> {
  switch (message.type) {
    case "msg": {
      const ok = await callUi(async () => {
        if (ui?.displayMessage === undefined) return null
        await ui.displayMessage(name, text(name, message.body))
        return true
      })
      await connection.send(command(ok === null ? "fail" : "ok"))
      return
    }
    case "request-public":
    case "request-secret": {
      const secret = message.type === "request-secret"
      const value = await callUi(async () =>
        ui?.requestValue === undefined
          ? null
          : await ui.requestValue(name, text(name, message.body), secret),
      )
      await connection.send(value === null ? command("fail") : command("ok", [], encodeUtf8(value)))
      return
    }
    case "confirm": {
      if (message.args.length !== 1 && message.args.length !== 2) {
        throw protocolError(name, "confirm with a wrong number of arguments")
      }
      const yes = decodeUtf8Argument(name, message.args[0] ?? "")
      const no = message.args[1] === undefined ? null : decodeUtf8Argument(name, message.args[1])
      const choseYes = await callUi(async () =>
        ui?.confirm === undefined
          ? null
          : await ui.confirm(name, text(name, message.body), yes, no),
      )
      await connection.send(
        choseYes === null ? command("fail") : command("ok", [choseYes ? "yes" : "no"]),
      )
      return
    }
    default:
      // spec: bi-directional phases answer unknown commands (and grease) with unsupported
      await connection.send(command("unsupported"))
  }
}

/** @returns the callback's value, or null when there is no UI or it failed */
async function callUi<T>(f: () => Promise<T | null>): Promise<T | null> {
  try {
    return await f()
  } catch {
    return null
  }
}

async function receiveWithNotice(
  connection: PluginConnection,
  name: string,
  ui: PluginUi | undefined,
): Promise<Stanza> {
  if (ui?.waiting === undefined) return connection.receive()
  const timer = setTimeout(() => {
    ui.waiting?.(name)
  }, 5000)
  try {
    return await connection.receive()
  } finally {
    clearTimeout(timer)
  }
}

/** Sends a random grease command two times out of three (age-plugin spec "Grease"). */
async function sendGrease(connection: PluginConnection, entropy: Entropy): Promise<void> {
  const random = entropy(8)
  const pick = (i: number): number => random[i] ?? 0
  if (pick(0) % 3 === 0) return
  const hex = Buffer.from(random.subarray(1, 5)).toString("hex")
  const args = Array.from({ length: pick(5) % 3 }, (_, i) => String(pick(6 + i) % 100))
  const body = pick(5) % 2 === 0 ? entropy(pick(7) % 100) : new Uint8Array(0)
  await connection.send(command(`grease-${hex}`, args, body))
}

function command(type: string, args: readonly string[] = [], body?: Uint8Array): Stanza {
  return { type, args, body: body ?? new Uint8Array(0) }
}

function text(name: string, body: Uint8Array): string {
  try {
    return decodeUtf8(body)
  } catch (cause) {
    throw new PluginError(`plugin ${name} sent a message that is not UTF-8`, { cause })
  }
}

function decodeUtf8Argument(name: string, argument: string): string {
  try {
    return text(name, decodeBase64Strict(argument, "confirm option"))
  } catch (cause) {
    if (cause instanceof PluginError) throw cause
    throw protocolError(name, "confirm option is not base64", cause)
  }
}

function protocolError(name: string, what: string, cause?: unknown): PluginError {
  return new PluginError(`plugin ${name} broke the protocol: ${what}`, {
    cause,
    hints: [`age-plugin-${name} may be too old or too new for coffer; check for an update`],
  })
}

function pluginReportedError(name: string, message: Stanza): PluginError {
  // The body is the plugin's own message; it is shown as the plugin wrote it, on one line.
  let detail: string
  try {
    detail = decodeUtf8(message.body).replace(/\s+/g, " ").trim()
  } catch {
    detail = "(message is not UTF-8)"
  }
  const kind = message.args.join(" ")
  return new PluginError(`plugin ${name}: ${detail === "" ? "unspecified error" : detail}`, {
    hints: kind === "" ? [] : [`the plugin reported an error of kind "${kind}"`],
  })
}

// ---------------------------------------------------------------------------------------
// Starting plugin processes.

function launch(
  name: string,
  stateMachine: PluginStateMachine,
  options: PluginOptions,
): Promise<PluginConnection> {
  const launcher = options.launcher ?? processLauncher(options.env ?? process.env)
  return launcher(checkPluginName(name), stateMachine)
}

/**
 * Finds `age-plugin-NAME` in the absolute directories of PATH (relative and empty entries
 * would mean the current directory, which is never searched).
 * @returns the binary's absolute path, or null if there is none
 */
export function findPluginBinary(
  name: string,
  env: Readonly<Record<string, string | undefined>>,
): string | null {
  const file = `age-plugin-${checkPluginName(name)}`
  for (const dir of (env["PATH"] ?? "").split(delimiter)) {
    if (dir === "" || !isAbsolute(dir)) continue
    const candidate = join(dir, file)
    try {
      if (!statSync(candidate).isFile()) continue
      accessSync(candidate, fsConstants.X_OK)
      return candidate
    } catch {
      continue
    }
  }
  return null
}

/**
 * The default launcher: runs the plugin found on `env.PATH` as a child process in the temp
 * directory, with `env` as its environment.
 * @returns a launcher
 */
export function processLauncher(env: Readonly<Record<string, string | undefined>>): PluginLauncher {
  return async (name, stateMachine) => {
    const binary = findPluginBinary(name, env)
    if (binary === null) {
      throw new PluginError(`age-plugin-${name} not found in PATH: install it or fix PATH`, {
        hints: [
          `the ${name} plugin is needed to ${stateMachine === "recipient-v1" ? "encrypt to" : "decrypt with"} its keys`,
          "plugins are searched in the absolute directories of PATH only, never the current directory",
        ],
      })
    }
    const child = spawn(binary, [`--age-plugin=${stateMachine}`], {
      cwd: tmpdir(),
      env: { ...env },
      stdio: ["pipe", "pipe", "pipe"],
    })
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve)
      child.once("error", (cause) => {
        reject(new PluginError(`could not start ${binary}`, { cause }))
      })
    })
    return new ProcessConnection(name, child)
  }
}

const STDERR_KEEP = 2048
/** A plugin message larger than this is refused (a runaway plugin must not exhaust memory). */
const MESSAGE_LIMIT = 16 * 1024 * 1024
const EXIT_GRACE_MS = 2000

/** A plugin child process, exchanging stanzas over its stdin and stdout. */
class ProcessConnection implements PluginConnection {
  readonly #name: string
  readonly #child: ChildProcessWithoutNullStreams
  #buffer: Uint8Array = new Uint8Array(0)
  #ended = false
  #wake: (() => void) | null = null
  #stderr = ""
  #exit: Promise<void>
  #exitCode: number | null = null
  #exitSignal: NodeJS.Signals | null = null
  #exited = false

  constructor(name: string, child: ChildProcessWithoutNullStreams) {
    this.#name = name
    this.#child = child
    child.stdout.on("data", (chunk: Buffer) => {
      this.#buffer = concatBytes(this.#buffer, chunk)
      this.#notify()
    })
    child.stdout.on("end", () => {
      this.#ended = true
      this.#notify()
    })
    child.stdout.on("error", () => {
      this.#ended = true
      this.#notify()
    })
    child.stderr.on("data", (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString("utf8")).slice(-STDERR_KEEP)
    })
    // A plugin that exits early closes its stdin: the failure shows up as EOF on read.
    child.stdin.on("error", () => undefined)
    this.#exit = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.#exited = true
        this.#exitCode = code
        this.#exitSignal = signal
        resolve()
      })
    })
  }

  send(stanza: Stanza): Promise<void> {
    const data = encodeStanza(stanza)
    return new Promise((resolve) => {
      if (this.#child.stdin.writable) {
        this.#child.stdin.write(data, () => {
          resolve()
        })
      } else resolve()
    })
  }

  async receive(): Promise<Stanza> {
    for (;;) {
      let parsed
      try {
        parsed = parseStanza(this.#buffer, 0, `plugin ${this.#name} message`)
      } catch (cause) {
        if (!(cause instanceof HeaderError)) throw cause
        throw protocolError(this.#name, "malformed message", cause)
      }
      if (parsed !== null) {
        this.#buffer = this.#buffer.subarray(parsed.consumed)
        return parsed.stanza
      }
      if (this.#buffer.length > MESSAGE_LIMIT) {
        throw protocolError(this.#name, "message larger than 16 MiB")
      }
      if (this.#ended) {
        await Promise.race([this.#exit, delay(EXIT_GRACE_MS)])
        throw this.#exitedEarly()
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve
      })
    }
  }

  async close(): Promise<void> {
    this.#child.stdin.end()
    this.#child.stdout.destroy()
    if (!this.#exited) {
      // Like age: close the pipes, then interrupt the plugin by its PID and wait for it.
      this.#child.kill("SIGINT")
      const exited = await Promise.race([this.#exit.then(() => true), delay(EXIT_GRACE_MS)])
      if (!exited) {
        this.#child.kill("SIGKILL")
        await this.#exit
      }
    }
    this.#child.stderr.destroy()
  }

  #notify(): void {
    const wake = this.#wake
    this.#wake = null
    wake?.()
  }

  #exitedEarly(): PluginError {
    const status = this.#exited
      ? this.#exitSignal !== null
        ? `killed by ${this.#exitSignal}`
        : `exit status ${String(this.#exitCode)}`
      : "closed its output"
    const stderr = this.#stderr.trim().split("\n").slice(-3).join(" / ")
    return new PluginError(`plugin ${this.#name} stopped before finishing (${status})`, {
      hints: [
        ...(stderr === "" ? [] : [`age-plugin-${this.#name} said: ${stderr}`]),
        `check that age-plugin-${this.#name} works on its own, and that it supports this key`,
      ],
    })
  }
}

function delay(ms: number): Promise<false> {
  return new Promise((resolve) => {
    setTimeout(() => {
      resolve(false)
    }, ms).unref()
  })
}
