/**
 * The sops YAML store (docs/formats/sops.md "Comments", "Where the metadata goes", "Writing
 * YAML", "Reading YAML", `stores/yaml/store.go`).
 *
 * Parsing uses the `yaml` package (failsafe schema, so every scalar arrives as text) and
 * types plain scalars with go-yaml v3's resolver; comments become items in file order,
 * aliases are expanded, `<<` stays a literal key. Writing is a hand-written emitter that
 * follows go-yaml v3's block emitter (`emitterc.go`) as sops drives it: indent 4 (or the
 * configured one), sequences indented under their key, other levels snapped to multiples of
 * the indent, scalar styles as go-yaml picks them, comments as head comments of the next
 * item or foot comments of the container. Every document gets the `sops` block on write;
 * on read it comes from the first document and is removed from all.
 */
import {
  Composer,
  type CST,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  Parser,
  type Document as YamlDocument,
  type Node as YamlNode,
  Scalar as YamlScalar,
} from "yaml"
import { InternalError } from "../../internal/errors.js"
import { StoreEmitError, StoreParseError } from "../errors.js"
import type { Metadata } from "../metadata.js"
import type { Comment, Document, Entry, Mapping, Node, Scalar, Sequence } from "../tree.js"
import { noMetadata, withMetadata } from "./json.js"
import { AliasBudget, MAX_NESTING_DEPTH, tooDeep } from "./limits.js"
import { METADATA_KEY, metadataFromNode } from "./metadata-wire.js"
import type { EncryptedFile, Store, StoreFormat, StoreOptions } from "./store.js"
import { wherePrefix } from "./store.js"
import {
  analyzeScalar,
  doubleQuote,
  parseYamlTimestamp,
  plainScalarText,
  resolvePlainScalar,
  selectStringStyle,
  singleQuote,
} from "./yaml-scalar.js"

const TAG = "tag:yaml.org,2002:"

/** The YAML store. */
export class YamlStore implements Store {
  readonly format: StoreFormat = "yaml"
  readonly #options: StoreOptions

  /** @param options file name for errors, indent (default 4) */
  constructor(options: StoreOptions = {}) {
    this.#options = options
  }

