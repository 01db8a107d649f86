/**
 * `coffer unset FILE PATH`: sops's `unset` (docs/formats/sops.md "Commands"). Decrypts
 * FILE, removes the key or list element at PATH (`'["a"]["b"]'`, `'["list"][0]'`) and
 * re-encrypts with the same data key, so every other value keeps its ciphertext. A PATH
 * that is not there is an error unless `--idempotent`.
 */
import type { CliContext } from "../command.js"
import type { ExitCode } from "../exit-codes.js"
import { flagIsSet, type FlagSpec } from "../flags.js"
import { chooseInputStore, commandIo, exactPositionals, parseCommandLine } from "../sops-file.js"
import { TreePathError } from "../../workflows/tree-edit.js"
import { parseTreePath } from "../../workflows/tree-path.js"
import { unsetSopsValue } from "../../workflows/value-change.js"

const flagSpecs: readonly FlagSpec[] = [
  { key: "idempotent", names: ["idempotent"], kind: "boolean" },
  { key: "inputType", names: ["input-type"], kind: "value" },
  { key: "ignoreMac", names: ["ignore-mac"], kind: "boolean" },
]

function helpText(invokedAs: string): string {
  return `Usage:
    ${invokedAs} [FLAGS] FILE PATH

Removes one key (or list element) from a sops file. PATH is like '["db"]["password"]' or
'["hosts"][0]'. Every other value keeps its ciphertext.

Flags:
    --idempotent            Succeed without writing when PATH is not there.
    --input-type TYPE       yaml, json, dotenv, ini or binary (default: from FILE's suffix).
    --ignore-mac            Open the file even if its MAC does not match.

Examples:
    $ ${invokedAs} secrets/app.yaml '["db"]["password"]'
    $ ${invokedAs} --idempotent secrets/app.yaml '["old_token"]'
`
}

/**
 * Runs `coffer unset`.
 * @throws UsageError, IoError, TreePathError, the key and sops errors
 */
export async function run(args: readonly string[], ctx: CliContext): Promise<ExitCode | undefined> {
  const parsed = parseCommandLine(args, flagSpecs, ctx, helpText)
  if (parsed === undefined) return undefined
  const [file, pathText] = exactPositionals(parsed, ["FILE", "PATH"], ctx.invokedAs)
  const path = parseTreePath(pathText)
  const outcome = await unsetSopsValue(
    {
      file,
      store: chooseInputStore(parsed, file),
      ignoreMac: flagIsSet(parsed, "ignoreMac"),
    },
    path,
    commandIo(ctx),
  )
  if (outcome === "absent") {
    if (flagIsSet(parsed, "idempotent")) {
      ctx.note(`${file}: ${pathText} is not there, nothing was written`)
      return undefined
    }
    throw new TreePathError(`${file}: ${pathText} is not there`, {
      hints: [
        "use --idempotent to accept a missing path",
        `see the structure with: coffer decrypt ${file}`,
      ],
    })
  }
  return undefined
}
