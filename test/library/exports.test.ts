/**
 * Every name a public entry point exports (package.json `"exports"`, docs/library.md) has a
 * doc comment where it is declared, so the `.d.ts` files a program reads explain it. The
 * entry points are read from package.json, so a new one is covered without a change here.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import ts from "typescript"
import { repoRoot } from "../support/cli.js"

/** The source file of each entry point: `./dist/src/library/sops.js` → `src/library/sops.ts`. */
function entrySources(): Map<string, string> {
  const manifest = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
    exports: Record<string, string | { default: string }>
  }
  const sources = new Map<string, string>()
  for (const [subpath, target] of Object.entries(manifest.exports)) {
    const file = typeof target === "string" ? target : target.default
    if (!file.startsWith("./dist/src/")) continue
    sources.set(`coffer${subpath.slice(1)}`, file.slice("./dist/".length).replace(/\.js$/, ".ts"))
  }
  return sources
}

/**
 * The exports without a doc comment (neither text nor a tag such as `@returns`).
 * @param sources entry point name → its source file, from the repository root
 */
function undocumentedExports(sources: ReadonlyMap<string, string>): string[] {
  const files = [...sources.values()].map((f) => join(repoRoot, f))
  const program = ts.createProgram(files, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    types: ["node"],
  })
  const checker = program.getTypeChecker()
  const missing: string[] = []
  for (const [entry, file] of sources) {
    const source = program.getSourceFile(join(repoRoot, file))
    assert.ok(source !== undefined, `${file} (the source of ${entry}) is missing`)
    const module = checker.getSymbolAtLocation(source)
    assert.ok(module !== undefined, `${file} has no exports`)
    for (const symbol of checker.getExportsOfModule(module)) {
      const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol
      const text = ts.displayPartsToString(target.getDocumentationComment(checker)).trim()
      if (text !== "" || target.getJsDocTags(checker).length > 0) continue
      const declared = target.declarations?.[0]?.getSourceFile().fileName ?? "?"
      missing.push(
        `${entry} exports ${symbol.name} (declared in ${declared.slice(repoRoot.length)}) without a doc comment: add /** … */ saying what it is`,
      )
    }
  }
  return missing
}

test("every export of every entry point in package.json has a doc comment", () => {
  const sources = entrySources()
  assert.deepEqual(
    [...sources.keys()].sort(),
    ["coffer/age", "coffer/host", "coffer/policy", "coffer/sops"],
    "the entry points (docs/library.md lists them)",
  )
  assert.deepEqual(undocumentedExports(sources), [])
})
