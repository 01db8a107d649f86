/**
 * `--fail-on` (docs/audit.md "Exit status"): which findings make the audit fail. A level
 * (`plaintext`, `stale`, `warning`) means that level and every level above it; `never`
 * means nothing; finding class names (`unused-key`) add that class. Several are separated
 * by commas. Pure.
 */
import { UsageError } from "../internal/errors.js"
import type { AuditReport, Finding, FindingClass, Level } from "./report.js"
import { FINDING_CLASSES, LEVEL_OF, LEVELS } from "./report.js"

/** The default: stale or plaintext. */
export const DEFAULT_FAIL_ON = "stale"

/**
 * Parses a `--fail-on` value.
 * @param text `stale`, `plaintext,unused-key`, `never`, …
 * @returns the classes that fail the audit
 * @throws UsageError for an unknown word
 */
export function parseFailOn(text: string): ReadonlySet<FindingClass> {
  const classes = new Set<FindingClass>()
  for (const word of text
    .split(",")
    .map((w) => w.trim())
    .filter((w) => w !== "")) {
    if (word === "never") continue
    const level = LEVELS.indexOf(word as Level)
    if (level !== -1) {
      for (const c of FINDING_CLASSES) if (LEVELS.indexOf(LEVEL_OF[c]) <= level) classes.add(c)
      continue
    }
    if ((FINDING_CLASSES as readonly string[]).includes(word)) {
      classes.add(word as FindingClass)
      continue
    }
    throw new UsageError(`--fail-on: unknown level or finding class ${JSON.stringify(word)}`, {
      hints: [
        `levels are ${LEVELS.join(", ")} (each includes the ones before it) and never`,
        `classes are ${FINDING_CLASSES.join(", ")}`,
      ],
    })
  }
  return classes
}

/**
 * @param report the audit
 * @param failOn from `parseFailOn`
 * @returns the findings that fail the audit
 */
export function failingFindings(report: AuditReport, failOn: ReadonlySet<FindingClass>): Finding[] {
  return report.findings.filter((f) => failOn.has(f.class))
}
