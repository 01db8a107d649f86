/**
 * Man pages rendered from the `--help` texts (docs/conventions.md "Man pages"): `coffer(1)`
 * from `coffer --help` and `coffer-COMMAND(1)` from `coffer COMMAND --help`, so a page says
 * what the command prints, word for word, and cannot drift from it. Pure: text in, roff
 * (the `man` macros) out; `scripts/man.mjs` writes the pages at build time.
 *
 * The help texts share one shape, which is all this relies on: a heading is a line at
 * column 0 ending in a colon (`Flags:`) followed by an indented block; an indented block
 * is either preformatted (the synopsis, examples, lines with no description) or a list of
 * items (`-i, --in-place   Replace FILE…`, a command and its summary), where an item's
 * description may go on in deeper-indented lines; lines at column 0 are paragraphs.
 */
import { InternalError } from "../internal/errors.js"

/** What one page is made of. */
export interface ManPageSource {
  /** The page's name, as `man` finds it: `coffer`, `coffer-decrypt`. */
  readonly name: string
  /** The one line for the NAME section (the command table's summary). */
  readonly summary: string
  /** The help text, as the command prints it. */
  readonly help: string
  /** coffer's version, for the page's footer. */
  readonly version: string
  /** Other pages (names) for SEE ALSO. */
  readonly seeAlso: readonly string[]
}

/** Headings of the help texts that man pages name otherwise. */
const sectionNames: Readonly<Record<string, string>> = {
  Usage: "SYNOPSIS",
  Flags: "OPTIONS",
  Options: "OPTIONS",
}

/**
 * The man page's section title for a help heading (`Flags` is OPTIONS, `Usage` SYNOPSIS,
 * anything else in capitals).
 * @param heading the heading without its colon
 * @returns the title
 */
export function manSectionName(heading: string): string {
  return sectionNames[heading] ?? heading.toUpperCase()
}

type Block =
  | { readonly kind: "heading"; readonly text: string }
  | { readonly kind: "paragraph"; readonly lines: readonly string[] }
  | { readonly kind: "indented"; readonly lines: readonly string[] }

const headingPattern = /^[A-Z][^:]{0,60}:$/

function indentOf(line: string): number {
  return line.length - line.trimStart().length
}

/** Splits a help text into headings, paragraphs and indented blocks. */
function parseHelp(help: string): Block[] {
  const lines = help.replace(/\s+$/, "").split("\n")
  const blocks: Block[] = []
  let i = 0
  while (i < lines.length) {
    const line = lines[i] ?? ""
    if (line.trim() === "") {
      i += 1
      continue
    }
    if (indentOf(line) > 0) {
      const block: string[] = []
      // blank lines inside an indented block belong to it (examples in groups)
      while (i < lines.length) {
        const l = lines[i] ?? ""
        if (l.trim() === "") {
          const next = lines.slice(i).find((n) => n.trim() !== "")
          if (next === undefined || indentOf(next) === 0) break
        } else if (indentOf(l) === 0) break
        block.push(l)
        i += 1
      }
      blocks.push({ kind: "indented", lines: block })
      continue
    }
    const next = lines[i + 1] ?? ""
    if (headingPattern.test(line) && (next.trim() === "" || indentOf(next) > 0)) {
      blocks.push({ kind: "heading", text: line.slice(0, -1) })
      i += 1
      continue
    }
    const paragraph: string[] = []
    while (i < lines.length) {
      const l = lines[i] ?? ""
      if (l.trim() === "" || indentOf(l) > 0) break
      if (paragraph.length > 0 && headingPattern.test(l)) break
      paragraph.push(l)
      i += 1
    }
    blocks.push({ kind: "paragraph", lines: paragraph })
  }
  return blocks
}

/**
 * Text made safe for roff: backslashes and dashes escaped (so flags render and copy as
 * ASCII hyphen-minus), and a leading `.` or `'` kept from being read as a request.
 */
