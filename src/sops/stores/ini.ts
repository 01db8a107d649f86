/**
 * The sops INI store (docs/formats/sops.md "Comments", "Where the metadata goes", "Writing
 * INI", "Reading INI"; sops `stores/ini/store.go` on top of go-ini).
 *
 * The tree is a mapping of sections, the implicit `DEFAULT` section (keys before the first
 * header) always first. Comments above a section header are the section's first item;
 * comments above a key follow that key. Values are strings: trimmed, cut at an inline
 * `#`/`;`, with `"""…"""`, backtick and surrounding quotes removed. Writing aligns `=` per
 * section as go-ini's pretty format does; the metadata is a final `[sops]` section with
 * newlines escaped as `\n` (sops 3.13.2; the `"""` values of 3.13.0/3.13.1 are read too).
 */
import { StoreEmitError, StoreParseError } from "../errors.js"
import type { Metadata } from "../metadata.js"
import type { Comment, Document, Entry, Mapping } from "../tree.js"
import { flattenMapping, unflattenEntries } from "./flatten.js"
import { noMetadata, onlyBranch } from "./json.js"
import { METADATA_KEY, metadataFromNode, metadataToNode } from "./metadata-wire.js"
import { scalarToText } from "./scalar-text.js"
import type { EncryptedFile, Store, StoreFormat, StoreOptions } from "./store.js"
import { wherePrefix } from "./store.js"

const DEFAULT_SECTION = "DEFAULT"

interface Section {
  name: string
  comment: string
  keys: SectionKey[]
  /** The keys by name (go-ini keeps one value per key name: the last one). */
  byName: Map<string, SectionKey>
}

interface SectionKey {
  name: string
  value: string
  comment: string
}

function newSection(name: string): Section {
  return { name, comment: "", keys: [], byName: new Map() }
}

/** The section called `name`, appended to `sections` if it is new. */
function sectionNamed(sections: Section[], byName: Map<string, Section>, name: string): Section {
  let section = byName.get(name)
  if (section === undefined) {
    section = newSection(name)
    sections.push(section)
    byName.set(name, section)
  }
  return section
}

/** Sets a key of a section: a new name is appended, a repeated one replaces the value. */
function setKey(section: Section, key: SectionKey): SectionKey {
  const existing = section.byName.get(key.name)
  if (existing === undefined) {
    section.keys.push(key)
    section.byName.set(key.name, key)
    return key
  }
  existing.value = key.value
  if (key.comment !== "") existing.comment = key.comment
  return existing
}

/** The INI store. */
export class IniStore implements Store {
  readonly format: StoreFormat = "ini"
  readonly #options: StoreOptions

  /** @param options file name for errors */
  constructor(options: StoreOptions = {}) {
    this.#options = options
  }

