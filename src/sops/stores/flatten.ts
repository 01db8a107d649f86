/**
 * Flattening of the `sops` metadata for the line-based stores (docs/formats/sops.md "Flattening",
 * `stores/flatten.go`): a nested value becomes `key__map_child` for mappings and
 * `key__list_N` for lists, recursively (`age__list_0__map_enc`,
 * `key_groups__list_1__map_pgp__list_0__map_fp`). dotenv prefixes every key with `sops_`,
 * INI puts them in a `[sops]` section.
 */
import { MetadataError } from "../errors.js"
import type { Entry, Mapping, Node, Scalar, Sequence } from "../tree.js"

const MAP_SEPARATOR = "__map_"
const LIST_SEPARATOR = "__list_"

/** One flattened metadata line: the key and its scalar value. */
export interface FlatEntry {
  readonly key: string
  readonly value: Scalar
}

/**
 * Flattens a mapping in its order (sops 3.13 sorts the tree first, which
 * `metadataToNode` already did). Empty lists and mappings produce nothing; comments are skipped.
 * @param mapping the metadata tree
 * @returns the flat entries in tree order
 */
export function flattenMapping(mapping: Mapping): FlatEntry[] {
  const out: FlatEntry[] = []
  const walk = (prefix: string, node: Node): void => {
    switch (node.kind) {
      case "mapping":
        for (const item of node.items) {
          if (item.kind === "entry") walk(`${prefix}${MAP_SEPARATOR}${item.key}`, item.value)
        }
        return
      case "sequence": {
        let index = 0
        for (const item of node.items) {
          if (item.kind === "comment") continue
          walk(`${prefix}${LIST_SEPARATOR}${index}`, item)
          index++
        }
        return
      }
      case "null":
        return
      default:
        out.push({ key: prefix, value: node })
    }
  }
  for (const item of mapping.items) {
    if (item.kind === "entry") walk(item.key, item.value)
  }
  return out
}

type Draft =
  | { kind: "map"; children: Map<string, Draft> }
  | { kind: "list"; children: Map<number, Draft> }
  | { kind: "leaf"; value: string }

/**
 * Rebuilds the metadata tree from flat `key = value` pairs. List indices must be contiguous
 * from 0; a key used both as a value and as a container, or twice, is refused. Map keys
 * come out sorted, values as strings (the metadata reader converts types weakly, as sops's
 * mapstructure does).
 * @param entries the flat pairs, in any order
 * @returns the tree
 * @throws MetadataError naming the offending flat key
 */
export function unflattenEntries(entries: readonly (readonly [string, string])[]): Mapping {
  const root: Draft = { kind: "map", children: new Map() }
  for (const [flatKey, value] of entries) {
    const tokens = tokenize(flatKey)
    let node: Draft = root
    tokens.forEach((token, i) => {
      const last = i === tokens.length - 1
      const next = tokens[i + 1]
      const child: Draft | undefined =
        node.kind === "map"
          ? node.children.get(token.name)
          : node.kind === "list"
            ? node.children.get(token.index)
            : undefined
      let created: Draft
      if (last) {
        if (child !== undefined) throw duplicate(flatKey)
        created = { kind: "leaf", value }
      } else if (child !== undefined) {
        const wanted = next?.kind === "list" ? "list" : "map"
        if (child.kind !== wanted) throw mismatch(flatKey)
        created = child
      } else {
        created =
          next?.kind === "list"
            ? { kind: "list", children: new Map() }
            : { kind: "map", children: new Map() }
      }
      if (node.kind === "map" && token.kind === "map") node.children.set(token.name, created)
      else if (node.kind === "list" && token.kind === "list")
        node.children.set(token.index, created)
      else throw mismatch(flatKey)
      node = created
    })
  }
  const converted = toNode(root, "")
  if (converted.kind !== "mapping") throw mismatch("")
  return converted
}

type Token = { kind: "map"; name: string; index: -1 } | { kind: "list"; name: ""; index: number }

function tokenize(flatKey: string): Token[] {
  const tokens: Token[] = []
  const parts = flatKey.split(/(__map_|__list_)/)
  tokens.push({ kind: "map", name: parts[0] ?? "", index: -1 })
  for (let i = 1; i + 1 < parts.length; i += 2) {
    const separator = parts[i]
    const name = parts[i + 1] ?? ""
    if (separator === LIST_SEPARATOR) {
      if (!/^(0|[1-9][0-9]*)$/.test(name)) {
        throw new MetadataError(
          `metadata key ${JSON.stringify(flatKey)}: list index ${JSON.stringify(name)} is not a number`,
        )
      }
      tokens.push({ kind: "list", name: "", index: Number(name) })
    } else {
      tokens.push({ kind: "map", name, index: -1 })
    }
  }
  return tokens
}

function duplicate(flatKey: string): MetadataError {
  return new MetadataError(`metadata key ${JSON.stringify(flatKey)} appears twice`)
}

function mismatch(flatKey: string): MetadataError {
  return new MetadataError(
    `metadata key ${JSON.stringify(flatKey)} is used both as a value and as a list or mapping`,
  )
}

function toNode(draft: Draft, path: string): Node {
  switch (draft.kind) {
    case "leaf":
      return { kind: "string", value: draft.value }
    case "map": {
      const keys = [...draft.children.keys()].sort(compareGo)
      const items: Entry[] = keys.map((key) => ({
        kind: "entry",
        key,
        value: toNode(draft.children.get(key) as Draft, `${path}${MAP_SEPARATOR}${key}`),
      }))
      return { kind: "mapping", items }
    }
    case "list": {
      const items: Node[] = []
      for (let i = 0; i < draft.children.size; i++) {
        const child = draft.children.get(i)
        if (child === undefined) {
          throw new MetadataError(
            `metadata list ${JSON.stringify(path.replace(/^__map_/, ""))} skips index ${i}`,
          )
        }
        items.push(toNode(child, `${path}${LIST_SEPARATOR}${i}`))
      }
      const sequence: Sequence = { kind: "sequence", items }
      return sequence
    }
    default: {
      const never: never = draft
      return never
    }
  }
}

/**
 * Go's string order for the metadata's ASCII keys (UTF-16 order equals byte order there).
 * @returns negative, zero or positive
 */
export function compareGo(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
