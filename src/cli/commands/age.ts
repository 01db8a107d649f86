/**
 * `coffer age`: the `age` command line (docs/formats/age.md "The age and age-keygen command
 * lines"), including every invocation agenix makes (docs/agenix.md "The age command lines
 * agenix runs"): `-e -d -r -R -i -j -a -p -o --version`, Go-style flags, one INPUT (file or
 * standard input), `--` before a file name that starts with `-`.
 *
 * Safety: output files are created lazily (nothing is written before the header is
 * authenticated and, for decryption, before a chunk has verified) with the caller's umask;
 * binary output is refused on a terminal unless `-o -` asks for it; passphrases come from
 * the terminal or, with `-j batchpass`, from AGE_PASSPHRASE/AGE_PASSPHRASE_FD, never argv.
 */
import type { BatchpassSource } from "../../age/batchpass.js"
import { closeSync, fstatSync, readFileSync } from "node:fs"
import type { CliContext } from "../command.js"
import type { ExitCode } from "../exit-codes.js"
import {
  flagIsSet,
  flagValue,
  flagValues,
  parseFlags,
  type FlagSpec,
  type ParsedFlags,
} from "../flags.js"
import { cofferVersion } from "../help.js"
import {
  StdinClaim,
  checkNotSameFile,
  createOutput,
  openInputFile,
  readSmallFile,
  smallFileSource,
  type Output,
} from "../files.js"
import { confirm, isTerminalCheap, readSecret } from "../../system/terminal.js"
import type * as PluginModule from "../../age/plugin.js"
import { UsageError } from "../../internal/errors.js"
import { NoIdentityMatchError, PassphraseError } from "../../age/errors.js"
import type { Identity, Recipient } from "../../age/recipient.js"
import type { HeaderInfo } from "../../age/decrypt.js"
import type { ByteSink, ByteSource } from "../../age/parallel.js"
import {
  EncryptedIdentityFile,
  KEY_FILE_SIZE_LIMIT,
  parseIdentityFile,
  parseRecipient,
  parseRecipientsFile,
} from "../../age/keyfile.js"

const flagSpecs: readonly FlagSpec[] = [
  { key: "encrypt", names: ["e", "encrypt"], kind: "boolean" },
  { key: "decrypt", names: ["d", "decrypt"], kind: "boolean" },
  { key: "output", names: ["o", "output"], kind: "value" },
  { key: "armor", names: ["a", "armor"], kind: "boolean" },
  { key: "passphrase", names: ["p", "passphrase"], kind: "boolean" },
  { key: "recipient", names: ["r", "recipient"], kind: "value" },
  { key: "recipientsFile", names: ["R", "recipients-file"], kind: "value" },
  { key: "identity", names: ["i", "identity"], kind: "value" },
  { key: "plugin", names: ["j"], kind: "value" },
  { key: "version", names: ["version"], kind: "boolean" },
]

