/**
 * Every document a source file cites is in the repository (docs/conventions.md
 * "Comments"): in `src/`, `bench/`, `scripts/`, `test/`, `docs/`, `nix/` and the README,
 * each `….md` named in a comment, a string or a page must be a file of the repository, by
 * its path from the root (or relative to the citing file when it starts with `./` or
 * `../`, and for a Markdown page, relative to it), and each heading quoted right after it
 * (`docs/formats/age.md "Header MAC"`) must be a heading of that file. Section numbers
 * (`§3.3`) belong to notes outside the repository and are refused. A failure names the
 * file, the line, the citation and what to do.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { existsSync, readFileSync, statSync } from "node:fs"
import { dirname, join, normalize } from "node:path"
import { repoRoot } from "../support/cli.js"
import { sourceFiles, type SourceFile } from "../support/source-files.js"

/** The folders whose files must cite only what the repository holds, and the root's pages. */
const checkedFolders = ["src", "bench", "scripts", "test", "docs", "nix"]
const checkedRootFiles = ["README.md"]
const checkedSuffixes = [".ts", ".mjs", ".js", ".cjs", ".sh", ".md", ".nix"]
/** This file quotes wrong citations on purpose, as test data. */
const uncheckedFiles = new Set(["test/layout/citations.test.ts"])

/** The docs to suggest in messages. */
const suggestion =
  'cite the page of docs/ that holds the fact by its path and a heading, e.g. docs/formats/age.md "Header MAC" (adding the fact there, in our own words, if it is missing), or an upstream URL'

/** One problem: where, and what to do. */
function problem(file: SourceFile, index: number, citation: string, what: string): string {
  const line = file.text.slice(0, index).split("\n").length
  return `${file.path}:${String(line)}: ${citation} ${what}`
}

/**
 * The headings of a Markdown file, as they may be cited: without backticks, and also in
 * short forms (without a final "(…)", or the part before a colon). A citation may also
 * name a heading by its first words, up to " and", ":" or " (".
 */
