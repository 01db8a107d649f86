/**
 * `coffer filestatus FILE`: sops's `filestatus` (docs/formats/sops.md "Commands"). Prints
 * `{"encrypted":true}` when FILE loads as a sops file whose metadata has both a `version`
 * and a MAC, else `{"encrypted":false}`. Nothing is decrypted, so no key is needed.
 */
import type { CliContext } from "../command.js"
import type { ExitCode } from "../exit-codes.js"
import type { FlagSpec } from "../flags.js"
import { chooseInputStore, commandIo, parseCommandLine, singleFile } from "../sops-file.js"
import { sopsFileStatus } from "../../workflows/file-status.js"

const flagSpecs: readonly FlagSpec[] = [
  { key: "inputType", names: ["input-type"], kind: "value" },
  // output is always JSON; accepted so scripts can say so explicitly
  { key: "json", names: ["json"], kind: "boolean" },
]

function helpText(invokedAs: string): string {
  return `Usage:
    ${invokedAs} [--input-type TYPE] FILE

Prints whether FILE is a sops-encrypted file, as JSON: {"encrypted":true} or
{"encrypted":false}. A file counts as encrypted when it has a sops section with a version
and a MAC. No key is needed.

Flags:
    --input-type TYPE       yaml, json, dotenv, ini or binary (default: from FILE's suffix).

Examples:
    $ ${invokedAs} secrets/app.yaml
    {"encrypted":true}
    $ ${invokedAs} config.json | jq -e .encrypted >/dev/null || echo "not encrypted"
`
}

/**
 * Runs `coffer filestatus`.
 * @throws UsageError, IoError when FILE can't be read
 */
export async function run(args: readonly string[], ctx: CliContext): Promise<ExitCode | undefined> {
  const parsed = parseCommandLine(args, flagSpecs, ctx, helpText)
  if (parsed === undefined) return undefined
  const file = singleFile(parsed, ctx.invokedAs)
  const store = chooseInputStore(parsed, file)
  const { encrypted } = await sopsFileStatus(file, store, commandIo(ctx))
  ctx.stdout.write(`${JSON.stringify({ encrypted })}\n`)
  return undefined
}