function helpText(invokedAs: string): string {
  return `Usage:
    ${invokedAs} [--encrypt] (-r RECIPIENT | -R PATH)... [--armor] [-o OUTPUT] [INPUT]
    ${invokedAs} [--encrypt] --passphrase [--armor] [-o OUTPUT] [INPUT]
    ${invokedAs} --decrypt [-i PATH | -j PLUGIN]... [-o OUTPUT] [INPUT]

Options:
    -e, --encrypt               Encrypt the input to the output. Default if omitted.
    -d, --decrypt               Decrypt the input to the output.
    -o, --output OUTPUT         Write the result to the file at path OUTPUT.
    -a, --armor                 Encrypt to a PEM encoded format.
    -p, --passphrase            Encrypt with a passphrase (asked on the terminal).
    -r, --recipient RECIPIENT   Encrypt to the specified RECIPIENT. Can be repeated.
    -R, --recipients-file PATH  Encrypt to recipients listed at PATH. Can be repeated.
    -i, --identity PATH         Use the identity file at PATH. Can be repeated.
    -j PLUGIN                   Use the plugin age-plugin-PLUGIN (built in: batchpass).
    --version                   Print the version.

INPUT defaults to standard input, and OUTPUT defaults to standard output. If OUTPUT
exists, it is overwritten; it is created only once there is something to write, with
the permissions your umask allows. Flags go before INPUT; use -- before an INPUT that
starts with a dash.

RECIPIENT can be an age public key ("age1..."), a post-quantum one ("age1pq1..."), a
plugin recipient ("age1yubikey1...") or an SSH public key ("ssh-ed25519 AAAA...",
"ssh-rsa AAAA...") given as one argument.

Recipient files contain one or more recipients, one per line. Empty lines and lines
starting with "#" are ignored; SSH keys of types age can't use are skipped with a
warning. "-" reads recipients from standard input.

Identity files contain one or more secret keys ("AGE-SECRET-KEY-1..."), one per line,
or an SSH private key. Passphrase-encrypted age files can be identity files (the
passphrase is asked only if needed). Unused identities are ignored. "-" reads
identities from standard input. With an explicit --encrypt, -i encrypts to the
identities' own recipients.

Passphrases are read from the terminal. For scripts, -j batchpass reads the passphrase
from AGE_PASSPHRASE or from the file descriptor in AGE_PASSPHRASE_FD.

Examples:
    $ coffer age-keygen -o key.txt
    Public key: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
    $ tar cvz ~/data | ${invokedAs} -r age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p > data.tar.gz.age
    $ ${invokedAs} --decrypt -i key.txt -o data.tar.gz data.tar.gz.age
    $ ${invokedAs} -a -R ~/.ssh/authorized_keys -o secret.age secret.txt
    $ ${invokedAs} -d -i ~/.ssh/id_ed25519 -o - -- -leading-dash.age
    $ AGE_PASSPHRASE_FD=3 ${invokedAs} -d -j batchpass backup.age 3< passphrase.txt
`
}

/**
 * Runs `age`.
 * @throws UsageError for an invalid command line; the age error classes for bad keys and files
 */
export async function run(args: readonly string[], ctx: CliContext): Promise<ExitCode | undefined> {
  const parsed = parseFlags(args, flagSpecs, ctx.invokedAs)
  if (parsed.help) {
    ctx.stdout.write(helpText(ctx.invokedAs))
    return undefined
  }
  if (flagIsSet(parsed, "version")) {
    ctx.stdout.write(`${cofferVersion} (coffer age)\n`)
    return undefined
  }
  if (args.length === 0) {
    ctx.stderr.write(helpText(ctx.invokedAs))
    throw new UsageError("no flags given", { hints: ["pass -e/-r to encrypt or -d/-i to decrypt"] })
  }
  const mode = validate(parsed)
  const inputPath = parsed.positionals[0]
  const outputPath = flagValue(parsed, "output")
  checkNotSameFile(inputPath, outputPath)
  const stdin = new StdinClaim()
  if (inputPath === undefined || inputPath === "-") stdin.claim("the input")
  const armor = flagIsSet(parsed, "armor")
  const outputIsTerminal = outputPath === undefined && isTerminalCheap(STDOUT_FD)

  if (mode === "encrypt" && outputIsTerminal && !armor) {
    throw new UsageError("refusing to output binary to the terminal", {
      hints: ["did you mean to use -a/--armor?", 'force anyway with "-o -"'],
    })
  }

  if (mode === "decrypt") {
    const identities = await collectIdentities(parsed, ctx, stdin)
    const input = await openInputSource(inputPath)
    const output = createOutput(outputPath, () => ctx.stdout)
    try {
      await pump(output, (sink) => decryptWith(input.source, sink, identities, parsed), {
        refuseBinaryOnTerminal: outputIsTerminal,
        explain: (err) => explainNoMatch(err, identities),
      })
    } finally {
      input.close()
    }
    return undefined
  }

  const recipients = flagIsSet(parsed, "passphrase")
    ? [await passphraseRecipient(ctx)]
    : await collectRecipients(parsed, ctx, stdin)
  const input = await openInputSource(inputPath)
  const output = createOutput(outputPath, () => ctx.stdout)
  const { encryptFile } = await import("../../age/parallel.js")
  try {
    const grouped = await groupPlugins(recipients)
    await pump(output, (sink) => encryptFile(input.source, sink, grouped, { armor }), {
      refuseBinaryOnTerminal: false,
      explain: (err) => err,
    })
  } finally {
    input.close()
  }
  return undefined
}