  /** @throws StoreParseError naming the line */
  parse(text: string): Document {
    return { branches: [toTree(this.#sections(text))] }
  }

  /** @throws StoreEmitError for items that are not sections of scalars */
  emit(doc: Document): string {
    return emitSections(fromTree(onlyBranch(doc, "ini")))
  }

  /** @throws StoreParseError, MetadataError */
  parseEncrypted(text: string): EncryptedFile {
    const sections = this.#sections(text)
    const metadataSection = sections.find((s) => s.name === METADATA_KEY)
    if (metadataSection === undefined) throw noMetadata(this.#options)
    const flat = metadataSection.keys.map((k) => [k.name, k.value.replaceAll("\\n", "\n")] as const)
    const metadata = metadataFromNode(unflattenEntries(flat))
    return {
      doc: { branches: [toTree(sections.filter((s) => s.name !== METADATA_KEY))] },
      metadata,
    }
  }

  /** @throws StoreEmitError */
  emitEncrypted(doc: Document, metadata: Metadata): string {
    const sections = fromTree(onlyBranch(doc, "ini"))
    const metadataSection = newSection(METADATA_KEY)
    for (const flat of flattenMapping(metadataToNode(metadata))) {
      setKey(metadataSection, {
        name: flat.key,
        value: scalarToText(flat.value).replaceAll("\n", "\\n"),
        comment: "",
      })
    }
    return emitSections([...sections, metadataSection])
  }

  #sections(text: string): Section[] {
    const sections: Section[] = []
    const sectionsByName = new Map<string, Section>()
    let current = sectionNamed(sections, sectionsByName, DEFAULT_SECTION)
    let comments: string[] = []
    const lines = text.split("\n")
    const fail = (index: number, message: string): StoreParseError =>
      new StoreParseError(`${wherePrefix(this.#options, index + 1)}invalid INI: ${message}`)
    for (let index = 0; index < lines.length; index++) {
      const line = (lines[index] ?? "").replace(/\r$/, "").replace(/^\s+/, "")
      if (line === "") continue
      if (line.startsWith(";") || line.startsWith("#")) {
        comments.push(line.trimEnd())
        continue
      }
      if (line.startsWith("[")) {
        const close = line.lastIndexOf("]")
        if (close < 0) throw fail(index, "section header without a closing ]")
        const name = line.slice(1, close).trim()
        if (name === "") throw fail(index, "empty section name")
        const section = sectionNamed(sections, sectionsByName, name)
        if (comments.length > 0) section.comment = comments.join("\n")
        comments = []
        current = section
        continue
      }
      const key = readKeyName(line)
      if (key === undefined) throw fail(index, 'expected "key = value", a [section] or a comment')
      let rest = line.slice(key.end).replace(/^\s+/, "")
      let value: string
      const quote =
        rest.length > 3 && rest.startsWith('"""') ? '"""' : rest.startsWith("`") ? "`" : ""
      if (quote !== "") {
        const first = rest.slice(quote.length)
        const close = first.lastIndexOf(quote)
        if (close >= 0) value = first.slice(0, close)
        else {
          // a multi-line value: the closing quote is searched in each new line only
          const parts = [first]
          const start = index
          for (;;) {
            index++
            if (index >= lines.length)
              throw fail(start, `value of ${JSON.stringify(key.name)} has no closing ${quote}`)
            const next = (lines[index] ?? "").replace(/\r$/, "")
            const end = next.indexOf(quote)
            if (end >= 0) {
              parts.push(next.slice(0, end))
              break
            }
            parts.push(next)
          }
          value = parts.join("\n")
        }
      } else {
        rest = rest.trim()
        while (rest.endsWith("\\") && index + 1 < lines.length) {
          index++
          rest = rest.slice(0, -1) + (lines[index] ?? "").replace(/\r$/, "").trim()
        }
        const inline = rest.search(/[#;]/)
        if (inline >= 0) {
          comments.push(rest.slice(inline)) // go-ini makes it this key's comment
          rest = rest.slice(0, inline).trim()
        }
        for (const q of ["'", '"']) {
          if (
            rest.length >= 2 &&
            rest.startsWith(q) &&
            rest.endsWith(q) &&
            rest.split(q).length === 3
          ) {
            rest = rest.slice(1, -1)
          }
        }
        value = rest
      }
      const comment = comments.join("\n")
      comments = []
      setKey(current, { name: key.name, value, comment })
    }
    return sections
  }
}

function readKeyName(line: string): { name: string; end: number } | undefined {
  let quote = ""
  if (line.startsWith('"')) quote = line.length > 6 && line.startsWith('"""') ? '"""' : '"'
  else if (line.startsWith("`")) quote = "`"
  if (quote !== "") {
    const close = line.indexOf(quote, quote.length)
    if (close < 0) return undefined
    const after = line.slice(close + quote.length)
    const delimiter = after.search(/[=:]/)
    if (delimiter < 0) return undefined
    return {
      name: line.slice(quote.length, close).trim(),
      end: close + quote.length + delimiter + 1,
    }
  }
  const delimiter = line.search(/[=:]/)
  if (delimiter <= 0) return undefined
  return { name: line.slice(0, delimiter).trim(), end: delimiter + 1 }
}

/** sops's `stripCommentChar`: drop the leading `;`/`#` and the spaces after it. */
function stripCommentChar(comment: string): string {
  if (comment.startsWith(";")) return comment.replace(/^[; ]+/, "")
  if (comment.startsWith("#")) return comment.replace(/^[# ]+/, "")
  return comment
}

function toTree(sections: readonly Section[]): Mapping {
  const items: Entry[] = sections.map((section) => {
    const sectionItems: (Entry | Comment)[] = []
    if (section.comment !== "")
      sectionItems.push({ kind: "comment", text: stripCommentChar(section.comment) })
    for (const key of section.keys) {
      sectionItems.push({
        kind: "entry",
        key: key.name,
        value: { kind: "string", value: key.value },
      })
      if (key.comment !== "")
        sectionItems.push({ kind: "comment", text: stripCommentChar(key.comment) })
    }
    return { kind: "entry", key: section.name, value: { kind: "mapping", items: sectionItems } }
  })
  return { kind: "mapping", items }
}

function fromTree(branch: Mapping): Section[] {
  const sections: Section[] = []
  const sectionsByName = new Map<string, Section>()
  sectionNamed(sections, sectionsByName, DEFAULT_SECTION)
  for (const item of branch.items) {
    if (item.kind === "comment") continue // sops drops top-level comments in INI
    if (item.value.kind !== "mapping") {
      throw new StoreEmitError(`INI item ${JSON.stringify(item.key)} is not a section`, {
        hints: ["the top level of an INI document holds only [sections] of key = value pairs"],
      })
    }
    const section = sectionNamed(sections, sectionsByName, item.key)
    const entries = item.value.items
    let first = 0
    const head = entries[0]
    if (head?.kind === "comment") {
      section.comment = head.text
      first = 1
    }
    let last: Section["keys"][number] | undefined
    for (const entry of entries.slice(first)) {
      if (entry.kind === "comment") {
        if (last !== undefined) last.comment = entry.text
        continue
      }
      if (entry.value.kind === "mapping" || entry.value.kind === "sequence") {
        throw new StoreEmitError(
          `INI value ${JSON.stringify(`${item.key}.${entry.key}`)} is nested`,
          {
            hints: ["INI sections hold only key = value pairs"],
          },
        )
      }
      // a repeated key keeps its place and takes the later value (and its comment)
      last = { name: entry.key, value: scalarToText(entry.value), comment: "" }
      const existing = section.byName.get(entry.key)
      if (existing === undefined) {
        section.keys.push(last)
        section.byName.set(entry.key, last)
      } else {
        existing.value = last.value
        existing.comment = ""
        last = existing
      }
    }
  }
  return sections
}

function commentLines(comment: string): string {
  return comment
    .split("\n")
    .filter((line) => line !== "")
    .map((line) =>
      line.startsWith("#") || line.startsWith(";")
        ? `${line[0] ?? ""} ${line.slice(1).trim()}`
        : `; ${line.trim()}`,
    )
    .map((line) => line + "\n")
    .join("")
}

function emitSections(sections: readonly Section[]): string {
  const blocks: string[] = []
  let pendingComment = ""
  sections.forEach((section, i) => {
    let out = pendingComment + (section.comment === "" ? "" : commentLines(section.comment))
    pendingComment = ""
    if (i === 0 && section.name === DEFAULT_SECTION) {
      if (section.keys.length === 0) {
        pendingComment = out // go-ini writes the comment, then skips the empty section
        return
      }
    } else out += `[${section.name}]\n`
    const names = section.keys.map((key) => {
      if (key.name.includes('"') || /[=:]/.test(key.name)) return "`" + key.name + "`"
      if (key.name.includes("`")) return '"""' + key.name + '"""'
      return key.name
    })
    let width = 0
    for (const name of names) width = Math.max(width, Buffer.byteLength(name, "utf8"))
    section.keys.forEach((key, k) => {
      if (key.comment !== "") out += commentLines(key.comment)
      const name = names[k] ?? key.name
      let value = key.value
      if (/[\n`]/.test(value)) value = '"""' + value + '"""'
      else if (/[#;]/.test(value)) value = "`" + value + "`"
      else if (value.trim() !== value) value = `"${value}"`
      out += `${name}${" ".repeat(width - Buffer.byteLength(name, "utf8"))} = ${value}\n`
    })
    blocks.push(out)
  })
  return blocks.join("\n") + pendingComment
}
