/**
 * The sops tree walk (docs/formats/sops.md "Documents and the tree walk", "Which values are
 * encrypted"): depth-first over every branch in file order, with the key path of each leaf
 * (list indices never enter it), the comment stack, and the decision whether the leaf is
 * encrypted under the file's value selector.
 *
 * Paths: the additional data of a value is its map keys joined by `:` plus a trailing `:`
 * (`app2:db:password:`; a top-level comment uses `:`). For people, a location is shown as
 * its keys joined by `.` with list indices in brackets (`a.b[2]`); a key that is not a plain
 * identifier is shown quoted (`["foo "]`, `["0word"]`) so it cannot be mistaken for an index.
 *
 * Comment stack ("Which values are encrypted", sops 3.9+): each mapping and list opens a
 * level; comments seen at a level accumulate until the next non-comment item, which
 * consumes them (with everything nested in it) and resets the level.
 */
import { InternalError } from "../internal/errors.js"
import type { Comment, Document, Mapping, Node, Sequence } from "./tree.js"
import type { ValueSelector } from "./metadata.js"
import type { Plaintext } from "./value-cipher.js"
import { SelectorError } from "./errors.js"

/** One step of a location: a map key or a list index. */
export type PathStep = { readonly key: string } | { readonly index: number }

/** Where a leaf sits in the tree: the slot decides what a visitor may return. */
export type LeafSlot = "entry" | "mapping-comment" | "sequence-item"

/** What the walk knows about a leaf. */
export interface LeafContext {
  /** The map keys from the root (the additional-data path). */
  readonly keys: readonly string[]
  /** Keys and list indices from the root (for messages). */
  readonly location: readonly PathStep[]
  /** Which branch (YAML document), 0-based. */
  readonly branch: number
  /** How many branches the document has. */
  readonly branchCount: number
  /** Whether the leaf counts as a comment for the selector and the comment stack. */
  readonly isComment: boolean
  /** Whether the file's selector says this leaf is encrypted. */
  readonly encrypted: boolean
  readonly slot: LeafSlot
}

/** Decides whether a leaf is encrypted (sops's `shouldBeEncrypted`). */
export type LeafSelection = (
  keys: readonly string[],
  commentStack: readonly (readonly string[])[],
  isComment: boolean,
) => boolean

/** The suffix sops assumes when a file names no selector ("Which values are encrypted"). */
export const DEFAULT_UNENCRYPTED_SUFFIX = "_unencrypted"

/**
 * Translates a Go RE2 pattern to a JS RegExp for the cases real configs use: a leading
 * `(?flags)` group, `\A`, `\z`, `(?P<name>`. Matching is unanchored, as `regexp.Match` is.
 */
