/**
 * The man pages (issue 16 "The product around it"; docs/conventions.md "Man pages"): one
 * page per command plus coffer(1), listed in package.json's `man` field and shipped in
 * `files`; each renders with the real `man -l` without a warning and says exactly what
 * `bin/coffer COMMAND --help` prints, word for word and in order, under the sections its
 * headings name.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { manSectionName } from "../../src/cli/man-page.js"
import { repoRoot, runCli, runCommand } from "../support/cli.js"
import { requireTool } from "../support/tools.js"

interface PackageJson {
  readonly man: readonly string[]
  readonly files: readonly string[]
}

const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as PackageJson

/** The commands and summaries of `coffer --help`, in order. */
async function commandSummaries(): Promise<[string, string][]> {
  const r = await runCli(["--help"])
  assert.equal(r.status, 0, r.stderr)
  const text = r.stdout.toString("utf8")
  const section = text.slice(text.indexOf("Commands:\n"), text.indexOf("\nExamples:"))
  const rows = [...section.matchAll(/^ {4}(\S+) +(\S.*)$/gm)].map((m): [string, string] => [
    m[1] ?? "",
    m[2] ?? "",
  ])
  assert.ok(rows.length >= 20, section)
  return rows
}

const headingPattern = /^[A-Z][^:]{0,60}:$/

/** A help text's words, without its headings; and the headings, in order. */
function helpWords(help: string): { words: string[]; headings: string[] } {
  const lines = help.split("\n")
  const headings: string[] = []
  const kept: string[] = []
  lines.forEach((line, i) => {
    const next = lines[i + 1] ?? ""
    if (headingPattern.test(line) && (next.trim() === "" || /^\s/.test(next)))
      headings.push(line.slice(0, -1))
    else kept.push(line)
  })
  return { words: kept.join(" ").split(/\s+/).filter(Boolean), headings }
}

/** A page as `man -l` shows it: its section titles and each section's words. */
async function renderedPage(
  file: string,
): Promise<{ titles: string[]; words: Map<string, string[]>; stderr: string }> {
  const r = await runCommand("man", ["--warnings", "-l", file], {
    env: { MANWIDTH: "100", MANPAGER: "cat", PAGER: "cat", LANG: "C.UTF-8", LC_ALL: "C.UTF-8" },
  })
  assert.equal(r.status, 0, `man -l ${file}: ${r.stderr}`)
  // output to a pipe is plain text (man-db removes the overstriking bold)
  const lines = r.stdout.toString("utf8").split("\n")
  // the first and last lines are the page's header and footer
  const body = lines.slice(
    1,
    lines.findLastIndex((l) => l.trim() !== ""),
  )
  const titles: string[] = []
  const words = new Map<string, string[]>()
  let current: string[] = []
  for (const line of body) {
    if (/^\S/.test(line)) {
      titles.push(line.trim())
      current = []
      words.set(line.trim(), current)
    } else current.push(...line.split(/\s+/).filter(Boolean))
  }
  return { titles, words, stderr: r.stderr }
}

test("package.json's man field lists coffer.1 and one page per command, all shipped", async () => {
  const names = (await commandSummaries()).map(([name]) => name)
  assert.deepEqual(pkg.man, [
    "dist/man/coffer.1",
    ...names.map((name) => `dist/man/coffer-${name}.1`),
  ])
  assert.ok(pkg.files.includes("dist/man"), "files must ship dist/man")
  for (const page of pkg.man) assert.ok(existsSync(join(repoRoot, page)), `${page} is built`)
})

test("every command's page says exactly what its --help says, under the same headings", async (t) => {
  if (!requireTool(t, "man", "man-db")) return
  for (const [name, summary] of await commandSummaries()) {
    const page = `coffer-${name}`
    const help = await runCli([name, "--help"])
    assert.equal(help.status, 0, `${name} --help: ${help.stderr}`)
    const expected = helpWords(help.stdout.toString("utf8"))
    const rendered = await renderedPage(join(repoRoot, "dist", "man", `${page}.1`))
    assert.equal(rendered.stderr, "", `${page}: man warns`)
    assert.deepEqual(
      rendered.titles.filter((title) => title !== "DESCRIPTION"),
      ["NAME", ...expected.headings.map(manSectionName), "SEE ALSO"],
      `${page}: sections`,
    )
    assert.deepEqual(rendered.words.get("NAME"), [page, "-", ...summary.split(" ")], page)
    assert.deepEqual(rendered.words.get("SEE ALSO"), ["coffer(1)"], page)
    const body = rendered.titles
      .filter((title) => title !== "NAME" && title !== "SEE ALSO")
      .flatMap((title) => rendered.words.get(title) ?? [])
    assert.deepEqual(body, expected.words, `${page}: the words of "coffer ${name} --help"`)
  }
})

test("coffer(1) is coffer --help, with every command's page under SEE ALSO", async (t) => {
  if (!requireTool(t, "man", "man-db")) return
  const help = await runCli(["--help"])
  const [title = "", ...rest] = help.stdout.toString("utf8").split("\n")
  const expected = helpWords(rest.join("\n"))
  const rendered = await renderedPage(join(repoRoot, "dist", "man", "coffer.1"))
  assert.equal(rendered.stderr, "")
  assert.deepEqual(rendered.titles, ["NAME", ...expected.headings.map(manSectionName), "SEE ALSO"])
  assert.match(title, /^coffer \S+: /)
  assert.deepEqual(rendered.words.get("NAME"), [
    "coffer",
    "-",
    ...title.replace(/^coffer \S+: /, "").split(" "),
  ])
  const body = rendered.titles
    .filter((t) => t !== "NAME" && t !== "SEE ALSO")
    .flatMap((t) => rendered.words.get(t) ?? [])
  assert.deepEqual(body, expected.words)
  const pages = (await commandSummaries()).map(([name]) => `coffer-${name}(1),`)
  assert.deepEqual(rendered.words.get("SEE ALSO")?.join(" "), pages.join(" ").replace(/,$/, ""))
  assert.ok(expected.headings.includes("Exit status"), "coffer --help lists the exit statuses")
})
