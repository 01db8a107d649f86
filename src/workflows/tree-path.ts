/**
 * sops tree paths as `--extract` takes them (docs/formats/sops.md "Commands":
 * `'["a"]["b"][0]'`): each component is `["key"]`, `['key']` or `[index]`. Keys are taken
 * verbatim between the quotes (no escapes, as sops), so they may contain `[` or `]` as long
 * as the closing quote is followed by `]`.
 */
import { ToolError, UsageError } from "../internal/errors.js"
import type { Node } from "../sops/tree.js"

/** One component: a mapping key or a list index. */
export type TreePathStep = string | number

/**
 * Parses a tree path.
 * @param text the path, e.g. `["db"]["hosts"][0]`
 * @returns its components
 * @throws UsageError naming the offending position
 */
export function parseTreePath(text: string): TreePathStep[] {
  const steps: TreePathStep[] = []
  let i = 0
  const fail = (why: string): UsageError =>
    new UsageError(`invalid tree path ${JSON.stringify(text)}: ${why}`, {
      hints: [`write it like '["key"]["nested"][0]' (keys quoted, list indices bare)`],
    })
  while (i < text.length) {
    if (text.charAt(i) !== "[") throw fail(`expected "[" at position ${i + 1}`)
    const quote = text.charAt(i + 1)
    if (quote === '"' || quote === "'") {
      const end = text.indexOf(`${quote}]`, i + 2)
      if (end < 0) throw fail(`unterminated key at position ${i + 1}`)
      steps.push(text.slice(i + 2, end))
      i = end + 2
    } else {
      const end = text.indexOf("]", i + 1)
      if (end < 0) throw fail(`missing "]" at position ${i + 1}`)
      const digits = text.slice(i + 1, end)
      if (!/^\d+$/.test(digits))
        throw fail(`${JSON.stringify(digits)} is neither a quoted key nor a list index`)
      steps.push(Number.parseInt(digits, 10))
      i = end + 1
    }
  }
  if (steps.length === 0) throw fail("it is empty")
  return steps
}

/**
 * A tree path names nothing in the document (`--extract '["nope"]'`): the data does not
 * have it, so this is the file's fault or the reader's, not a misuse of the command line.
 */
export class TreePathNotFoundError extends ToolError {}

/**
 * Finds the node at `path` below `root` (sops's `Truncate`). As in sops, a list index
 * counts the list's comment items too (`Truncate` indexes the raw Go slice, comments
 * included), so `[1]` in `[# note, a, b]` is `a`.
 * @returns the node
 * @throws TreePathNotFoundError when a component is not there, or names a comment (naming
 *   the path up to it)
 */
export function findNode(root: Node, path: readonly TreePathStep[]): Node {
  let node: Node = root
  let walked = ""
  for (const step of path) {
    const shown = typeof step === "number" ? `[${step}]` : `[${JSON.stringify(step)}]`
    let next: Node | undefined
    if (typeof step === "string" && node.kind === "mapping") {
      for (const item of node.items) {
        if (item.kind === "entry" && item.key === step) next = item.value
      }
    } else if (typeof step === "number" && node.kind === "sequence") {
      // spec: sops's Truncate indexes the list with its comments
      const item = node.items[step]
      if (item?.kind === "comment") {
        throw new TreePathNotFoundError(`can't extract ${walked}${shown}: it is a comment`, {
          hints: [
            "list indices count comment lines too, as in sops; decrypt the whole file to see them",
          ],
        })
      }
      next = item
    }
    if (next === undefined) {
      const where = walked === "" ? "the top level" : walked
      const why =
        typeof step === "number" && node.kind !== "sequence"
          ? `${where} is not a list`
          : typeof step === "string" && node.kind !== "mapping"
            ? `${where} is not a mapping`
            : `${where} has no ${shown}`
      throw new TreePathNotFoundError(`can't extract ${walked}${shown}: ${why}`, {
        hints: ["decrypt the whole file to see its structure"],
      })
    }
    node = next
    walked += shown
  }
  return node
}
