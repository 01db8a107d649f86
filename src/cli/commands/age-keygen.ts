/**
 * `coffer age-keygen`: the `age-keygen` command line (docs/formats/age.md "Identity and
 * recipient files", "The age and age-keygen command lines"). Generates an X25519 (or, with
 * `-pq`, a post-quantum hybrid) identity, or with `-y` prints the recipients of an identity file.
 *
 * Security: a key file is created with mode 0600 and exclusively (an existing file is
 * never overwritten, so a key can't be lost by a repeated command); writing a key to a
 * world-readable file (`> key.txt` under a permissive umask) draws a warning.
 */
import { fstatSync } from "node:fs"
import { open } from "node:fs/promises"
import type { CliContext } from "../command.js"
import type { ExitCode } from "../exit-codes.js"
import { flagIsSet, flagValue, parseFlags, type FlagSpec } from "../flags.js"
import { cofferVersion } from "../help.js"
import { readSmallFile } from "../files.js"
import { describeSystemError } from "../../system/system-error.js"
import { isTerminal } from "../../system/terminal.js"
import { IoError, UsageError } from "../../internal/errors.js"
import { IdentityParseError } from "../../age/errors.js"
import { KEY_FILE_SIZE_LIMIT } from "../../age/keyfile.js"

const flagSpecs: readonly FlagSpec[] = [
  { key: "output", names: ["o", "output"], kind: "value" },
  { key: "convert", names: ["y"], kind: "boolean" },
  { key: "pq", names: ["pq"], kind: "boolean" },
  { key: "version", names: ["version"], kind: "boolean" },
]

function helpText(invokedAs: string): string {
  return `Usage:
    ${invokedAs} [-pq] [-o OUTPUT]
    ${invokedAs} -y [-o OUTPUT] [INPUT]

Options:
    -pq                       Generate a post-quantum hybrid identity (age1pq1… recipient).
    -o, --output OUTPUT       Write the result to the file at path OUTPUT (mode 0600;
                              an existing file is never overwritten).
    -y                        Convert an identity file to a recipients file.
    --version                 Print the version.

Without -y, a new identity is written to OUTPUT or standard output, with its creation
time and public key as comments. When the output is not a terminal, the public key is
also printed to standard error.

In -y mode, the identity file is read from INPUT or standard input and its recipients
are written one per line, without comments.

Examples:
    $ ${invokedAs}
    # created: 2025-01-02T15:30:45+01:00
    # public key: age1lvyvwawkr0mcnnnncaghunadrqkmuf9e6507x9y920xxpp866cnql7dp2z
    AGE-SECRET-KEY-1N9JEPW6DWJ0ZQUDX63F5A03GX8QUW7PXDE39N8UYF82VZ9PC8UFS3M7XA9

    $ ${invokedAs} -o key.txt
    Public key: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p

    $ ${invokedAs} -y key.txt
    age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
`
}

/**
 * Runs `age-keygen`.
 * @throws UsageError for a wrong command line; IoError when the output exists or can't be written
 */
export async function run(args: readonly string[], ctx: CliContext): Promise<ExitCode | undefined> {
  const parsed = parseFlags(args, flagSpecs, ctx.invokedAs)
  if (parsed.help) {
    ctx.stdout.write(helpText(ctx.invokedAs))
    return undefined
  }
  if (flagIsSet(parsed, "version")) {
    ctx.stdout.write(`${cofferVersion}\n`)
    return undefined
  }
  const convert = flagIsSet(parsed, "convert")
  const pq = flagIsSet(parsed, "pq")
  const output = flagValue(parsed, "output")
  if (convert && pq) {
    throw new UsageError("-pq can't be used with -y", {
      hints: ["-y reads the key type from the identity file"],
    })
  }
  if (!convert && parsed.positionals.length > 0) {
    throw new UsageError(`too many arguments: ${JSON.stringify(parsed.positionals)}`, {
      hints: [
        `${ctx.invokedAs} takes no input file unless -y is given; flags go before the input file`,
      ],
    })
  }
  if (convert && parsed.positionals.length > 1) {
    throw new UsageError(`too many arguments: ${JSON.stringify(parsed.positionals)}`, {
      hints: ["give one identity file; flags go before the input file"],
    })
  }
  if (convert) {
    const input = parsed.positionals[0] ?? "-"
    const data = await readSmallFile(input, "identity file", KEY_FILE_SIZE_LIMIT, ctx.stdin)
    const lines = await recipientsOfIdentityFile(data, input === "-" ? "standard input" : input)
    await writeOutput(output, lines.map((l) => `${l}\n`).join(""), ctx, false)
    return undefined
  }
  const { identity, recipient } = await generate(pq)
  const text = `# created: ${formatRfc3339(new Date())}\n# public key: ${recipient}\n${identity}\n`
  const outputIsTerminal = await writeOutput(output, text, ctx, true)
  if (!outputIsTerminal) ctx.stderr.write(`Public key: ${recipient}\n`)
  return undefined
}

