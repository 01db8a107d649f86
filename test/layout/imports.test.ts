/**
 * The import graph of `src/` (docs/architecture.md "Layers"): no cycle anywhere, counting
 * every kind of import (static, `import type`, `export … from` and `import()`), and every
 * folder imports only the layers below it. A failure names the files and what to do.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { dirname, join } from "node:path"
import ts from "typescript"
import { sourceFiles, type SourceFile } from "../support/source-files.js"

/** One import of a file: the module it names, resolved to a path from the repository root. */
interface ImportEdge {
  readonly from: string
  readonly to: string
  /** 1-based line of the import. */
  readonly line: number
}

/** Every relative import of each source file (tests excluded), resolved to `.ts` paths. */
function importGraph(files: readonly SourceFile[]): Map<string, ImportEdge[]> {
  const graph = new Map<string, ImportEdge[]>()
  for (const file of files) {
    // readImportFiles and detectJavaScriptImports: also `import()` and `require()`
    const info = ts.preProcessFile(file.text, true, true)
    const edges: ImportEdge[] = []
    for (const imported of info.importedFiles) {
      if (!imported.fileName.startsWith(".")) continue
      const to = join(dirname(file.path), imported.fileName).replace(/\.js$/, ".ts")
      const line = file.text.slice(0, imported.pos).split("\n").length
      edges.push({ from: file.path, to, line })
    }
    graph.set(file.path, edges)
  }
  return graph
}

/**
 * The cycles of a graph, one per strongly connected component of more than one file (or a
 * file importing itself), each as the path of imports that closes it.
 */
function findCycles(graph: ReadonlyMap<string, readonly ImportEdge[]>): ImportEdge[][] {
  // Tarjan's algorithm, then a shortest path back to the start inside each component
  let counter = 0
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const components: Set<string>[] = []
  const visit = (node: string): void => {
    index.set(node, counter)
    low.set(node, counter)
    counter += 1
    stack.push(node)
    onStack.add(node)
    for (const edge of graph.get(node) ?? []) {
      if (!index.has(edge.to)) {
        if (!graph.has(edge.to)) continue
        visit(edge.to)
        low.set(node, Math.min(low.get(node) ?? 0, low.get(edge.to) ?? 0))
      } else if (onStack.has(edge.to)) {
        low.set(node, Math.min(low.get(node) ?? 0, index.get(edge.to) ?? 0))
      }
    }
    if (low.get(node) === index.get(node)) {
      const component = new Set<string>()
      for (;;) {
        const member = stack.pop()
        if (member === undefined) break
        onStack.delete(member)
        component.add(member)
        if (member === node) break
      }
      const selfLoop = (graph.get(node) ?? []).some((e) => e.to === node)
      if (component.size > 1 || selfLoop) components.push(component)
    }
  }
  for (const node of graph.keys()) if (!index.has(node)) visit(node)
  return components.map((component) => {
    const [start] = [...component].sort()
    // breadth-first from start back to start, inside the component
    const previous = new Map<string, ImportEdge>()
    const queue = [start ?? ""]
    while (queue.length > 0) {
      const node = queue.shift() ?? ""
      for (const edge of graph.get(node) ?? []) {
        if (!component.has(edge.to) || previous.has(edge.to)) continue
        previous.set(edge.to, edge)
        if (edge.to === start) queue.length = 0
        else queue.push(edge.to)
      }
    }
    const path: ImportEdge[] = []
    let at = start ?? ""
    do {
      const edge = previous.get(at)
      if (edge === undefined) break
      path.unshift(edge)
      at = edge.from
    } while (at !== start)
    return path
  })
}

/**
 * The folders each folder of `src/` may import (besides itself), lowest layer first. A
 * folder that is not listed may import anything but `cli/`, `library/` and `workflows/`.
 * `library/` (the package's entry points) and `cli/` are the two top layers: nothing
 * imports them, and neither imports the other.
 */
const allowedImports: Readonly<Record<string, readonly string[]>> = {
  internal: [],
  age: ["internal"],
  keys: ["age", "internal"],
  sops: ["age", "internal"],
  agenix: ["age", "internal"],
  policy: ["sops", "age", "internal"],
  system: ["keys", "age", "internal"],
  cloud: ["sops", "age", "internal"],
  host: ["integrations", "policy", "sops", "keys", "agenix", "age", "internal"],
  workflows: ["system", "cloud", "host", "policy", "agenix", "sops", "keys", "age", "internal"],
  library: [
    "workflows",
    "system",
    "integrations",
    "cloud",
    "host",
    "policy",
    "agenix",
    "audit",
    "sops",
    "keys",
    "age",
    "internal",
  ],
}

