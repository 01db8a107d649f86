/**
 * `coffer textconv FILE` (docs/audit.md "Diffs of encrypted files"): git's textconv filter
 * for encrypted files. Prints the plaintext of a sops document or an age file when a key
 * here opens it (found as sops finds keys: SOPS_AGE_KEY_FILE, keys.txt, ~/.ssh, gpg), its
 * structure with digests instead of values when none does, and any other file as it is. It
 * never prompts (git runs it with no one to answer) and writes nothing but standard output.
 */
import { readFile } from "node:fs/promises"
import type { CliContext } from "../command.js"
import type { ExitCode } from "../exit-codes.js"
import type { FlagSpec } from "../flags.js"
import { describeSystemError } from "../../system/system-error.js"
import { parseCommandLine, singleFile } from "../sops-file.js"
import { IoError, ToolError } from "../../internal/errors.js"
import { classifyFile } from "../../audit/classify.js"
import { agePlaceholder, sopsPlaceholder } from "../../audit/textconv.js"
import { discoverAgeIdentities } from "../../keys/discover.js"
import { storeForFormat } from "../../sops/stores/index.js"
import { decryptSopsFile } from "../../workflows/decrypt.js"
import { systemWorkflowIo } from "../../workflows/system-io.js"

/** The flags of `coffer textconv` (also read by `coffer completion`). */
export const flagSpecs: readonly FlagSpec[] = []

function helpText(invokedAs: string): string {
  return `Usage:
    ${invokedAs} FILE

Prints FILE for git diff: the plaintext of a sops file or an age file when a key on this
machine opens it, else its structure with a digest in place of each encrypted value (so
changed values still show as changed lines), and any other file unchanged. It never asks
for a passphrase and writes nothing but standard output.

Set up once per repository (the .gitattributes can be committed):

    $ printf '%s\\n' 'secrets/** diff=coffer' '*.age diff=coffer' >> .gitattributes
    $ git config diff.coffer.textconv "coffer textconv"
    $ git diff secrets/app.yaml          # decrypted on both sides

Do not set diff.coffer.cachetextconv: git would store the plaintext in its notes.

Examples:
    $ ${invokedAs} secrets/app.yaml
    $ SOPS_AGE_KEY_FILE=~/keys.txt git log -p secrets/app.yaml
`
}

function write(ctx: CliContext, content: string | Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    ctx.stdout.write(content, (err) => {
      if (err) reject(err)
      else resolve()
    })
  })
}

function reasonOf(error: unknown): string {
  const name = error instanceof Error ? error.name : ""
  if (name === "DataKeyError" || name === "NoIdentityMatchError")
    return "no key here opens this file"
  const message = error instanceof Error ? (error.message.split("\n")[0] ?? "") : String(error)
  return `it does not decrypt (${message})`
}

/**
 * Runs `coffer textconv`.
 * @throws UsageError, IoError when FILE can't be read
 */
export async function run(args: readonly string[], ctx: CliContext): Promise<ExitCode | undefined> {
  const parsed = parseCommandLine(args, flagSpecs, ctx, helpText)
  if (parsed === undefined) return undefined
  const file = singleFile(parsed, ctx.invokedAs)
  let bytes: Uint8Array
  try {
    bytes = new Uint8Array(await readFile(file))
  } catch (cause) {
    throw new IoError(`can't read ${JSON.stringify(file)}: ${describeSystemError(cause)}`, {
      cause,
    })
  }
  const record = classifyFile(file, bytes)
  // git runs textconv with no one to answer a prompt: keys that need a passphrase don't count
  const io = systemWorkflowIo({ env: ctx.env, prompts: false, warn: () => undefined })
  if (record.kind === "sops") {
    try {
      // the file is read once more by the workflow; the bytes above only classified it
      const store = storeForFormat(record.format, { fileName: file })
      await write(ctx, await decryptSopsFile({ file, input: store, output: store }, io))
    } catch (error) {
      if (!(error instanceof ToolError)) throw error
      await write(ctx, sopsPlaceholder(record, bytes, reasonOf(error)))
    }
    return undefined
  }
  if (record.kind === "age") {
    try {
      const { identities } = await discoverAgeIdentities(io.discovery())
      const { decrypt } = await import("../../age/decrypt.js")
      await write(ctx, await decrypt(bytes, identities))
    } catch (error) {
      if (!(error instanceof ToolError)) throw error
      await write(ctx, agePlaceholder(record, bytes, reasonOf(error)))
    }
    return undefined
  }
  await write(ctx, bytes)
  return undefined
}