/** Standard input's file descriptor. */
const STDIN_FD = 0
/** Standard output's file descriptor. */
const STDOUT_FD = 1

/**
 * The input as a byte source: a file is read with large reads straight from its descriptor
 * (the payload is processed on worker threads when it is large); standard input as a stream.
 * @throws IoError when the file can't be opened
 */
async function openInputSource(
  path: string | undefined,
): Promise<{ source: ByteSource; close: () => void }> {
  const { fdSource } = await import("../../age/parallel.js")
  if (path === undefined || path === "-") {
    // read the descriptor directly: Web-stream pieces of stdin would each be garbage
    return { source: fdSource(STDIN_FD, "standard input"), close: () => undefined }
  }
  const fd = openInputFile(path)
  const name = JSON.stringify(path)
  const small = smallFileSource(fd, name)
  const close = (): void => {
    closeSync(fd)
  }
  if (small !== null) return { source: small, close }
  const stats = fstatSync(fd)
  const source = fdSource(fd, name)
  return {
    // a regular file we opened, not read yet: large payloads are read from it by position
    source: stats.isFile()
      ? { read: (into) => source.read(into), file: { fd, start: 0, size: stats.size, name } }
      : source,
    close,
  }
}

/** Checks flag combinations as age does. @returns the mode */
function validate(parsed: ParsedFlags): "encrypt" | "decrypt" {
  const has = (key: string): boolean => flagValues(parsed, key).length > 0
  if (parsed.positionals.length > 1) {
    const flagLike = parsed.positionals.slice(1).filter((p) => p.startsWith("-"))
    throw new UsageError(`too many arguments: ${JSON.stringify(parsed.positionals)}`, {
      hints: [
        "note that the input file must be specified after all flags",
        ...(flagLike.length > 0 ? [`move ${flagLike.join(" ")} before the input file`] : []),
      ],
    })
  }
  if (flagIsSet(parsed, "decrypt")) {
    if (flagIsSet(parsed, "encrypt"))
      throw new UsageError("-e/--encrypt can't be used with -d/--decrypt")
    if (flagIsSet(parsed, "armor")) {
      throw new UsageError("-a/--armor can't be used with -d/--decrypt", {
        hints: ["note that armored files are detected automatically"],
      })
    }
    if (flagIsSet(parsed, "passphrase")) {
      throw new UsageError("-p/--passphrase can't be used with -d/--decrypt", {
        hints: ["note that password protected files are detected automatically"],
      })
    }
    if (has("recipient")) {
      throw new UsageError("-r/--recipient can't be used with -d/--decrypt", {
        hints: ["did you mean to use -i/--identity to specify a private key?"],
      })
    }
    if (has("recipientsFile")) {
      throw new UsageError("-R/--recipients-file can't be used with -d/--decrypt", {
        hints: ["did you mean to use -i/--identity to specify a private key?"],
      })
    }
    return "decrypt"
  }
  if ((has("identity") || has("plugin")) && !flagIsSet(parsed, "encrypt")) {
    throw new UsageError(
      "-i/--identity and -j can't be used in encryption mode unless encryption is explicitly selected with -e/--encrypt",
      { hints: ["did you forget to specify -d/--decrypt?"] },
    )
  }
  const keyed = has("recipient") || has("recipientsFile") || has("identity") || has("plugin")
  if (flagIsSet(parsed, "passphrase")) {
    for (const [key, name] of [
      ["recipient", "-r/--recipient"],
      ["recipientsFile", "-R/--recipients-file"],
      ["identity", "-i/--identity"],
      ["plugin", "-j"],
    ] as const) {
      if (has(key)) {
        throw new UsageError(`-p/--passphrase can't be combined with ${name}`, {
          hints: ["a passphrase-encrypted file can have no other recipients"],
        })
      }
    }
  } else if (!keyed) {
    throw new UsageError("missing recipients", {
      hints: ["did you forget to specify -r/--recipient, -R/--recipients-file or -p/--passphrase?"],
    })
  }
  return "encrypt"
}