/** The top folder of a path under `src/` (`src/sops/stores/yaml.ts` → `sops`). */
function layerOf(path: string): string {
  return path.split("/")[1] ?? ""
}

function layerViolations(graph: ReadonlyMap<string, readonly ImportEdge[]>): string[] {
  const problems: string[] = []
  for (const edges of graph.values()) {
    for (const edge of edges) {
      const from = layerOf(edge.from)
      const to = layerOf(edge.to)
      if (from === to) continue
      const allowed = allowedImports[from]
      const ok =
        from === "cli"
          ? to !== "library"
          : allowed === undefined
            ? to !== "cli" && to !== "workflows" && to !== "library"
            : allowed.includes(to)
      if (!ok) {
        problems.push(
          `${edge.from}:${String(edge.line)} imports ${edge.to}, but ${from}/ may import only ${from === "cli" ? "folders other than library/" : allowed === undefined ? "folders other than cli/, library/ and workflows/" : allowed.length === 0 ? "nothing outside itself" : allowed.map((f) => `${f}/`).join(", ")} (docs/architecture.md "Layers"): move the code to the layer that may use both, or pass it in as a parameter`,
        )
      }
    }
  }
  return problems
}

function describeCycle(cycle: readonly ImportEdge[]): string {
  const steps = cycle.map((e) => `${e.from}:${String(e.line)} → ${e.to}`).join(", ")
  return `import cycle: ${steps}; break it by moving what both need into a module of its own that neither imports back (or pass it in, as CliContext.commandTable does for the command table)`
}

const files = sourceFiles("src", [".ts"]).filter((f) => !f.path.endsWith(".test.ts"))

test("src/ has no import cycle (static, type-only, re-exports and import())", () => {
  assert.ok(files.length > 100, `only ${String(files.length)} source files found`)
  const cycles = findCycles(importGraph(files))
  assert.deepEqual(cycles.map(describeCycle), [])
})

/** Imports that resolve to no source file (the graph would silently miss their edges). */
function unresolvedImports(graph: ReadonlyMap<string, readonly ImportEdge[]>): string[] {
  return [...graph.values()]
    .flat()
    .filter((edge) => !graph.has(edge.to))
    .map(
      (edge) =>
        `${edge.from}:${String(edge.line)} imports ${edge.to}, which is not a source file of src/: the checks above cannot follow it`,
    )
}

test("every relative import of src/ resolves to a source file, so the checks see the whole graph", () => {
  assert.deepEqual(unresolvedImports(importGraph(files)), [])
  assert.deepEqual(
    unresolvedImports(
      importGraph([{ path: "src/a/b.ts", text: `import { c } from "../c/gone.js"\n` }]),
    ),
    [
      "src/a/b.ts:1 imports src/c/gone.ts, which is not a source file of src/: the checks above cannot follow it",
    ],
  )
})

test("every folder of src/ imports only the layers below it", () => {
  assert.deepEqual(layerViolations(importGraph(files)), [])
})

test("the checks find a cycle through import() and a forbidden import", () => {
  const graph = importGraph([
    { path: "src/cli/main.ts", text: `const c = () => import("./commands/completion.js")\n` },
    { path: "src/cli/commands/completion.ts", text: `import type { X } from "../main.js"\n` },
    { path: "src/sops/a.ts", text: `import { b } from "../workflows/b.js"\n` },
    { path: "src/workflows/b.ts", text: `export const b = 1\n` },
    { path: "src/host/c.ts", text: `export * from "../library/sops.js"\n` },
    { path: "src/cli/d.ts", text: `import type { E } from "../library/host.js"\n` },
    { path: "src/library/sops.ts", text: `export * from "../workflows/b.js"\n` },
    { path: "src/library/host.ts", text: `export type E = 1\n` },
  ])
  const cycles = findCycles(graph)
  assert.equal(cycles.length, 1)
  assert.match(
    describeCycle(cycles[0] ?? []),
    /src\/cli\/commands\/completion\.ts:1 → src\/cli\/main\.ts/,
  )
  assert.match(
    describeCycle(cycles[0] ?? []),
    /src\/cli\/main\.ts:1 → src\/cli\/commands\/completion\.ts/,
  )
  const problems = layerViolations(graph)
  assert.equal(problems.length, 3, problems.join("\n"))
  assert.match(
    problems[0] ?? "",
    /^src\/sops\/a\.ts:1 imports src\/workflows\/b\.ts, but sops\/ may import only age\/, internal\//,
  )
  assert.match(problems[1] ?? "", /^src\/host\/c\.ts:1 imports src\/library\/sops\.ts, but host\//)
  assert.match(
    problems[2] ?? "",
    /^src\/cli\/d\.ts:1 imports src\/library\/host\.ts, but cli\/ may import only folders other than library\//,
  )
})
