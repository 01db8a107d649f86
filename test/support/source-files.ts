/**
 * The repository's own source files, for checks that read them as text (the import graph
 * of `src/`, the citations in comments): listed from the working tree, not from `dist/`.
 */
import { readFileSync, readdirSync } from "node:fs"
import { join, relative } from "node:path"
import { repoRoot } from "./cli.js"

/** A source file: its path from the repository root (with `/`) and its text. */
export interface SourceFile {
  readonly path: string
  readonly text: string
}

/**
 * Every file under `dir` (relative to the repository root) whose name ends with one of
 * `suffixes`, in path order; `node_modules`, `dist` and dot-directories are skipped.
 */
export function sourceFiles(dir: string, suffixes: readonly string[]): SourceFile[] {
  const out: SourceFile[] = []
  const walk = (abs: string): void => {
    for (const entry of readdirSync(abs, { withFileTypes: true })) {
      const path = join(abs, entry.name)
      if (entry.isDirectory()) {
        if (entry.name === "node_modules" || entry.name === "dist" || entry.name.startsWith("."))
          continue
        walk(path)
      } else if (entry.isFile() && suffixes.some((s) => entry.name.endsWith(s))) {
        out.push({
          path: relative(repoRoot, path).split("\\").join("/"),
          text: readFileSync(path, "utf8"),
        })
      }
    }
  }
  walk(join(repoRoot, dir))
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
}