/** Reads a key file named on the command line (`-` = standard input). */
async function readKeyFile(
  path: string,
  what: string,
  ctx: CliContext,
  stdin: StdinClaim,
): Promise<Uint8Array> {
  if (path === "-") stdin.claim(`${what} "-"`)
  return readSmallFile(path, what, KEY_FILE_SIZE_LIMIT, () => ctx.stdin)
}

function displayName(path: string): string {
  return path === "-" ? "standard input" : path
}

async function askPassphrase(prompt: string): Promise<string> {
  return readSecret(prompt)
}

/** Loads one `-i` file's identities. */
async function identitiesFromFile(
  path: string,
  ctx: CliContext,
  stdin: StdinClaim,
): Promise<readonly Identity[]> {
  const data = await readKeyFile(path, "identity file", ctx, stdin)
  let sshPublicKey: string | undefined
  if (path !== "-") {
    try {
      sshPublicKey = readFileSync(`${path}.pub`, "utf8")
    } catch {
      sshPublicKey = undefined
    }
  }
  return parseIdentityFile(data, { name: displayName(path), askPassphrase, sshPublicKey })
}

/** A source of identities as given on the command line, for messages. */
interface IdentitySource {
  readonly flag: string
  readonly value: string
  readonly identities: readonly Identity[]
}

/** Whether an identity may prompt (so it is tried after those that can't). */
function mayPrompt(identity: Identity): boolean {
  return identity instanceof EncryptedIdentityFile || identity.constructor.name.startsWith("Plugin")
}

async function collectIdentities(
  parsed: ParsedFlags,
  ctx: CliContext,
  stdin: StdinClaim,
): Promise<IdentitySource[]> {
  const sources: IdentitySource[] = []
  for (const o of parsed.occurrences) {
    if (o.key === "identity") {
      sources.push({
        flag: "-i",
        value: o.value,
        identities: await identitiesFromFile(o.value, ctx, stdin),
      })
    } else if (o.key === "plugin") {
      sources.push({ flag: "-j", value: o.value, identities: [await pluginIdentity(o.value, ctx)] })
    }
  }
  return sources
}

/** Wraps a scrypt identity so a wrong passphrase says so (instead of "no identity matched"). */
function passphraseIdentity(inner: Identity, what: string): Identity {
  return {
    unwrapFileKey: async (stanzas) => {
      const fileKey = await inner.unwrapFileKey(stanzas)
      if (fileKey === null) throw new PassphraseError(`${what}incorrect passphrase`)
      return fileKey
    },
  }
}

/** Tried last on a passphrase-encrypted file when identities were given: refuses it. */
const refuseScryptIdentity: Identity = {
  unwrapFileKey: () =>
    Promise.reject(
      new UsageError(
        "the file is encrypted with a passphrase, but identities were given with -i/-j",
        {
          hints: ["leave out -i to be asked for the passphrase, or use -j batchpass for scripts"],
        },
      ),
    ),
}

async function decryptWith(
  input: ByteSource,
  sink: ByteSink,
  sources: readonly IdentitySource[],
  parsed: ParsedFlags,
): Promise<void> {
  const all = sources.flatMap((s) => s.identities)
  const hasBatchpass = flagValues(parsed, "plugin").includes("batchpass")
  // Native and SSH identities first (they never prompt without a matching tag), then
  // encrypted identity files and plugins, which may ask the user something.
  const ordered = [...all.filter((i) => !mayPrompt(i)), ...all.filter((i) => mayPrompt(i))]
  const choose = async (header: HeaderInfo): Promise<readonly Identity[]> => {
    if (header.scryptOnly) {
      if (all.length === 0) {
        const { ScryptIdentity } = await import("../../age/scrypt.js")
        const passphrase = await readSecret("Enter passphrase:")
        return [passphraseIdentity(new ScryptIdentity(passphrase), "")]
      }
      if (!hasBatchpass) {
        // As age: the identities are tried in order, and the file is refused only when none
        // of them takes the scrypt stanza (a plugin identity such as AGE-PLUGIN-BATCHPASS-1
        // in an identity file does; docs/formats/age.md "batchpass"). Encrypted identity
        // files are left out: no prompt for a key that can't open a passphrase file.
        const candidates = ordered.filter((i) => !(i instanceof EncryptedIdentityFile))
        return [...(await groupPlugins(candidates)), refuseScryptIdentity]
      }
    } else if (all.length === 0) {
      throw new UsageError("identities are required: the file is not encrypted with a passphrase", {
        hints: [
          `the file's recipient stanzas are ${header.stanzaTypes.map((t) => JSON.stringify(t)).join(", ")}`,
          "pass -i/--identity with an identity file (age-keygen output) or an SSH private key",
        ],
      })
    }
    return groupPlugins(ordered)
  }
  const { decryptFile } = await import("../../age/parallel.js")
  await decryptFile(input, sink, choose)
}