function compileGoRegex(source: string, field: string): RegExp {
  let pattern = source
  let flags = ""
  const inline = /^\(\?([imsU]+)\)/.exec(pattern)
  if (inline !== null) {
    const goFlags = inline[1] ?? ""
    if (goFlags.includes("U")) {
      throw new SelectorError(
        `${field} ${JSON.stringify(source)} uses the U flag, which coffer does not support`,
      )
    }
    flags = goFlags
    pattern = pattern.slice(inline[0].length)
  }
  pattern = pattern
    .replace(/\\A/g, "^")
    .replace(/\\z/g, "$(?![\\s\\S])")
    .replace(/\(\?P</g, "(?<")
  try {
    return new RegExp(pattern, flags + "u")
  } catch {
    try {
      return new RegExp(pattern, flags)
    } catch (cause) {
      throw new SelectorError(
        `${field} ${JSON.stringify(source)} is not a valid regular expression`,
        {
          cause,
          hints: ["sops uses Go RE2 syntax; coffer accepts what JavaScript and RE2 have in common"],
        },
      )
    }
  }
}

/**
 * @param selector the file's selector; undefined means `unencrypted_suffix: _unencrypted`
 * @returns the decision function for the walk
 * @throws SelectorError when a regex is invalid
 */
export function compileSelector(selector: ValueSelector | undefined): LeafSelection {
  const rule: ValueSelector = selector ?? {
    kind: "unencrypted_suffix",
    value: DEFAULT_UNENCRYPTED_SUFFIX,
  }
  // spec: an empty selector value means the rule is off
  if (rule.value === "") return () => true
  switch (rule.kind) {
    case "unencrypted_suffix":
      return (keys) => !keys.some((k) => k.endsWith(rule.value))
    case "encrypted_suffix":
      return (keys) => keys.some((k) => k.endsWith(rule.value))
    case "unencrypted_regex": {
      const re = compileGoRegex(rule.value, rule.kind)
      return (keys) => !keys.some((k) => re.test(k))
    }
    case "encrypted_regex": {
      const re = compileGoRegex(rule.value, rule.kind)
      return (keys) => keys.some((k) => re.test(k))
    }
    case "unencrypted_comment_regex": {
      const re = compileGoRegex(rule.value, rule.kind)
      return (_keys, stack) => !stack.some((level) => level.some((c) => re.test(c)))
    }
    case "encrypted_comment_regex": {
      const re = compileGoRegex(rule.value, rule.kind)
      return (_keys, stack, isComment) =>
        stack.some((level, i) =>
          level.some(
            // spec: a comment leaf is the last comment of the innermost level; it does not
            // select itself
            (c, j) =>
              !(isComment && i === stack.length - 1 && j === level.length - 1) && re.test(c),
          ),
        )
    }
    default: {
      const never: never = rule
      return never
    }
  }
}

/** @returns the additional data for a leaf at `keys`: `keys.join(":") + ":"` */
export function additionalDataOf(keys: readonly string[]): string {
  return keys.join(":") + ":"
}

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/

/** @returns `location` for people: `a.b[2]`, `["foo "].x`; `(top level)` when empty */
export function formatLocation(location: readonly PathStep[]): string {
  let out = ""
  for (const step of location) {
    if ("index" in step) out += `[${String(step.index)}]`
    else if (PLAIN_KEY.test(step.key)) out += (out === "" ? "" : ".") + step.key
    else out += `[${JSON.stringify(step.key)}]`
  }
  return out === "" ? "(top level)" : out
}

/** @returns where a leaf is, for messages: `a.b[2]`, `a.b (comment)`, `x in document 2` */
export function describeLeaf(ctx: LeafContext): string {
  let where = formatLocation(ctx.location)
  if (ctx.slot === "mapping-comment") {
    where = ctx.location.length === 0 ? "top-level comment" : `${where} (comment)`
  }
  if (ctx.branchCount > 1) where += ` in document ${String(ctx.branch + 1)}`
  return where
}

/** What a visitor returns for a leaf: its replacement. */
export type LeafVisitor = (leaf: Plaintext, ctx: LeafContext) => Plaintext

/** Options for `mapLeaves`. */
export interface WalkOptions {
  /**
   * Whether a sequence item counts as a comment. Default: only comment items. Decryption
   * also counts `ENC[...,type:comment]` strings, which is what encryption made of comments
   * in lists ("Comments"), so both directions see the same comment stack.
   */
  readonly isSequenceComment?: (item: Plaintext) => boolean
}

interface Walk {
  readonly select: LeafSelection
  readonly visit: LeafVisitor
  readonly isSequenceComment: (item: Plaintext) => boolean
  readonly branch: number
  readonly branchCount: number
}

type Stack = readonly (readonly string[])[]

function visitLeaf(
  walk: Walk,
  leaf: Plaintext,
  keys: readonly string[],
  location: readonly PathStep[],
  stack: Stack,
  isComment: boolean,
  slot: LeafSlot,
): Plaintext {
  const encrypted = walk.select(keys, stack, isComment)
  return walk.visit(leaf, {
    keys,
    location,
    branch: walk.branch,
    branchCount: walk.branchCount,
    isComment,
    encrypted,
    slot,
  })
}

function walkNode(
  walk: Walk,
  node: Node,
  keys: readonly string[],
  location: readonly PathStep[],
  stack: Stack,
): Node {
  switch (node.kind) {
    case "mapping":
      return walkMapping(walk, node, keys, location, stack)
    case "sequence":
      return walkSequence(walk, node, keys, location, stack)
    case "null":
      // spec: nil values are neither encrypted nor hashed
      return node
    default: {
      const out = visitLeaf(walk, node, keys, location, stack, false, "entry")
      if (out.kind === "comment") {
        throw new InternalError(
          `a visitor turned the value at ${formatLocation(location)} into a comment`,
        )
      }
      return out
    }
  }
}

function walkMapping(
  walk: Walk,
  mapping: Mapping,
  keys: readonly string[],
  location: readonly PathStep[],
  outer: Stack,
): Mapping {
  const level: string[] = []
  const stack: Stack = [...outer, level]
  const items = mapping.items.map((item): Mapping["items"][number] => {
    if (item.kind === "comment") {
      level.push(item.text)
      const out = visitLeaf(walk, item, keys, location, stack, true, "mapping-comment")
      // As sops's walkBranch: a comment the visitor turns into a string (encrypting) stays
      // inline if it was; one it returns as a new comment (decrypting) is a line of its own.
      if (out.kind === "comment") return out
      if (out.kind === "string") {
        return item.inline === true
          ? { kind: "comment", text: out.value, inline: true }
          : { kind: "comment", text: out.value }
      }
      throw new InternalError(
        `a visitor turned a comment at ${formatLocation(location)} into a ${out.kind}`,
      )
    }
    const value = walkNode(
      walk,
      item.value,
      [...keys, item.key],
      [...location, { key: item.key }],
      stack,
    )
    level.length = 0
    return value === item.value ? item : { kind: "entry", key: item.key, value }
  })
  return { kind: "mapping", items }
}

function walkSequence(
  walk: Walk,
  sequence: Sequence,
  keys: readonly string[],
  location: readonly PathStep[],
  outer: Stack,
): Sequence {
  const level: string[] = []
  const stack: Stack = [...outer, level]
  const items = sequence.items.map((item, index): Node | Comment => {
    const itemLocation = [...location, { index }]
    const isLeaf = item.kind !== "mapping" && item.kind !== "sequence" && item.kind !== "null"
    if (isLeaf && walk.isSequenceComment(item)) {
      level.push(item.kind === "comment" ? item.text : item.kind === "string" ? item.value : "")
      return visitLeaf(walk, item, keys, itemLocation, stack, true, "sequence-item")
    }
    let out: Node | Comment
    if (isLeaf) out = visitLeaf(walk, item, keys, itemLocation, stack, false, "sequence-item")
    else out = walkNode(walk, item, keys, itemLocation, stack)
    level.length = 0
    return out
  })
  return { kind: "sequence", items }
}

/**
 * Walks every leaf of `doc` in sops order and rebuilds the document from what `visit`
 * returns. Nulls are skipped. A visitor may turn a comment in a mapping into a string (it
 * becomes the comment's new text), and any sequence item into a comment or a string; a
 * mapping entry's value must stay a scalar.
 * @param doc the document
 * @param select the selector's decision function (`compileSelector`)
 * @param visit called once per leaf, in file order
 * @returns the rebuilt document
 */
export function mapLeaves(
  doc: Document,
  select: LeafSelection,
  visit: LeafVisitor,
  options: WalkOptions = {},
): Document {
  const isSequenceComment = options.isSequenceComment ?? ((item) => item.kind === "comment")
  const branches = doc.branches.map((branch, index) =>
    walkMapping(
      { select, visit, isSequenceComment, branch: index, branchCount: doc.branches.length },
      branch,
      [],
      [],
      [],
    ),
  )
  return { branches }
}
