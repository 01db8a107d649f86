/**
 * The audit as text for a terminal (docs/audit.md "Terminal output"): the findings grouped
 * by class, each with its fix, then the matrix of who can read what, then a summary line.
 * Colours only when asked (the command asks on a terminal without `NO_COLOR`). Pure.
 */
import type { Access, AuditReport, Finding, FindingClass } from "./report.js"
import { FINDING_CLASSES } from "./report.js"

/** How to render. */
export interface TableOptions {
  /** ANSI colours. */
  readonly color: boolean
  /** Columns available; the matrix becomes a list when it does not fit. */
  readonly width: number
  /** The audited directory as shown (`.`, `repo`). */
  readonly rootLabel: string
  /** Leave the matrix out. */
  readonly matrix?: boolean
}

/** The heading of each finding class. */
export const CLASS_TITLES: Readonly<Record<FindingClass, string>> = {
  "plaintext-file": "Plaintext files that should be encrypted",
  "plaintext-value": "Values in clear in encrypted files",
  "identity-file": "Private keys in the repository",
  stale: "Stale recipients (the file differs from its rule)",
  undecryptable: "Files no listed key can decrypt",
  unreadable: "Files that can't be read",
  "key-age": "Keys older than --max-age",
  "unmatched-file": "Encrypted files no rule matches",
  "unused-rule": "Rules that match no file",
  "unused-key": "Keys no rule uses",
}

/** The mark of each access in the matrix. */
export const ACCESS_MARKS: Readonly<Record<Access, string>> = {
  read: "●",
  share: "◐",
  extra: "!",
  missing: "+",
  unverified: "?",
}

const LEGEND =
  "● reads  ◐ holds a share  ! reads, not in its rule  + in its rule, can't read  ? unverified"

const codes = { red: "31", yellow: "33", green: "32", dim: "2", bold: "1" } as const

/** Characters a terminal shows (code points, not UTF-16 units). */
function visibleLength(text: string): number {
  return Array.from(text).length
}

function pad(text: string, width: number): string {
  return text + " ".repeat(Math.max(0, width - visibleLength(text)))
}

function truncate(text: string, width: number): string {
  return visibleLength(text) <= width
    ? text
    : `${Array.from(text)
        .slice(0, width - 1)
        .join("")}…`
}

/**
 * Renders the report.
 * @param report the audit
 * @param options colours, width, how to name the root
 * @returns the text, ending with a newline
 */
export function renderTable(report: AuditReport, options: TableOptions): string {
  const paint = (code: keyof typeof codes, text: string): string =>
    options.color ? `\x1b[${codes[code]}m${text}\x1b[0m` : text
  const lines: string[] = []
  const rules = [report.rules.sops, ...report.rules.agenix].filter((r): r is string => r !== null)
  lines.push(
    paint(
      "bold",
      `coffer audit of ${options.rootLabel}${report.scope === "staged" ? " (staged files)" : ""}`,
    ) +
      `: ${counted(report.summary.scanned, "file")}, ${String(report.summary.encrypted)} encrypted; rules: ${rules.length === 0 ? "none found" : rules.join(", ")}`,
  )
  for (const cls of FINDING_CLASSES) {
    const found = report.findings.filter((f) => f.class === cls)
    if (found.length === 0) continue
    const level = found[0]?.level
    const color = level === "warning" ? "yellow" : "red"
    lines.push("", paint(color, `${CLASS_TITLES[cls]} (${String(found.length)})`))
    const width = Math.min(40, Math.max(...found.map((f) => visibleLength(f.path))))
    for (const f of found) lines.push(...renderFinding(f, width, paint))
  }
  if (report.findings.length === 0) lines.push("", paint("green", "No findings."))
  if (options.matrix !== false && report.files.length > 0) {
    lines.push("", paint("bold", "Who can read what"), paint("dim", LEGEND))
    lines.push(...renderMatrix(report, options, paint))
  }
  for (const s of report.summary.skipped) lines.push(paint("dim", `skipped ${s.path}: ${s.reason}`))
  lines.push("", summaryLine(report))
  return `${lines.join("\n")}\n`
}

function renderFinding(
  f: Finding,
  width: number,
  paint: (code: keyof typeof codes, text: string) => string,
): string[] {
  const head = `  ${pad(f.path, width)}  ${f.message}`
  const out = [head]
  if (f.fix !== null) out.push(`  ${" ".repeat(width)}  ${paint("dim", "fix:")} ${f.fix}`)
  // what to do about a file that can't be read (no nix-instantiate, a bad rules file)
  const hints = f.class === "unreadable" ? f.details["hints"] : undefined
  if (Array.isArray(hints)) {
    for (const hint of hints) {
      if (typeof hint === "string")
        out.push(`  ${" ".repeat(width)}  ${paint("dim", "hint:")} ${hint}`)
    }
  }
  return out
}

function renderMatrix(
  report: AuditReport,
  options: TableOptions,
  paint: (code: keyof typeof codes, text: string) => string,
): string[] {
  const used = new Set(report.files.flatMap((f) => Object.keys(f.access)))
  const columns = report.identities.filter((i) => used.has(i.id))
  const mark = (access: Access | undefined): string => {
    if (access === undefined) return "·"
    const text = ACCESS_MARKS[access]
    return access === "extra" || access === "missing"
      ? paint("red", text)
      : access === "unverified"
        ? paint("yellow", text)
        : paint("green", text)
  }
  const pathWidth = Math.min(60, Math.max(...report.files.map((f) => visibleLength(f.path))))
  const labels = columns.map((c) => truncate(c.id, 16))
  const colWidths = labels.map((l) => Math.max(3, visibleLength(l)))
  const total = pathWidth + 2 + colWidths.reduce((a, w) => a + w + 1, 0)
  if (total <= options.width) {
    const header = `${" ".repeat(pathWidth + 2)}${labels.map((l, i) => pad(l, (colWidths[i] ?? 3) + 1)).join("")}`
    const rows = report.files.map((file) => {
      const cells = columns.map((c, i) => {
        const w = colWidths[i] ?? 3
        const left = Math.floor((w - 1) / 2)
        return `${" ".repeat(left)}${mark(file.access[c.id])}${" ".repeat(w - left)}`
      })
      return `${pad(truncate(file.path, pathWidth), pathWidth)}  ${cells.join("")}`.trimEnd()
    })
    return [header.trimEnd(), ...rows]
  }
  // too wide for the terminal: one line per file, naming who can do what
  return report.files.map((file) => {
    const who = Object.entries(file.access).map(([id, access]) => `${id} ${mark(access)}`)
    return `${file.path}: ${who.length === 0 ? "nobody listed" : who.join(", ")}`
  })
}

function summaryLine(report: AuditReport): string {
  const byLevel = { plaintext: 0, stale: 0, warning: 0 }
  for (const f of report.findings) byLevel[f.level]++
  return `${String(byLevel.plaintext)} plaintext, ${String(byLevel.stale)} stale, ${counted(byLevel.warning, "warning")} in ${counted(report.files.length, "encrypted file")} and ${report.identities.length === 1 ? "1 identity" : `${String(report.identities.length)} identities`}`
}

/** "1 file", "2 files". */
function counted(n: number, word: string): string {
  return `${String(n)} ${word}${n === 1 ? "" : "s"}`
}
