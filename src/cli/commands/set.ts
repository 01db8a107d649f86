/**
 * `coffer set FILE PATH VALUE`: sops's `set` (docs/formats/sops.md "Commands"). Decrypts
 * FILE, puts the JSON VALUE at PATH (`'["a"]["b"]'`; a missing key is appended to its
 * mapping, an index past the end appends, missing levels are created) and re-encrypts with
 * the same data key, so every other value keeps its ciphertext. The value can also come from a file
 * (`--value-file`, VALUE is then its path) or standard input (`--value-stdin`), so secrets
 * need not appear in the process list.
 */
import { readFileSync } from "node:fs"
import type { CliContext } from "../command.js"
import type { ExitCode } from "../exit-codes.js"
import { flagIsSet, type FlagSpec } from "../flags.js"
import { chooseInputStore, commandIo, parseCommandLine } from "../sops-file.js"
import { IoError, UsageError } from "../../internal/errors.js"
import { describeSystemError } from "../../system/system-error.js"
import { parseJsonValue } from "../../workflows/tree-edit.js"
import { parseTreePath } from "../../workflows/tree-path.js"
import { setSopsValue } from "../../workflows/value-change.js"

const flagSpecs: readonly FlagSpec[] = [
  { key: "valueFile", names: ["value-file"], kind: "boolean" },
  { key: "valueStdin", names: ["value-stdin"], kind: "boolean" },
  { key: "idempotent", names: ["idempotent"], kind: "boolean" },
  { key: "inputType", names: ["input-type"], kind: "value" },
  { key: "ignoreMac", names: ["ignore-mac"], kind: "boolean" },
]

function helpText(invokedAs: string): string {
  return `Usage:
    ${invokedAs} [FLAGS] FILE PATH VALUE
    ${invokedAs} --value-file [FLAGS] FILE PATH VALUE_FILE
    ${invokedAs} --value-stdin [FLAGS] FILE PATH < VALUE

Sets one value in a sops file. PATH is like '["db"]["password"]' or '["hosts"][0]';
VALUE is JSON: a string needs its JSON quotes ('"s3cret"'), objects and lists become
nested values. Other values keep their ciphertext.

Flags:
    --value-file            VALUE is the path of a file holding the JSON value.
    --value-stdin           Read the JSON value from standard input (keeps it out of ps).
    --idempotent            Don't rewrite FILE when the value is already set.
    --input-type TYPE       yaml, json, dotenv, ini or binary (default: from FILE's suffix).
    --ignore-mac            Open the file even if its MAC does not match.

Examples:
    $ ${invokedAs} secrets/app.yaml '["db"]["password"]' '"s3cret"'
    $ ${invokedAs} secrets/app.yaml '["replicas"]' 3
    $ printf '"%s"' "$TOKEN" | ${invokedAs} --value-stdin secrets/app.yaml '["token"]'
`
}

/**
 * Runs `coffer set`.
 * @throws UsageError, IoError, TreePathError, the key and sops errors
 */
export async function run(args: readonly string[], ctx: CliContext): Promise<ExitCode | undefined> {
  const parsed = parseCommandLine(args, flagSpecs, ctx, helpText)
  if (parsed === undefined) return undefined
  const fromStdin = flagIsSet(parsed, "valueStdin")
  const fromFile = flagIsSet(parsed, "valueFile")
  if (fromStdin && fromFile) {
    throw new UsageError("--value-file and --value-stdin can't be used together")
  }
  const wanted = fromStdin ? 2 : 3
  const [file, pathText, valueArg] = parsed.positionals
  if (parsed.positionals.length !== wanted || file === undefined || pathText === undefined) {
    throw new UsageError(
      `${ctx.invokedAs} takes ${fromStdin ? "FILE PATH (the value on stdin)" : "FILE PATH VALUE"}, got ${String(parsed.positionals.length)} arguments`,
      { hints: [`run "${ctx.invokedAs} --help" for examples`] },
    )
  }
  const path = parseTreePath(pathText)
  let valueText: string
  if (fromStdin) {
    valueText = await readAll(ctx.stdin)
  } else if (fromFile) {
    try {
      valueText = readFileSync(valueArg ?? "", "utf8")
    } catch (cause) {
      throw new IoError(
        `can't read the value file ${JSON.stringify(valueArg)}: ${describeSystemError(cause)}`,
        { cause },
      )
    }
  } else {
    valueText = valueArg ?? ""
  }
  const value = parseJsonValue(valueText.trim())

  const outcome = await setSopsValue(
    {
      file,
      store: chooseInputStore(parsed, file),
      ignoreMac: flagIsSet(parsed, "ignoreMac"),
    },
    path,
    value,
    { idempotent: flagIsSet(parsed, "idempotent") },
    commandIo(ctx),
  )
  if (outcome === "unchanged") {
    ctx.note(`${file}: ${pathText} already has that value, nothing was written`)
  }
  return undefined
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of stream)
    chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk)
  return Buffer.concat(chunks).toString("utf8")
}
