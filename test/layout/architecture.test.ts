/**
 * docs/architecture.md names every file of `src/` (tests aside) in the section of its
 * folder, `## name (`src/folder`)`, and every `….ts` file it names exists. A failure names
 * the file and the section to add it to, or the name to correct.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { existsSync, readFileSync } from "node:fs"
import { join, posix } from "node:path"
import { repoRoot } from "../support/cli.js"
import { sourceFiles } from "../support/source-files.js"

/** A section of the page about one folder: `src/…` and its text. */
interface FolderSection {
  readonly folder: string
  readonly heading: string
  readonly text: string
}

/** The `## … (`src/…`)` sections of the page. */
function folderSections(markdown: string): FolderSection[] {
  const sections: FolderSection[] = []
  let current: { folder: string; heading: string; lines: string[] } | undefined
  const close = (): void => {
    if (current !== undefined) {
      sections.push({
        folder: current.folder,
        heading: current.heading,
        text: current.lines.join("\n"),
      })
    }
    current = undefined
  }
  for (const line of markdown.split("\n")) {
    if (line.startsWith("## ")) {
      close()
      const folder = /\(`(src\/[\w/-]+?)\/?`\)/.exec(line)?.[1]
      if (folder !== undefined) current = { folder, heading: line.slice(3), lines: [] }
    } else {
      current?.lines.push(line)
    }
  }
  close()
  return sections
}

/**
 * What is wrong between the page and the files.
 * @param markdown docs/architecture.md
 * @param files the source files, by path from the repository root
 * @param exists whether a path from the repository root is a file
 */
function architectureProblems(
  markdown: string,
  files: readonly string[],
  exists: (path: string) => boolean,
): string[] {
  const sections = folderSections(markdown)
  const problems: string[] = []
  for (const file of files) {
    // the deepest folder with a section of its own
    const section = sections
      .filter((s) => file.startsWith(`${s.folder}/`))
      .sort((a, b) => b.folder.length - a.folder.length)[0]
    const folder = posix.dirname(file)
    if (section === undefined) {
      problems.push(
        `${file}: docs/architecture.md has no section for ${folder}/: add "## ${folder.slice(4)} (\`${folder}\`)" saying what the folder holds, with a line for each of its files`,
      )
      continue
    }
    const name = file.slice(section.folder.length + 1)
    if (!section.text.includes(`\`${name}\``)) {
      problems.push(
        `${file}: docs/architecture.md does not name \`${name}\` under "## ${section.heading}": add it to that section's table (or text), saying in a few words what it holds`,
      )
    }
  }
  for (const section of sections) {
    for (const match of section.text.matchAll(/`([\w./-]+\.ts)`/g)) {
      const named = match[1] ?? ""
      const candidates = [join(section.folder, named), join("src", named), named].map((p) =>
        p.split("\\").join("/"),
      )
      if (!candidates.some(exists)) {
        problems.push(
          `the section "## ${section.heading}" of docs/architecture.md names \`${named}\`, which is not a file (looked for ${candidates.join(", ")}): correct the name, or remove the line if the file is gone`,
        )
      }
    }
  }
  return problems
}

test("docs/architecture.md names every file of src/ in its folder's section, and only files that exist", () => {
  const files = sourceFiles("src", [".ts"])
    .map((f) => f.path)
    .filter((p) => !p.endsWith(".test.ts"))
  assert.ok(files.length > 100, `only ${String(files.length)} source files found`)
  const markdown = readFileSync(join(repoRoot, "docs/architecture.md"), "utf8")
  const problems = architectureProblems(markdown, files, (p) => existsSync(join(repoRoot, p)))
  assert.deepEqual(problems, [])
})

test("the check finds a file left out, a folder without a section and a name that is gone", () => {
  const markdown = [
    "# architecture",
    "## sops (`src/sops`)",
    "| `tree.ts` | the model |",
    "| `stores/yaml.ts` | YAML |",
    "| `gone.ts` | was here |",
    "## cli (`src/cli`)",
    "`main.ts` and `commands/set.ts`, which uses `workflows/tree-path.ts`",
    "## nix (`nix/`)",
    "`tree.ts` here is not about src/",
  ].join("\n")
  const files = [
    "src/sops/tree.ts",
    "src/sops/mac.ts",
    "src/sops/stores/yaml.ts",
    "src/cli/main.ts",
    "src/cli/commands/set.ts",
    "src/internal/bytes.ts",
  ]
  const existing = new Set([...files, "src/workflows/tree-path.ts"])
  const problems = architectureProblems(markdown, files, (p) => existing.has(p))
  assert.equal(problems.length, 3, problems.join("\n"))
  assert.match(
    problems[0] ?? "",
    /^src\/sops\/mac\.ts: docs\/architecture\.md does not name `mac\.ts` under "## sops/,
  )
  assert.match(
    problems[1] ?? "",
    /^src\/internal\/bytes\.ts: docs\/architecture\.md has no section for src\/internal\//,
  )
  assert.match(problems[2] ?? "", /names `gone\.ts`, which is not a file/)
})