/** Adds to a "no identity matched" error which identities were tried. */
function explainNoMatch(err: unknown, sources: readonly IdentitySource[]): unknown {
  if (!(err instanceof NoIdentityMatchError) || sources.length === 0) return err
  const tried = sources
    .map(
      (s) =>
        `${s.flag} ${s.value === "-" ? "-" : JSON.stringify(s.value)} (${s.identities.length} ${s.identities.length === 1 ? "identity" : "identities"})`,
    )
    .join(", ")
  return new NoIdentityMatchError(err.stanzaTypes, {
    cause: err,
    hints: [
      `tried ${tried}`,
      "the file was encrypted to other recipients; check that the right key was given, or ask for the file to be re-encrypted to your key",
    ],
  })
}

async function collectRecipients(
  parsed: ParsedFlags,
  ctx: CliContext,
  stdin: StdinClaim,
): Promise<Recipient[]> {
  const recipients: Recipient[] = []
  const seen = new Set<string>()
  for (const o of parsed.occurrences) {
    if (o.key === "recipient" || o.key === "recipientsFile" || o.key === "identity") {
      const id = `${o.key}\0${o.value}`
      if (seen.has(id)) ctx.warn(`duplicate ${o.spelling} ${JSON.stringify(o.value)}`)
      seen.add(id)
    }
    switch (o.key) {
      case "recipient":
        recipients.push(await parseRecipient(o.value))
        break
      case "recipientsFile": {
        const data = await readKeyFile(o.value, "recipients file", ctx, stdin)
        recipients.push(
          ...(await parseRecipientsFile(data, {
            name: displayName(o.value),
            warn: (m) => {
              ctx.warn(m)
            },
          })),
        )
        break
      }
      case "identity":
        for (const identity of await identitiesFromFile(o.value, ctx, stdin)) {
          recipients.push(...(await recipientsOfIdentity(identity, o.value)))
        }
        break
      case "plugin":
        recipients.push(await pluginRecipient(o.value, ctx))
        break
      default:
        break
    }
  }
  return recipients
}

/** The recipients an identity decrypts for (`-e -i`: "encrypt to self"). */
async function recipientsOfIdentity(identity: Identity, path: string): Promise<Recipient[]> {
  if (identity instanceof EncryptedIdentityFile) {
    const inner = await identity.identities()
    return (await Promise.all(inner.map((i) => recipientsOfIdentity(i, path)))).flat()
  }
  const candidate = identity as Partial<{
    toRecipient: () => Recipient | Promise<Recipient>
    recipient: () => Recipient
  }>
  if (typeof candidate.toRecipient === "function") return [await candidate.toRecipient()]
  if (typeof candidate.recipient === "function") return [candidate.recipient()]
  throw new UsageError(
    `identity file ${JSON.stringify(path)} has an identity whose recipient can't be computed`,
    {
      hints: ["plugin identities can't be used with -e -i; pass the plugin's recipient with -r"],
    },
  )
}

/** Asks for a passphrase for `-p` (twice), or generates one when the answer is empty. */
async function passphraseRecipient(ctx: CliContext): Promise<Recipient> {
  const { ScryptRecipient } = await import("../../age/scrypt.js")
  let passphrase = await readSecret("Enter passphrase (leave empty to autogenerate a secure one):")
  if (passphrase === "") {
    const { generatePassphrase } = await import("../passphrase.js")
    passphrase = generatePassphrase()
    const { writeToTerminal } = await import("../../system/terminal.js")
    writeToTerminal(`Using the autogenerated passphrase "${passphrase}".\n`, ctx.stderr)
  } else {
    const confirmation = await readSecret("Confirm passphrase:")
    if (confirmation !== passphrase) throw new PassphraseError("passphrases didn't match")
  }
  return new ScryptRecipient(passphrase)
}