async function generate(pq: boolean): Promise<{ identity: string; recipient: string }> {
  if (pq) {
    const { generateHybridIdentity } = await import("../../age/hybrid.js")
    const identity = generateHybridIdentity()
    return { identity: identity.encode(), recipient: (await identity.toRecipient()).encode() }
  }
  const { generateX25519Identity } = await import("../../age/x25519.js")
  const identity = generateX25519Identity()
  return { identity: identity.encode(), recipient: identity.toRecipient().encode() }
}

/** The recipients (`age1…`) of the native identities in an identity file, in order. */
async function recipientsOfIdentityFile(data: Uint8Array, name: string): Promise<string[]> {
  const text = new TextDecoder().decode(data)
  if (text.trimStart().startsWith("-----BEGIN") || text.startsWith("age-encryption.org/")) {
    throw new IdentityParseError(
      `identity file ${JSON.stringify(name)} is not a plain age identity file`,
      {
        hints: [
          "for an SSH private key, ssh-keygen -y -f KEY prints its public key, which is itself a recipient",
          "for a passphrase-encrypted identity file, decrypt it first: coffer age -d FILE | coffer age-keygen -y",
        ],
      },
    )
  }
  const out: string[] = []
  for (const [index, raw] of text.split("\n").entries()) {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw
    if (line === "" || line.startsWith("#")) continue
    const where = `identity file ${JSON.stringify(name)} line ${index + 1}`
    if (line.startsWith("AGE-SECRET-KEY-PQ-1")) {
      const { parseHybridIdentity } = await import("../../age/hybrid.js")
      out.push((await parseHybridIdentity(line).toRecipient()).toString())
    } else if (line.startsWith("AGE-SECRET-KEY-1")) {
      const { parseX25519Identity } = await import("../../age/x25519.js")
      out.push(parseX25519Identity(line).toRecipient().encode())
    } else if (line.startsWith("AGE-PLUGIN-")) {
      throw new IdentityParseError(
        `${where}: plugin identities have no recipient age-keygen can compute`,
        {
          hints: ["the plugin prints its recipient (for example age-plugin-yubikey --list)"],
        },
      )
    } else if (/^age1/i.test(line) || line.startsWith("ssh-")) {
      throw new IdentityParseError(`${where}: apparent recipient found in identities file`, {
        hints: ["this line is already a recipient (public key)"],
      })
    } else {
      throw new IdentityParseError(`${where}: not a valid identity`, {
        hints: ["an identity file holds AGE-SECRET-KEY-1… lines, as written by age-keygen"],
      })
    }
  }
  if (out.length === 0) {
    throw new IdentityParseError(`no identities found in identity file ${JSON.stringify(name)}`)
  }
  return out
}

/**
 * Writes `text` to the output. A secret key goes to a new 0600 file, never over an
 * existing one.
 * @returns whether the output is a terminal
 */
async function writeOutput(
  path: string | undefined,
  text: string,
  ctx: CliContext,
  secret: boolean,
): Promise<boolean> {
  if (path === undefined || path === "-") {
    if (secret) warnIfWorldReadable(1, ctx)
    await new Promise<void>((resolve, reject) => {
      ctx.stdout.write(text, (err) => {
        if (err) reject(err)
        else resolve()
      })
    })
    return isTerminal(1)
  }
  let handle
  try {
    // "wx": O_CREAT|O_EXCL, so an existing key is never overwritten.
    handle = await open(path, "wx", 0o600)
  } catch (cause) {
    const exists = (cause as NodeJS.ErrnoException).code === "EEXIST"
    throw new IoError(
      exists
        ? `output file ${JSON.stringify(path)} already exists`
        : `can't create output file ${JSON.stringify(path)}: ${describeSystemError(cause)}`,
      {
        cause,
        hints: exists
          ? [
              "age-keygen never overwrites a file (it may hold a key); choose another name or remove it first",
            ]
          : [],
      },
    )
  }
  try {
    if (secret) warnIfWorldReadable(handle.fd, ctx)
    await handle.writeFile(text)
    return isTerminal(handle.fd)
  } finally {
    await handle.close()
  }
}

function warnIfWorldReadable(fd: number, ctx: CliContext): void {
  try {
    const st = fstatSync(fd)
    if (st.isFile() && (st.mode & 0o004) !== 0)
      ctx.warn("writing secret key to a world-readable file")
  } catch {
    // not a file we can inspect: nothing to warn about
  }
}

/** Formats `date` as RFC 3339 in local time, as Go's time.RFC3339 (`Z` for UTC). */
export function formatRfc3339(date: Date): string {
  const pad = (n: number): string => String(n).padStart(2, "0")
  const offset = -date.getTimezoneOffset()
  const zone =
    offset === 0
      ? "Z"
      : `${offset > 0 ? "+" : "-"}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`
  return (
    `${String(date.getFullYear()).padStart(4, "0")}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}${zone}`
  )
}
