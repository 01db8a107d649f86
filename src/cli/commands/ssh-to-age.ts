/**
 * `coffer ssh-to-age`: the command line of Mic92/ssh-to-age, with the same output
 * (docs/goals.md "Capabilities", docs/host/sops-nix-manifest.md "SSH host keys"). Reads SSH public keys (one per line, `.pub`,
 * `authorized_keys` or `ssh-keyscan`/known_hosts lines) from `-i FILE` or standard input
 * and prints one `age1…` recipient per ed25519 key; keys of other types are skipped with
 * `skipped key: …` on stderr, as upstream does. With `-private-key`, converts an ed25519
 * private key to `AGE-SECRET-KEY-1…`.
 *
 * Flags are Go-style single-dash words, as upstream: `-private-key`, `-i`, `-o`,
 * `-version`, `-stdinpass`. The passphrase of an encrypted key comes from the terminal,
 * from standard input with `-stdinpass`, or from `SSH_TO_AGE_PASSPHRASE` (upstream's
 * variable); never from argv. A converted private key is written to a new 0600 file.
 */
import { open } from "node:fs/promises"
import type { CliContext } from "../command.js"
import type { ExitCode } from "../exit-codes.js"
import { flagIsSet, flagValue, parseFlags, type FlagSpec } from "../flags.js"
import { cofferVersion } from "../help.js"
import { readSmallFile } from "../files.js"
import { describeSystemError } from "../../system/system-error.js"
import { IoError, UsageError } from "../../internal/errors.js"
import { KEY_FILE_SIZE_LIMIT } from "../../age/keyfile.js"

const flagSpecs: readonly FlagSpec[] = [
  { key: "privateKey", names: ["private-key"], kind: "boolean" },
  { key: "input", names: ["i"], kind: "value" },
  { key: "output", names: ["o"], kind: "value" },
  { key: "stdinpass", names: ["stdinpass"], kind: "boolean" },
  { key: "version", names: ["version"], kind: "boolean" },
]

function helpText(invokedAs: string): string {
  return `Usage:
    ${invokedAs} [-i INPUT] [-o OUTPUT]
    ${invokedAs} -private-key [-stdinpass] [-i INPUT] [-o OUTPUT]

Converts SSH ed25519 keys to age keys, as Mic92/ssh-to-age.

Options:
    -i INPUT        Read the key(s) from INPUT (default: standard input).
    -o OUTPUT       Write the result to OUTPUT (default: standard output).
    -private-key    Convert a private key (to AGE-SECRET-KEY-1…) instead of public keys.
    -stdinpass      Read the private key's passphrase from standard input (then -i is needed).
    -version        Print the version.

Public keys are read one per line (.pub, authorized_keys, ssh-keyscan output); each
ed25519 key gives one age1… line and other key types are skipped with a note on stderr.
An encrypted private key's passphrase is asked on the terminal, or taken from
-stdinpass or the SSH_TO_AGE_PASSPHRASE environment variable.

Examples:
    $ ${invokedAs} < /etc/ssh/ssh_host_ed25519_key.pub
    age1hjm3aujg9e79f5yth8a2cejzdjg5n9vnu96l05p70uvfpeltnpms7yy3pp
    $ ssh-keyscan host.example | ${invokedAs}
    $ ${invokedAs} -private-key -i ~/.ssh/id_ed25519 -o key.txt
`
}

/**
 * Runs `ssh-to-age`.
 * @throws UsageError, IoError, RecipientParseError, IdentityParseError, PassphraseError
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
  if (parsed.positionals.length > 0) {
    throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[0])}`, {
      hints: [`give the input with -i FILE or on standard input: ${ctx.invokedAs} -i key.pub`],
    })
  }
  const input = flagValue(parsed, "input") ?? "-"
  const output = flagValue(parsed, "output") ?? "-"
  const privateKey = flagIsSet(parsed, "privateKey")
  const stdinpass = flagIsSet(parsed, "stdinpass")
  if (stdinpass && (!privateKey || input === "-")) {
    throw new UsageError("-stdinpass needs -private-key and -i FILE", {
      hints: ["standard input can carry either the key or its passphrase, not both"],
    })
  }
  const inputName = input === "-" ? "standard input" : input
  const data = await readSmallFile(input, "SSH key", KEY_FILE_SIZE_LIMIT, ctx.stdin)
  const text = new TextDecoder().decode(data)

  const convert = await import("../../keys/ssh-to-age.js")
  let result: string
  if (privateKey) {
    const askPassphrase = async (what: string): Promise<string> => {
      if (stdinpass) return firstLine(await readSmallFile("-", "passphrase", 64 * 1024, ctx.stdin))
      const fromEnv = ctx.env["SSH_TO_AGE_PASSPHRASE"]
      if (fromEnv !== undefined && fromEnv !== "") return fromEnv
      const { readSecret } = await import("../../system/terminal.js")
      return readSecret(`Enter passphrase for ${what}:`)
    }
    result = `${await convert.sshPrivateKeyToAge(text, { name: inputName, askPassphrase })}\n`
    data.fill(0)
  } else {
    const lines: string[] = []
    for (const [index, raw] of text.split("\n").entries()) {
      const line = raw.trim()
      if (line === "" || line.startsWith("#")) continue
      const converted = convert.sshPublicKeyLineToAge(
        line,
        `${input === "-" ? inputName : JSON.stringify(inputName)} line ${index + 1}`,
      )
      if (converted.kind === "skipped") {
        ctx.stderr.write(`skipped key: ${converted.reason}\n`)
        continue
      }
      lines.push(`${converted.recipient}\n`)
    }
    result = lines.join("")
  }
  await writeResult(output, result, ctx, privateKey)
  return undefined
}

function firstLine(bytes: Uint8Array): string {
  const text = new TextDecoder().decode(bytes)
  const nl = text.indexOf("\n")
  const line = nl === -1 ? text : text.slice(0, nl)
  return line.endsWith("\r") ? line.slice(0, -1) : line
}

async function writeResult(
  path: string,
  text: string,
  ctx: CliContext,
  secret: boolean,
): Promise<void> {
  if (path === "-") {
    await new Promise<void>((resolve, reject) => {
      ctx.stdout.write(text, (err) => {
        if (err) reject(err)
        else resolve()
      })
    })
    return
  }
  try {
    // As upstream (os.Create) the file is created or truncated; a secret key gets 0600.
    const handle = await open(path, "w", secret ? 0o600 : 0o666)
    try {
      await handle.writeFile(text)
    } finally {
      await handle.close()
    }
  } catch (cause) {
    throw new IoError(`can't write ${JSON.stringify(path)}: ${describeSystemError(cause)}`, {
      cause,
    })
  }
}