function escapeRoff(text: string): string {
  const escaped = text.replace(/\\/g, "\\e").replace(/-/g, "\\-")
  return /^[.']/.test(escaped) ? `\\&${escaped}` : escaped
}

/** One item of a list: its first line's head, its description lines. */
interface ListItem {
  readonly head: string
  readonly description: readonly string[]
}

/**
 * The items of an indented block read as a list (`-i, --in-place   Replace…`), or
 * undefined when some line has neither a description after a two-space gap nor
 * deeper-indented lines under it (then the block stays preformatted).
 */
function listItems(lines: readonly string[]): ListItem[] | undefined {
  const filled = lines.filter((l) => l.trim() !== "")
  const base = Math.min(...filled.map(indentOf))
  const items: { head: string; description: string[] }[] = []
  for (const line of filled) {
    if (indentOf(line) === base) {
      const text = line.trim()
      const gap = /^(\S.*?)\s{2,}(\S.*)$/.exec(text)
      items.push(
        gap === null
          ? { head: text, description: [] }
          : { head: gap[1] ?? "", description: [gap[2] ?? ""] },
      )
    } else {
      const item = items.at(-1)
      if (item === undefined) return undefined
      item.description.push(line.trim())
    }
  }
  return items.every((item) => item.description.length > 0) ? items : undefined
}

function preformatted(lines: readonly string[]): string[] {
  const filled = lines.filter((l) => l.trim() !== "")
  const base = Math.min(...filled.map(indentOf))
  return [".nf", ...lines.map((l) => escapeRoff(l.slice(Math.min(base, indentOf(l))))), ".fi"]
}

/**
 * Renders one man page (section 1) from a help text.
 * @param source the page's name, summary, help text, version and related pages
 * @returns the page in roff with the `man` macros
 */
export function renderManPage(source: ManPageSource): string {
  const out: string[] = [
    `.\\" Generated from "${source.name.replace("-", " ")} --help" by scripts/man.mjs; do not edit.`,
    `.TH ${escapeRoff(source.name.toUpperCase())} 1 "" "coffer ${source.version}" "coffer manual"`,
    // no hyphenation, ragged right: words, flags and paths stay whole, as in the help
    ".nh",
    ".ad l",
    ".SH NAME",
    `${escapeRoff(source.name)} \\- ${escapeRoff(source.summary)}`,
  ]
  let section = "NAME"
  let described = false
  let first = true
  for (const block of parseHelp(source.help)) {
    switch (block.kind) {
      case "heading":
        section = manSectionName(block.text)
        if (section === "DESCRIPTION") described = true
        out.push(`.SH ${escapeRoff(section)}`)
        first = true
        break
      case "paragraph":
        if (!described && (section === "SYNOPSIS" || section === "NAME")) {
          section = "DESCRIPTION"
          described = true
          out.push(".SH DESCRIPTION")
          first = true
        }
        if (!first) out.push(".PP")
        out.push(...block.lines.map((l) => escapeRoff(l.trim())))
        first = false
        break
      case "indented": {
        const items =
          section === "SYNOPSIS" || section === "EXAMPLES" ? undefined : listItems(block.lines)
        if (items === undefined) {
          if (!first) out.push(".PP")
          out.push(...preformatted(block.lines))
        } else {
          // short heads (command names, exit statuses) share their line with the text
          const widest = Math.max(...items.map((item) => item.head.length))
          const tag = widest <= 12 ? `.TP ${String(widest + 2)}` : ".TP"
          for (const item of items) {
            out.push(tag, `\\fB${escapeRoff(item.head)}\\fR`)
            out.push(...item.description.map(escapeRoff))
          }
        }
        first = false
        break
      }
      default: {
        const unknown: never = block
        throw new InternalError(`unknown help block ${JSON.stringify(unknown)}`)
      }
    }
  }
  if (source.seeAlso.length > 0) {
    out.push(
      ".SH SEE ALSO",
      source.seeAlso.map((page) => `\\fB${escapeRoff(page)}\\fR(1)`).join(",\n"),
    )
  }
  return `${out.join("\n")}\n`
}
