/**
 * Changing one place in a sops document (docs/formats/sops.md "Commands" `set`/`unset`; sops's
 * `TreeBranch.Set`/`Unset`): paths are `["key"]`/`[index]` steps (`tree-path.ts`). Setting
 * a missing key appends it at the end of its mapping, an index past the end appends to the
 * list, and missing levels are created (a mapping for a key, a list for an index). As in
 * sops, list indices count comment items. Documents are immutable: each call returns a new
 * tree sharing the untouched parts.
 */
import { UsageError } from "../internal/errors.js"
import { ToolError } from "../internal/errors.js"
import type { Comment, Document, Entry, Mapping, Node } from "../sops/tree.js"
import type { TreePathStep } from "./tree-path.js"
import { JsonStore } from "../sops/stores/json.js"

/** A path names a comment, or (for `unset`) something that isn't there. */
export class TreePathError extends ToolError {}

function shownPath(path: readonly TreePathStep[]): string {
  return path
    .map((s) => (typeof s === "number" ? `[${String(s)}]` : `[${JSON.stringify(s)}]`))
    .join("")
}

function build(path: readonly TreePathStep[], value: Node): Node {
  const [step, ...rest] = path
  if (step === undefined) return value
  if (typeof step === "string") {
    return { kind: "mapping", items: [{ kind: "entry", key: step, value: build(rest, value) }] }
  }
  return { kind: "sequence", items: [build(rest, value)] }
}

function setIn(
  node: Node | undefined,
  path: readonly TreePathStep[],
  value: Node,
  full: readonly TreePathStep[],
): Node {
  const [step, ...rest] = path
  if (step === undefined) return value
  if (typeof step === "string") {
    if (node?.kind !== "mapping") return build(path, value)
    const index = node.items.findIndex((i) => i.kind === "entry" && i.key === step)
    if (index === -1) {
      return {
        kind: "mapping",
        items: [...node.items, { kind: "entry", key: step, value: build(rest, value) }],
      }
    }
    const entry = node.items[index] as Entry
    const items = [...node.items]
    items[index] = { ...entry, value: setIn(entry.value, rest, value, full) }
    return { kind: "mapping", items }
  }
  if (node?.kind !== "sequence") return build(path, value)
  if (step >= node.items.length) {
    return { kind: "sequence", items: [...node.items, build(rest, value)] }
  }
  const current = node.items[step]
  if (current?.kind === "comment") {
    throw new TreePathError(`${shownPath(full)}: index ${String(step)} is a comment`, {
      hints: ["list indices count comment lines too, as in sops"],
    })
  }
  const items: (Node | Comment)[] = [...node.items]
  items[step] = setIn(current, rest, value, full)
  return { kind: "sequence", items }
}

/**
 * Sets the value at `path` in the first document.
 * @returns the new document
 * @throws TreePathError when an index names a comment
 */
export function setInDocument(doc: Document, path: readonly TreePathStep[], value: Node): Document {
  const [first, ...others] = doc.branches
  const root: Mapping = first ?? { kind: "mapping", items: [] }
  if (typeof path[0] !== "string") {
    throw new UsageError(
      `${shownPath(path)}: the top level is a mapping, so the path must start with a key`,
    )
  }
  const updated = setIn(root, path, value, path) as Mapping
  return { branches: [updated, ...others] }
}

function unsetIn(
  node: Node,
  path: readonly TreePathStep[],
  full: readonly TreePathStep[],
): Node | undefined {
  const [step, ...rest] = path
  if (step === undefined) return node
  if (typeof step === "string") {
    if (node.kind !== "mapping") return undefined
    const index = node.items.findIndex((i) => i.kind === "entry" && i.key === step)
    if (index === -1) return undefined
    const entry = node.items[index] as Entry
    const items = [...node.items]
    if (rest.length === 0) {
      items.splice(index, 1)
    } else {
      const inner = unsetIn(entry.value, rest, full)
      if (inner === undefined) return undefined
      items[index] = { ...entry, value: inner }
    }
    return { kind: "mapping", items }
  }
  if (node.kind !== "sequence") return undefined
  const current = node.items[step]
  if (current === undefined) return undefined
  if (current.kind === "comment") {
    throw new TreePathError(`${shownPath(full)}: index ${String(step)} is a comment`, {
      hints: ["list indices count comment lines too, as in sops"],
    })
  }
  const items: (Node | Comment)[] = [...node.items]
  if (rest.length === 0) {
    items.splice(step, 1)
  } else {
    const inner = unsetIn(current, rest, full)
    if (inner === undefined) return undefined
    items[step] = inner
  }
  return { kind: "sequence", items }
}

/**
 * Removes the key or list element at `path` in the first document.
 * @returns the new document, or undefined when the path is not there
 * @throws TreePathError when an index names a comment
 */
export function unsetInDocument(
  doc: Document,
  path: readonly TreePathStep[],
): Document | undefined {
  const [first, ...others] = doc.branches
  if (first === undefined) return undefined
  const updated = unsetIn(first, path, path)
  return updated === undefined ? undefined : { branches: [updated as Mapping, ...others] }
}

/**
 * Parses a `set` value as sops 3.13 does (`jsonValueToTreeInsertableValue`): objects and
 * lists through the JSON store (key order kept, ints stay ints); a lone number, which Go's
 * `json.Unmarshal` makes a float64, is a float (`set FILE PATH 7` stores `type:float`).
 * @throws UsageError for invalid JSON
 */
export function parseJsonValue(text: string): Node {
  let doc: Document
  try {
    doc = new JsonStore({ fileName: "the value" }).parse(`{"v":${text}\n}`)
  } catch (cause) {
    throw new UsageError(
      `the value is not valid JSON: ${cause instanceof Error ? cause.message : String(cause)}`,
      {
        cause,
        hints: [
          `strings need JSON quotes inside shell quotes: '"secret"'; numbers, true, false, null, [..] and {..} are also accepted`,
        ],
      },
    )
  }
  const entry = doc.branches[0]?.items[0]
  if (entry?.kind !== "entry") throw new UsageError("the value is not valid JSON")
  const value = entry.value
  return value.kind === "int" ? { kind: "float", value: Number(value.value) } : value
}

/** Structural equality of two nodes (comments and order included). */
export function sameNode(a: Node | Comment | undefined, b: Node | Comment | undefined): boolean {
  return (
    JSON.stringify(a, (_k, v: unknown) =>
      typeof v === "bigint" ? `${v.toString()}n` : v instanceof Uint8Array ? Array.from(v) : v,
    ) ===
    JSON.stringify(b, (_k, v: unknown) =>
      typeof v === "bigint" ? `${v.toString()}n` : v instanceof Uint8Array ? Array.from(v) : v,
    )
  )
}
