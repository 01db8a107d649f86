// Bundles the command line into dist/bundle/ so `coffer` starts fast: one small entry file,
// with rarely used parts (post-quantum, plugins, SSH key decryption) split into chunks
// that load only when a command needs them.
import { build } from "esbuild"
import { existsSync, rmSync } from "node:fs"

// Named outputs keep every file flat in dist/bundle/ (bin/coffer imports dist/bundle/main.js;
// parallel.ts finds chunk-worker.js beside its own chunk).
const entryPoints = [
  { in: "src/cli/main.ts", out: "main" },
  { in: "src/age/chunk-worker.ts", out: "chunk-worker" },
  { in: "src/cli/bulk-worker.ts", out: "bulk-worker" },
].filter((p) => existsSync(p.in))

// Start clean: split chunks have content hashes in their names, so old ones would pile up.
rmSync("dist/bundle", { recursive: true, force: true })

await build({
  entryPoints,
  outdir: "dist/bundle",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: false,
  minify: false,
  legalComments: "inline",
  logLevel: "warning",
  banner: {
    // Some dependencies are CommonJS and call require(); give the ESM bundle one.
    js: "import { createRequire as __cofferCreateRequire } from 'node:module'; const require = __cofferCreateRequire(import.meta.url);",
  },
})
