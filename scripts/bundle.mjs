// Bundles the command line into dist/bundle/ so `coffer` starts fast. Every file sits flat in
// dist/bundle/:
//
//   main.js          what bin/* import: a few lines that load `age-main.js` for `coffer age`
//                    and `coffer-age`, and `cli-main.js` for everything else
//   age-main.js      `coffer age` in one file: the dispatcher, the command, and everything an
//                    X25519, SSH or armored decryption needs (Node's ESM loader pays for each
//                    file it resolves, so the common path must not be split into many)
//   vendor-*.js      the heavy libraries `age-main.js` imports lazily (bcrypt-pbkdf for
//                    encrypted SSH keys, ML-KEM for post-quantum keys)
//   cli-main.js      every other command, split into chunks loaded when a command needs them
//   chunk-worker.js  the payload worker thread (parallel.ts finds it beside its own file)
//   bulk-worker.js   the updatekeys worker thread
//
// A process loads either age-main.js or cli-main.js, never both, so the two never share an
// object (an error class, say) that one could test with instanceof against the other's copy.
import { build } from "esbuild"
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs"
import { basename, dirname } from "node:path"

const outdir = "dist/bundle"
// Some dependencies are CommonJS and call require(); an ESM file that needs it gets one.
const requireBanner =
  "import { createRequire as __cofferCreateRequire } from 'node:module'; const require = __cofferCreateRequire(import.meta.url);"

/** Lazily imported libraries, bundled on their own for age-main.js (which keeps the import). */
const vendors = [
  { specifier: "bcrypt-pbkdf", out: "vendor-bcrypt-pbkdf" },
  { specifier: "@noble/post-quantum/ml-kem.js", out: "vendor-ml-kem" },
]

/** Built-in modules that only lazily loaded parts of age-main.js use (plugins run children). */
const lazyBuiltinFilter = /^(node:)?child_process$/

const common = {
  outdir,
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: false,
  minify: false,
  legalComments: "inline",
  logLevel: "warning",
  write: false,
  banner: { js: requireBanner },
}

/** Writes esbuild's outputs, without the require() banner where nothing calls require. */
function writeOutputs(result) {
  for (const file of result.outputFiles) {
    let text = file.text
    const body = text.slice(requireBanner.length)
    if (text.startsWith(requireBanner) && !/\brequire\b/.test(body)) {
      text = body.replace(/^\n/, "")
    }
    mkdirSync(dirname(file.path), { recursive: true })
    writeFileSync(file.path, text)
  }
}

// Start clean: split chunks have content hashes in their names, so old ones would pile up.
rmSync(outdir, { recursive: true, force: true })

// Every command but `age`, split so that each command loads only what it needs.
writeOutputs(
  await build({
    ...common,
    entryPoints: [
      { in: "src/cli/main.ts", out: "cli-main" },
      { in: "src/cli/bulk-worker.ts", out: "bulk-worker" },
    ].filter((p) => existsSync(p.in)),
    splitting: true,
  }),
)

// `coffer age`: one file; other commands' modules are never loaded by this file, and the
// vendor libraries come from their own files.
writeOutputs(
  await build({
    ...common,
    entryPoints: [{ in: "src/cli/main.ts", out: "age-main" }],
    splitting: false,
    plugins: [
      {
        name: "age-only",
        setup(b) {
          b.onResolve({ filter: /^\.\/commands\/.*\.js$/ }, (args) => {
            if (!args.importer.endsWith("src/cli/main.ts") || args.path === "./commands/age.js") {
              return undefined
            }
            // unreachable: main.js sends every other command to cli-main.js
            return { path: "other-command", namespace: "age-only" }
          })
          b.onLoad({ filter: /.*/, namespace: "age-only" }, () => ({
            contents:
              "export function run() { throw new Error('bundling bug: age-main.js runs only the age command') }",
            loader: "js",
          }))
          // ESM imports of built-in modules are hoisted to the top of a single-file bundle, so
          // these (used only by lazily loaded modules) are required when their importer runs
          b.onResolve({ filter: lazyBuiltinFilter }, (args) => ({
            path: args.path,
            namespace: "lazy-builtin",
          }))
          b.onLoad({ filter: /.*/, namespace: "lazy-builtin" }, async (args) => {
            const names = Object.keys(await import(args.path)).filter(
              (name) => name !== "default" && /^[A-Za-z_$][\w$]*$/.test(name),
            )
            return {
              contents: [
                `import { createRequire } from "node:module"`,
                `const builtin = createRequire(import.meta.url)(${JSON.stringify(args.path)})`,
                `export const { ${names.join(", ")} } = builtin`,
                `export default builtin`,
              ].join("\n"),
              loader: "js",
            }
          })
          for (const vendor of vendors) {
            const filter = new RegExp(`^${vendor.specifier.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}$`)
            b.onResolve({ filter }, () => ({ path: `./${vendor.out}.js`, external: true }))
          }
        },
      },
    ],
  }),
)

// The vendor libraries, and the payload worker in one file (it starts on large inputs).
writeOutputs(
  await build({
    ...common,
    entryPoints: [
      ...vendors.map((v) => ({ in: v.specifier, out: v.out })),
      { in: "src/age/chunk-worker.ts", out: "chunk-worker" },
    ],
    splitting: false,
  }),
)

// What bin/coffer, bin/coffer-age and bin/coffer-age-keygen import.
writeFileSync(
  `${outdir}/main.js`,
  `// Written by scripts/${basename(import.meta.url)}: \`coffer age\` and \`coffer-age\` load the age
// command's own bundle, everything else the whole command line.
/**
 * Runs the command line and exits the process with its status (src/cli/main.ts run).
 * @param {string} program the executable's name
 * @param {readonly string[]} argv the arguments after the program name
 */
export function run(program, argv) {
  const age = program === "coffer-age" || (program === "coffer" && argv[0] === "age")
  import(age ? "./age-main.js" : "./cli-main.js").then(
    (cli) => cli.run(program, argv),
    (error) => {
      process.stderr.write(\`coffer: cannot load the command line: \${error?.stack ?? error}\\n\`)
      process.exit(70)
    },
  )
}
`,
)