// ---- -j plugins (batchpass built in) ----

let pluginUiInstalled = false

/** Loads the plugin client and gives it our terminal UI and environment (once). */
async function loadPlugins(ctx: CliContext): Promise<typeof PluginModule> {
  const plugin = await import("../../age/plugin.js")
  if (!pluginUiInstalled) {
    pluginUiInstalled = true
    plugin.setPluginDefaults({
      env: ctx.env,
      ui: {
        displayMessage: (name, message) => {
          ctx.stderr.write(`${name} plugin: ${message}\n`)
        },
        requestValue: (name, prompt) => readSecret(`${name} plugin: ${prompt}`),
        confirm: async (name, prompt, yes, no) => {
          if (no === null) {
            ctx.stderr.write(`${name} plugin: ${prompt}\n`)
            return true
          }
          return confirm(`${name} plugin: ${prompt} (y = ${yes}, n = ${no})`)
        },
        waiting: (name) => {
          ctx.stderr.write(`waiting on ${name} plugin...\n`)
        },
      },
    })
  }
  return plugin
}

/** Groups plugin keys so each plugin runs once per file (only loads the client if needed). */
async function groupPlugins<T extends Identity | Recipient>(keys: readonly T[]): Promise<T[]> {
  if (!keys.some((k) => k.constructor.name.startsWith("Plugin"))) return [...keys]
  const plugin = await import("../../age/plugin.js")
  return (
    keys.every((k) => "unwrapFileKey" in k)
      ? plugin.groupPluginIdentities(keys as readonly Identity[])
      : plugin.groupPluginRecipients(keys as readonly Recipient[])
  ) as T[]
}

/** Where `-j batchpass` reads its passphrase: the environment and AGE_PASSPHRASE_FD. */
async function batchpassSource(ctx: CliContext): Promise<BatchpassSource> {
  const { readFileDescriptor } = await import("../../age/batchpass.js")
  return { env: ctx.env, readFd: readFileDescriptor }
}

async function pluginIdentity(name: string, ctx: CliContext): Promise<Identity> {
  if (name === "batchpass") {
    const { BatchpassIdentity } = await import("../../age/batchpass.js")
    return BatchpassIdentity.fromEnvironment(await batchpassSource(ctx))
  }
  const plugin = await loadPlugins(ctx)
  return plugin.PluginIdentity.withoutData(name)
}

async function pluginRecipient(name: string, ctx: CliContext): Promise<Recipient> {
  if (name === "batchpass") {
    const { BatchpassRecipient } = await import("../../age/batchpass.js")
    return BatchpassRecipient.fromEnvironment(await batchpassSource(ctx))
  }
  const plugin = await loadPlugins(ctx)
  return plugin.PluginIdentity.withoutData(name).toRecipient()
}

// ---- moving bytes ----

/**
 * Runs `produce`, which writes its result to the sink it is given, into `output`. On
 * failure a file we created is removed; nothing unauthenticated is ever written (the
 * decryptor releases only verified chunks).
 */
async function pump(
  output: Output,
  produce: (sink: ByteSink) => Promise<void>,
  opts: { refuseBinaryOnTerminal: boolean; explain: (err: unknown) => unknown },
): Promise<void> {
  try {
    let first = true
    await produce({
      ...(output.file === undefined ? {} : { file: () => output.file?.() ?? null }),
      write: async (chunk) => {
        if (first && opts.refuseBinaryOnTerminal && looksBinary(chunk)) {
          throw new UsageError("refusing to output binary to the terminal", {
            hints: ['force anyway with "-o -", or write to a file with -o FILE'],
          })
        }
        first = false
        await output.write(chunk)
      },
    })
    await output.close()
  } catch (err) {
    await output.discard()
    throw opts.explain(err)
  }
}

function looksBinary(bytes: Uint8Array): boolean {
  const sample = bytes.subarray(0, 4096)
  for (const byte of sample) {
    if (byte < 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d && byte !== 0x1b) return true
  }
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(sample, { stream: true })
    return false
  } catch {
    return true
  }
}