function headingsOf(path: string): Set<string> {
  const headings = new Set<string>()
  let fenced = false
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (line.startsWith("```")) fenced = !fenced
    if (fenced) continue
    const match = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)
    if (match?.[1] === undefined) continue
    const text = match[1].replace(/`/g, "")
    headings.add(text)
    // short forms: without a final "(…)", or only what comes before a colon
    headings.add(text.replace(/\s*\(.*\)$/, ""))
    headings.add(text.replace(/:.*$/, ""))
  }
  return headings
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
}

/** Text with comment continuations (a line break, then `*`, `//` or `#`) read as one space. */
function unwrapComment(text: string): string {
  return text.replace(/\s*\n\s*(?:\*(?!\/)|\/\/|#)?\s*/g, " ")
}

/**
 * The problems of one file's citations.
 * @param file the file's path from the repository root and its text
 * @param exists whether a path from the repository root is a file
 * @param headings the headings of a Markdown file given by its path from the root
 */
function citationProblems(
  file: SourceFile,
  exists: (path: string) => boolean,
  headings: (path: string) => Set<string>,
): string[] {
  const problems: string[] = []
  // URLs cite upstream: blank them out (same length, so indices stay right)
  let text = file.text.replace(/https?:\/\/[^\s"'`)>\]]+/g, (url) => " ".repeat(url.length))
  for (const notes of text.matchAll(/(?:\.\.\/)+shared\b[\w./-]*|\/work\/shared\b[\w./-]*/g)) {
    const cited = notes[0].replace(/\.+$/, "")
    problems.push(problem(file, notes.index, cited, `points outside the repository; ${suggestion}`))
  }
  // reported once: the path is not looked at again below
  text = text.replace(/(?:\.\.\/)+shared\b[\w./-]*|\/work\/shared\b[\w./-]*/g, (m) =>
    " ".repeat(m.length),
  )
  // a section number alone (`spec §6.3`) points into a note too; RFC sections are fine
  for (const bare of text.matchAll(/(?<!RFC \d+ |\.md\s*|,\s*|and\s+)§\s?[\d.]+[a-z]?/g)) {
    problems.push(
      problem(
        file,
        bare.index,
        bare[0],
        `is a section number of a note outside the repository; cite a heading of a docs/ page instead, e.g. docs/formats/age.md "SSH key files" (RFC sections are fine: RFC 8439 §2.5)`,
      ),
    )
  }
  for (const match of text.matchAll(/(?<![\w./-])((?:\.{1,2}\/)*[\w][\w./-]*\.md)\b/g)) {
    const cited = match[1] ?? ""
    // a relative path is relative to the file, or to where the build puts it (dist/…)
    // a Markdown page links relative to itself (`nixos.md`, `host/sops-nix-manifest.md`)
    const beside = normalize(join(dirname(file.path), cited))
    const path = !cited.startsWith(".")
      ? file.path.endsWith(".md") && !exists(cited) && exists(beside)
        ? beside
        : cited
      : ([join(dirname(file.path), cited), join("dist", dirname(file.path), cited)]
          .map((p) => normalize(p))
          .find((p) => exists(p)) ?? normalize(join(dirname(file.path), cited)))
    const after = unwrapComment(text.slice(match.index + match[0].length, match.index + 400))
    const sections = /^\s*§[\d.]+[a-z]?(?:(?:,\s*|\s+and\s+|-)§?[\d.]+)*/.exec(after)
    const shown = `${cited}${sections?.[0] ?? ""}`
    if (!exists(path)) {
      const hint = cited.includes("/")
        ? suggestion
        : `name it by its path from the repository root (docs/${cited}?), or ${suggestion}`
      problems.push(problem(file, match.index, shown, `is not a file of the repository; ${hint}`))
      continue
    }
    if (/^\s*§/.test(after)) {
      problems.push(
        problem(
          file,
          match.index,
          shown,
          `cites a numbered section, which ${cited} does not have; cite a heading of it instead: ${cited} "Heading"`,
        ),
      )
      continue
    }
    if (!cited.endsWith(".md")) continue
    const known = headings(path)
    // a heading may be cited by its first words: "Flags" for "Flags and settings"
    const names = (heading: string): boolean =>
      [...known].some(
        (h) => h === heading || new RegExp(`^${escapeRegExp(heading)}(?: and |:| \\()`).test(h),
      )
    // headings follow the path after a space: docs/x.md "A", "B" (a quote right after the
    // path closes a string literal instead)
    for (const quoted of after.matchAll(/(?:\s+|\s*,\s*|\s+and\s+)"([^"\s,][^"]*)"/gy)) {
      const heading = (quoted[1] ?? "").replace(/`/g, "")
      if (!names(heading)) {
        problems.push(
          problem(
            file,
            match.index,
            `${cited} "${heading}"`,
            `names a heading ${cited} does not have; its headings are ${[...known]
              .filter((h) => !/\($/.test(h))
              .map((h) => JSON.stringify(h))
              .join(", ")}`,
          ),
        )
      }
    }
  }
  return problems
}

const isRepositoryFile = (path: string): boolean => {
  const abs = join(repoRoot, path)
  return existsSync(abs) && statSync(abs).isFile()
}
const headingsCache = new Map<string, Set<string>>()
const repositoryHeadings = (path: string): Set<string> => {
  let headings = headingsCache.get(path)
  if (headings === undefined) {
    headings = headingsOf(join(repoRoot, path))
    headingsCache.set(path, headings)
  }
  return headings
}

test("every document cited in src/, bench/, scripts/, test/, docs/, nix/ and the README is in the repository, with its heading", () => {
  const files = [
    ...checkedFolders.flatMap((folder) => sourceFiles(folder, checkedSuffixes)),
    ...checkedRootFiles.map((path) => ({ path, text: readFileSync(join(repoRoot, path), "utf8") })),
  ].filter((f) => !uncheckedFiles.has(f.path))
  assert.ok(files.length > 100, `only ${String(files.length)} files found`)
  const problems = files.flatMap((f) => citationProblems(f, isRepositoryFile, repositoryHeadings))
  assert.deepEqual(problems, [])
})

test("the check refuses notes outside the repository, section numbers and unknown headings", () => {
  const docs: Record<string, Set<string>> = {
    "docs/formats/age.md": new Set(["Header MAC", "Payload"]),
    "bench/README.md": new Set(["Benchmarks"]),
  }
  const file: SourceFile = {
    path: "src/age/example.ts",
    text: [
      "/**",
      ' * The header (age-spec.md §3.3, docs/formats/age.md "Header MAC"; see',
      ' * docs/formats/age.md "Payload", "Header',
      ' * MAC") and ../../bench/README.md, spec/typage.md and ../shared/MISSION.md.',
      " * https://github.com/C2SP/C2SP/blob/main/age.md is upstream.",
      " */",
      '// docs/formats/age.md §4 and docs/formats/age.md "STREAM"',
      "// spec §6.3: prompt only when the tag matches; Poly1305 (RFC 8439 §2.5) is fine",
    ].join("\n"),
  }
  const problems = citationProblems(
    file,
    (p) => Object.hasOwn(docs, p),
    (p) => docs[p] ?? new Set(),
  )
  assert.equal(problems.length, 6, problems.join("\n"))
  assert.match(
    problems[0] ?? "",
    /^src\/age\/example\.ts:4: \.\.\/shared\/MISSION\.md points outside/,
  )
  assert.match(problems[1] ?? "", /^src\/age\/example\.ts:8: §6\.3 is a section number of a note/)
  problems.splice(1, 1)
  assert.match(
    problems[1] ?? "",
    /^src\/age\/example\.ts:2: age-spec\.md §3\.3 is not a file of the repository; name it by its path from the repository root \(docs\/age-spec\.md\?\)/,
  )
  assert.match(problems[2] ?? "", /^src\/age\/example\.ts:4: spec\/typage\.md is not a file/)
  assert.match(
    problems[3] ?? "",
    /^src\/age\/example\.ts:7: docs\/formats\/age\.md §4 cites a numbered section/,
  )
  assert.match(
    problems[4] ?? "",
    /^src\/age\/example\.ts:7: docs\/formats\/age\.md "STREAM" names a heading .* "Header MAC", "Payload"$/,
  )
})