  /**
   * @param text YAML, one or more documents, each a mapping
   * @returns one branch per document
   * @throws StoreParseError naming the line
   */
  parse(text: string): Document {
    return { branches: parseYamlDocuments(text, this.#options, false).map((d) => d.branch) }
  }

  /** @returns the YAML text as sops writes it */
  emit(doc: Document): string {
    return emitYamlDocuments(doc.branches, this.#options.indent ?? 4)
  }

  /** @throws StoreParseError, MetadataError */
  parseEncrypted(text: string): EncryptedFile {
    const parsed = parseYamlDocuments(text, this.#options, true)
    const first = parsed[0]?.metadata
    if (first === undefined) throw noMetadata(this.#options)
    return { doc: { branches: parsed.map((d) => d.branch) }, metadata: metadataFromNode(first) }
  }

  /** @returns the YAML text with the `sops` block appended to every document */
  emitEncrypted(doc: Document, metadata: Metadata): string {
    const branches =
      doc.branches.length === 0 ? [{ kind: "mapping", items: [] } as Mapping] : doc.branches
    return emitYamlDocuments(
      branches.map((branch) => withMetadata(branch, metadata)),
      this.#options.indent ?? 4,
    )
  }
}

// ---------------------------------------------------------------- parsing

interface ParsedBranch {
  readonly branch: Mapping
  readonly metadata: Node | undefined
}

class Reader {
  readonly options: StoreOptions
  readonly lines: LineCounter
  readonly doc: YamlDocument.Parsed
  readonly expanding = new Set<YamlNode>()
  readonly aliases: AliasBudget
  /** The whole input, to tell a comment on a key's line from one below it. */
  readonly text: string
  /** Collections whose first comment line was the line comment of their key. */
  readonly keyLineComment = new Set<YamlNode>()
  constructor(options: StoreOptions, lines: LineCounter, doc: YamlDocument.Parsed, text: string) {
    const inputLength = text.length
    this.text = text
    this.options = options
    this.lines = lines
    this.doc = doc
    this.aliases = new AliasBudget(inputLength)
  }

  where(node: YamlNode | undefined): string {
    const offset = node?.range?.[0]
    const line = offset === undefined ? undefined : this.lines.linePos(offset).line
    return wherePrefix(this.options, line)
  }

  fail(
    node: YamlNode | undefined,
    message: string,
    hints: readonly string[] = [],
  ): StoreParseError {
    return new StoreParseError(`${this.where(node)}${message}`, { hints })
  }

  /** Counts a node against the alias budget (see limits.ts). */
  count(node: YamlNode, textLength = 0): void {
    this.aliases.node(() => this.where(node), textLength)
  }

  comments(text: string | null | undefined): Comment[] {
    if (text === undefined || text === null || text === "") return []
    return text.split("\n").map((line) => ({ kind: "comment", text: line }))
  }

  /** Appends the comment lines of `text` (a loop: a block of many lines is no argument list). */
  addComments(
    items: (Node | Entry | Comment)[],
    text: string | null | undefined,
    inline = false,
  ): void {
    if (text === undefined || text === null || text === "") return
    for (const line of text.split("\n")) {
      items.push(
        inline ? { kind: "comment", text: line, inline: true } : { kind: "comment", text: line },
      )
    }
  }

  /** The comment lines before a collection's first item (less a key's line comment). */
  leadingComments(node: YamlNode): Comment[] {
    const lines = this.comments(node.commentBefore)
    return this.keyLineComment.has(node) ? lines.slice(1) : lines
  }

  /**
   * The comment on the line of `key`, when the yaml package put it first in the comments
   * before `value` (a collection); marks it as taken.
   * @returns its text, or undefined when the key's line has no comment
   */
  keyLineCommentOf(key: YamlNode, value: YamlNode): string | undefined {
    const before = value.commentBefore
    const end = key.range?.[1]
    if (before === undefined || before === null || before === "" || end === undefined) {
      return undefined
    }
    const lineEnd = this.text.indexOf("\n", end)
    const rest = this.text.slice(end, lineEnd === -1 ? undefined : lineEnd)
    if (!/^\s*:[ \t]+#/.test(rest)) return undefined
    this.keyLineComment.add(value)
    return before.split("\n")[0]
  }

  mapping(node: YamlNode, raw: boolean, depth: number): Mapping {
    if (!isMap(node)) throw new InternalError("yaml reader: expected a mapping")
    const items: (Entry | Comment)[] = this.leadingComments(node)
    // spec: duplicate keys are refused, as go-yaml refuses them (same key text); checked
    // here in linear time (the yaml package's own check compares every pair of keys)
    const seen = new Map<string, YamlNode>()
    for (const pair of node.items) {
      const keyNode = pair.key as YamlNode | null
      if (keyNode !== null && (isMap(keyNode) || isSeq(keyNode))) {
        throw this.fail(keyNode, "a mapping or list cannot be a key", ["sops needs string keys"])
      }
      if (keyNode !== null) {
        this.count(keyNode)
        if (isScalar(keyNode)) {
          const text = scalarText(keyNode)
          const first = seen.get(text)
          if (first !== undefined) {
            const firstLine = this.lines.linePos(first.range?.[0] ?? 0).line
            throw this.fail(
              keyNode,
              `duplicate key ${JSON.stringify(text)} (first at line ${String(firstLine)})`,
              ["sops refuses a mapping with the same key twice: keep one of them"],
            )
          }
          seen.set(text, keyNode)
        }
      }
      const key = keyNode === null ? null : this.scalar(keyNode, false)
      if (key === null || key.kind !== "string") {
        throw this.fail(
          keyNode ?? node,
          `key ${keyNode === null ? "(empty)" : JSON.stringify(String(isScalar(keyNode) ? (keyNode.source ?? keyNode.value) : "?"))} is not a string`,
          ['sops needs string keys: quote it, for example "1": value'],
        )
      }
      this.addComments(items, keyNode?.commentBefore)
      const valueNode = pair.value as YamlNode | null
      if (valueNode !== null && (isMap(valueNode) || isSeq(valueNode)) && keyNode !== null) {
        // `key: # note` above a nested collection: go-yaml makes it the key's line comment,
        // which sops puts before the entry, not inside the collection
        const first = this.keyLineCommentOf(keyNode, valueNode)
        if (first !== undefined) items.push({ kind: "comment", text: first })
      }
      const scalarLike = valueNode === null || isScalar(valueNode) || isAlias(valueNode)
      if (valueNode !== null && scalarLike) {
        this.addComments(items, valueNode.commentBefore)
        // the line comment of a scalar value is inline (sops 3.13): encrypting keeps it on
        // the value's line, decrypting makes it a line of its own (walk.ts)
        this.addComments(items, valueNode.comment, true)
      }
      if (keyNode !== null && isScalar(keyNode)) this.addComments(items, keyNode.comment)
      const value =
        valueNode === null ? ({ kind: "null" } as const) : this.value(valueNode, raw, depth + 1)
      items.push({ kind: "entry", key: key.value, value })
    }
    this.addComments(items, node.comment)
    return { kind: "mapping", items }
  }

  sequence(node: YamlNode, raw: boolean, depth: number): Sequence {
    if (!isSeq(node)) throw new InternalError("yaml reader: expected a list")
    const items: (Node | Comment)[] = this.leadingComments(node)
    for (const item of node.items) {
      const itemNode = item as YamlNode | null
      if (itemNode === null) {
        items.push({ kind: "null" })
        continue
      }
      const scalarLike = isScalar(itemNode) || isAlias(itemNode)
      this.addComments(items, itemNode.commentBefore)
      if (scalarLike) this.addComments(items, itemNode.comment)
      items.push(this.value(itemNode, raw, depth + 1))
    }
    this.addComments(items, node.comment)
    return { kind: "sequence", items }
  }

  value(node: YamlNode, raw: boolean, depth: number): Node {
    if (depth > MAX_NESTING_DEPTH) throw tooDeep(this.where(node))
    this.count(node, isScalar(node) ? String(node.value).length : 0)
    if (isAlias(node)) {
      const target = node.resolve(this.doc)
      if (target === undefined) throw this.fail(node, `unknown alias *${node.source}`)
      if (this.expanding.has(target))
        throw this.fail(node, `alias *${node.source} refers to itself`)
      this.expanding.add(target)
      try {
        // comments of the anchored node stay where the anchor is
        return this.aliases.expand(() => this.value(target, raw, depth + 1))
      } finally {
        this.expanding.delete(target)
      }
    }
    if (isMap(node)) return this.mapping(node, raw, depth)
    if (isSeq(node)) return this.sequence(node, raw, depth)
    if (isScalar(node)) return this.scalar(node, raw)
    throw this.fail(node, "unsupported YAML node")
  }

  scalar(node: YamlNode, raw: boolean): Scalar {
    if (!isScalar(node)) throw this.fail(node, "expected a scalar")
    const text = scalarText(node)
    const tag = node.tag
    const plain = node.type === YamlScalar.PLAIN || node.type === undefined
    if (tag === undefined || tag === "!") {
      if (!plain || tag === "!") return { kind: "string", value: text }
      const resolved = resolvePlainScalar(text)
      if (raw) return resolved.kind === "null" ? resolved : { kind: "string", value: text }
      if (resolved.kind === "uint") {
        throw this.fail(node, `integer ${text} does not fit in 64 bits`, [
          "sops keeps integers as int64; quote it to keep it as a string",
        ])
      }
      return resolved
    }
    switch (tag) {
      case `${TAG}str`:
        return { kind: "string", value: text }
      case `${TAG}binary`: {
        // go-yaml decodes !!binary into a string of the raw bytes
        const raw: unknown = node.value
        const bytes =
          raw instanceof Uint8Array ? raw : Buffer.from(text.replace(/\s+/g, ""), "base64")
        return { kind: "string", value: Buffer.from(bytes).toString("utf8") }
      }
      case `${TAG}null`:
        return { kind: "null" }
      case `${TAG}merge`:
        // `!!merge <<` is how go-yaml writes the string "<<": sops reads it back as "<<"
        return { kind: "string", value: text }
      case `${TAG}bool`:
      case `${TAG}int`:
      case `${TAG}float`: {
        const resolved = resolvePlainScalar(text)
        const want = tag.slice(TAG.length)
        if (resolved.kind !== "uint" && resolved.kind === want) return resolved
        if (want === "float" && resolved.kind === "int")
          return { kind: "float", value: Number(resolved.value) }
        throw this.fail(node, `${JSON.stringify(text)} is not a valid !!${want}`)
      }
      case `${TAG}timestamp`: {
        const time = parseYamlTimestamp(text)
        if (time === undefined)
          throw this.fail(node, `${JSON.stringify(text)} is not a valid !!timestamp`)
        return { kind: "time", value: time }
      }
      default:
        return { kind: "string", value: text } // go-yaml: unknown tags decode as their text
    }
  }
}

/** A scalar's text; the merge key `<<` (a symbol in the yaml package) is the string "<<". */
function scalarText(node: YamlScalar): string {
  return typeof node.value === "symbol" ? (node.source ?? "<<") : String(node.value)
}

function parseYamlDocuments(
  text: string,
  options: StoreOptions,
  encrypted: boolean,
): ParsedBranch[] {
  const lines = new LineCounter()
  // The concrete syntax tree first (the parser is iterative), so that nesting too deep for
  // the composer's recursion is refused before it runs: a stack overflow inside the yaml
  // package can leave V8 unable to compile a regular expression later, a native crash.
  const tokens = Array.from(new Parser(lines.addNewLine).parse(text))
  checkNesting(tokens, lines, options)
  const composer = new Composer({ schema: "failsafe", merge: false, uniqueKeys: false })
  const docs = Array.from(composer.compose(tokens))
  const out: ParsedBranch[] = []
  for (const doc of docs) {
    const reader = new Reader(options, lines, doc, text)
    const [error] = doc.errors
    if (error !== undefined) {
      const line = lines.linePos(error.pos[0]).line
      const message = error.message.split("\n")[0] ?? "invalid YAML"
      throw new StoreParseError(
        `${wherePrefix(options, line)}invalid YAML: ${message.replace(/ at line \d+, column \d+:?$/, "")}`,
      )
    }
    const leading = reader.comments(doc.commentBefore)
    const trailing = reader.comments(doc.comment)
    const contents = doc.contents
    let branch: Mapping
    if (
      contents === null ||
      (isScalar(contents) && contents.value === "" && contents.tag === undefined)
    ) {
      branch = { kind: "mapping", items: [] }
    } else if (isMap(contents)) {
      branch = reader.mapping(contents, false, 0)
    } else if (isAlias(contents)) {
      const value = reader.value(contents, false, 0)
      if (value.kind !== "mapping")
        throw reader.fail(contents, "the top level of a YAML document must be a mapping")
      branch = value
    } else {
      const what = isSeq(contents) ? "a list" : "a single value"
      throw reader.fail(
        contents,
        `the top level of a YAML document must be a mapping, found ${what}`,
        ["sops supports only YAML documents whose top level is a mapping"],
      )
    }
    let metadata: Node | undefined
    let items = [...leading, ...branch.items, ...trailing]
    if (encrypted) {
      const index = items.findIndex((item) => item.kind === "entry" && item.key === METADATA_KEY)
      if (index >= 0) {
        // read the metadata again with scalars as their source text, as go-yaml fills string fields
        const pair = isMap(contents)
          ? contents.items.find((p) => isScalar(p.key) && String(p.key.value) === METADATA_KEY)
          : undefined
        metadata = pair?.value ? reader.value(pair.value, true, 0) : (items[index] as Entry).value
        items = items.filter((item) => !(item.kind === "entry" && item.key === METADATA_KEY))
      }
    }
    out.push({ branch: { kind: "mapping", items }, metadata })
  }
  return out
}

/**
 * Refuses a syntax tree nested deeper than MAX_NESTING_DEPTH, walking it without recursion.
 * @throws DocumentLimitError naming the line where the limit is crossed
 */
function checkNesting(
  tokens: readonly CST.Token[],
  lines: LineCounter,
  options: StoreOptions,
): void {
  const pending: [CST.Token, number][] = tokens.map((token) => [token, 0])
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [token, depth] = next
    if (depth > MAX_NESTING_DEPTH + 1) {
      throw tooDeep(wherePrefix(options, lines.linePos(token.offset).line))
    }
    switch (token.type) {
      case "document":
        if (token.value !== undefined) pending.push([token.value, depth])
        break
      case "block-map":
      case "block-seq":
      case "flow-collection":
        for (const item of token.items) {
          if (item.key !== undefined && item.key !== null) pending.push([item.key, depth + 1])
          if (item.value !== undefined) pending.push([item.value, depth + 1])
        }
        break
      default:
        break
    }
  }
}

// ---------------------------------------------------------------- writing

const SURROGATE = /[\ud800-\udfff]/

/** A go-yaml-like block emitter: only the parts sops exercises. */
class Emitter {
  out = ""
  column = 0
  indention = true
  whitespace = true
  footIndent = -1
  readonly best: number
  constructor(best: number) {
    this.best = best
  }

  write(text: string): void {
    this.out += text
    // columns count code points (go-yaml counts characters)
    this.column += SURROGATE.test(text) ? Array.from(text).length : text.length
  }

  putBreak(): void {
    this.out += "\n"
    this.column = 0
    this.indention = true
  }

  writeIndent(indent: number): void {
    const at = Math.max(indent, 0)
    if (!this.indention || this.column > at || (this.column === at && !this.whitespace))
      this.putBreak()
    if (this.footIndent === at) this.putBreak()
    while (this.column < at) this.write(" ")
    this.whitespace = true
    this.footIndent = -1
  }

  indicator(
    text: string,
    needWhitespace: boolean,
    isWhitespace: boolean,
    isIndention: boolean,
  ): void {
    if (needWhitespace && !this.whitespace) this.write(" ")
    this.write(text)
    this.whitespace = isWhitespace
    this.indention = this.indention && isIndention
  }

  /** Comment lines (each `#` + text) at `indent`, the first one where the caller put it. */
  comments(texts: readonly string[], indent: number): void {
    // a comment text holding line breaks (from INI) becomes several comment lines
    const lines = texts.flatMap((text) =>
      text.split("\n").map((part, j) => (j === 0 || part.startsWith("#") ? part : " " + part)),
    )
    lines.forEach((line, i) => {
      if (i > 0) this.writeIndent(indent)
      this.write("#" + line)
      this.indention = false
      this.putBreak()
    })
    this.whitespace = true
  }

  increaseIndent(indent: number, inSequenceItem: boolean): number {
    if (indent < 0) return 0
    if (inSequenceItem) return indent + 2
    return this.best * Math.floor((indent + this.best) / this.best)
  }

  headComments(lines: readonly string[], indent: number): void {
    if (lines.length === 0) return
    this.writeIndent(indent)
    this.comments(lines, indent)
  }

  footComments(lines: readonly string[], indent: number): void {
    if (lines.length === 0) return
    this.writeIndent(indent)
    this.comments(lines, indent)
    this.footIndent = Math.max(indent, 0)
  }

  /** A node in value position; `indent` is the current level, `inSequenceItem` the return state. */
  node(node: Node, indent: number, inSequenceItem: boolean, path: string): void {
    switch (node.kind) {
      case "mapping":
        this.mapping(node, indent, inSequenceItem, path)
        return
      case "sequence":
        this.sequence(node, indent, inSequenceItem, path)
        return
      default:
        this.scalar(node, this.increaseIndent(indent, inSequenceItem), false, path)
    }
  }

  mapping(mapping: Mapping, indent: number, inSequenceItem: boolean, path: string): void {
    const inner = this.increaseIndent(indent, inSequenceItem)
    if (!mapping.items.some((item) => item.kind === "entry")) {
      this.indicator("{", true, true, false)
      this.indicator("}", false, false, false)
      const lines = mapping.items.map((item) => (item as Comment).text)
      this.footComments(lines, inner)
      return
    }
    let pending: string[] = []
    // sops's appendTreeBranch: inline comments become the line comment of the next entry's
    // value; those left at the end join the foot comments
    let inline: string[] = []
    for (const item of mapping.items) {
      if (item.kind === "comment") {
        if (item.inline === true) inline.push(item.text)
        else pending.push(item.text)
        continue
      }
      this.headComments(pending, inner)
      pending = []
      this.writeIndent(inner)
      this.scalar({ kind: "string", value: item.key }, inner, true, path)
      this.indicator(":", false, false, false)
      this.node(item.value, inner, false, path === "" ? item.key : `${path}.${item.key}`)
      if (inline.length > 0) {
        this.lineComments(inline, inner)
        inline = []
      }
    }
    this.footComments([...pending, ...inline], inner)
  }

  /** Comments after a value on its line (`key: value #text`), further ones below it. */
  lineComments(lines: readonly string[], indent: number): void {
    if (!this.whitespace) this.write(" ")
    this.comments(lines, indent)
  }

  sequence(sequence: Sequence, indent: number, inSequenceItem: boolean, path: string): void {
    const inner = this.increaseIndent(indent, inSequenceItem)
    if (!sequence.items.some((item) => item.kind !== "comment")) {
      this.indicator("[", true, true, false)
      this.indicator("]", false, false, false)
      const lines = sequence.items.map((item) => (item as Comment).text)
      this.footComments(lines, inner)
      return
    }
    let pending: string[] = []
    let index = 0
    for (const item of sequence.items) {
      if (item.kind === "comment") {
        pending.push(item.text)
        continue
      }
      this.headComments(pending, inner)
      pending = []
      this.writeIndent(inner)
      this.indicator("-", true, false, true)
      this.node(item, inner, true, `${path}[${index}]`)
      index++
    }
    this.footComments(pending, inner)
  }

  scalar(scalar: Scalar, indent: number, isKey: boolean, path: string): void {
    if (scalar.kind === "bytes") {
      this.plain(`!!binary ${Buffer.from(scalar.value).toString("base64")}`)
      return
    }
    if (scalar.kind !== "string") {
      this.plain(plainScalarText(scalar))
      return
    }
    const value = scalar.value
    if (value === "<<") {
      // go-yaml resolves a plain << as the merge key and writes the string with its tag
      this.plain("!!merge <<")
      return
    }
    const style = selectStringStyle(value, isKey)
    switch (style) {
      case "plain":
        this.plain(value)
        return
      case "single":
        this.indicator(singleQuote(value), true, false, false)
        return
      case "double":
        this.indicator(doubleQuote(value), true, false, false)
        return
      case "literal":
        this.literal(value, indent)
        return
      default: {
        const never: never = style
        throw new StoreEmitError(`${path}: unknown scalar style ${String(never)}`)
      }
    }
  }

  plain(text: string): void {
    if (text.length > 0 && !this.whitespace) this.write(" ")
    this.write(text)
    if (text.length > 0) this.whitespace = false
    this.indention = false
  }

  literal(value: string, indent: number): void {
    this.indicator("|", true, false, false)
    const first = value.codePointAt(0)
    if (first === 0x20 || first === 0x0a || first === 0x2028 || first === 0x2029) {
      this.indicator(String(this.best), false, false, false)
    }
    const chars = Array.from(value)
    const last = chars[chars.length - 1]
    const isBreakChar = (c: string | undefined): boolean =>
      c === "\n" || c === "\u2028" || c === "\u2029"
    if (!isBreakChar(last)) this.indicator("-", false, false, false)
    else if (chars.length === 1 || isBreakChar(chars[chars.length - 2]))
      this.indicator("+", false, false, false)
    this.putBreak()
    this.whitespace = true
    let breaks = true
    for (const c of chars) {
      if (isBreakChar(c)) {
        if (c === "\n") this.putBreak()
        else {
          this.out += c
          this.column = 0
          this.indention = true
        }
        breaks = true
      } else {
        if (breaks) this.writeIndent(indent)
        this.write(c)
        this.indention = false
        breaks = false
      }
    }
  }
}

/**
 * Writes YAML documents as sops does (go-yaml v3 encoder, `SetIndent(indent)`): the first
 * document without `---`, the following ones after `---`, a final newline.
 * @param branches one mapping per document
 * @param indent spaces per level (sops's default 4)
 * @returns the text
 */
export function emitYamlDocuments(branches: readonly Mapping[], indent = 4): string {
  if (!Number.isInteger(indent) || indent < 2 || indent > 9) {
    throw new StoreEmitError(`YAML indent ${indent} is out of range`, {
      hints: ["go-yaml accepts indents from 2 to 9"],
    })
  }
  const emitter = new Emitter(indent)
  branches.forEach((branch, i) => {
    if (i > 0) {
      emitter.indicator("---", true, false, false)
    }
    emitter.mapping(branch, -1, false, "")
    emitter.footIndent = -1 // go-yaml resets it before ending the document
    emitter.writeIndent(0) // document end: finish the last line
  })
  return emitter.out
}

/**
 * Whether go-yaml would write this string without quotes in value position (for tests and tools).
 * @returns true when plain
 */
export function isPlainYamlString(value: string): boolean {
  return selectStringStyle(value, false) === "plain" && analyzeScalar(value).blockPlainAllowed
}
