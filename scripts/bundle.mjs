// Bundles the command line into dist/bundle/ so `coffer` starts fast. Every file sits flat in
// dist/bundle/:
//
//   main.cjs         what bin/* require (bin/package.json makes them CommonJS): a few lines
//                    that require `age-main.cjs` for `coffer age` and `coffer-age`, and
//                    import() `cli-main.js` for everything else
//   age-main.cjs     `coffer age` in one CommonJS file: the dispatcher, the command, and
//                    everything an X25519, SSH or armored decryption needs. CommonJS because
//                    starting Node's ESM loader alone costs a tenth of `node -e 0`, and one
//                    file because each file resolved costs too; modules it imports lazily
//                    are initialised on first use, and node:tty, node:os and node:module
//                    are required on first use
//   age-main.cjs.cache  V8's code cache for it (warmed by a decryption), used by main.cjs
//   vendor-*.cjs     the heavy libraries `age-main.cjs` requires on first use (bcrypt-pbkdf
//                    for encrypted SSH keys, ML-KEM for post-quantum keys)
//   cli-main.js      every other command (ESM), split into chunks loaded when needed
//   chunk-worker.js  the payload worker thread (parallel.ts finds it beside its own file)
//   bulk-worker.js   the updatekeys worker thread
//   source-worker.js the install's worker thread (opens one sops or age file within limits)
//
// A process loads either age-main.cjs or cli-main.js, never both, so the two never share an
// object (an error class, say) that one could test with instanceof against the other's copy.
import { build } from "esbuild"
import { execFileSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { basename, dirname, join, resolve } from "node:path"

const outdir = "dist/bundle"
// Some dependencies are CommonJS and call require(); an ESM file that needs it gets one.
const requireBanner =
  "import { createRequire as __cofferCreateRequire } from 'node:module'; const require = __cofferCreateRequire(import.meta.url);"

/** Lazily imported libraries, bundled on their own for age-main.cjs (which requires them). */
const vendors = [
  { specifier: "bcrypt-pbkdf", out: "vendor-bcrypt-pbkdf" },
  { specifier: "@noble/post-quantum/ml-kem.js", out: "vendor-ml-kem" },
]

/** Built-in modules that age-main.cjs requires when first used (see the "age-only" plugin). */
const lazyBuiltinFilter = /^(node:)?(module|os|tty)$/

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
  // the cloud SDKs stay in node_modules: src/cloud/port.ts imports them only for a file with
  // such keys, and bundling them would make every chunk that might need them larger
  external: ["@aws-sdk/*", "google-auth-library"],
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
      { in: "src/workflows/bulk-worker.ts", out: "bulk-worker" },
    ].filter((p) => existsSync(p.in)),
    splitting: true,
  }),
)

// `coffer age`: one CommonJS file, which bin/* require() without starting the ESM loader;
// other commands' modules are never loaded by this file, and the vendor libraries come from
// their own files, required when first used.
// (import.meta.url computed on first use: loading node:url is start-up time most runs never need)
const ageBanner =
  "const __cofferModule = { get url() { return require('node:url').pathToFileURL(__filename).href } };"
const ageResult = await build({
  ...common,
  entryPoints: [{ in: "src/cli/main.ts", out: "age-main" }],
  format: "cjs",
  outExtension: { ".js": ".cjs" },
  splitting: false,
  banner: { js: ageBanner },
  // the sources find files beside themselves (chunk-worker.js) from import.meta.url
  define: { "import.meta.url": "__cofferModule.url" },
  plugins: [
    {
      name: "age-only",
      setup(b) {
        b.onResolve({ filter: /^\.\/commands\/.*\.js$/ }, (args) => {
          if (
            !args.importer.endsWith("src/cli/command-table.ts") ||
            args.path === "./commands/age.js"
          ) {
            return undefined
          }
          // unreachable: main.cjs sends every other command to cli-main.js
          return { path: "other-command", namespace: "age-only" }
        })
        b.onLoad({ filter: /.*/, namespace: "age-only" }, () => ({
          contents:
            "export function run() { throw new Error('bundling bug: age-main.cjs runs only the age command') }",
          loader: "js",
        }))
        // built-in modules needed only on rare paths (node:tty for prompts) are required on
        // first use of one of their exports, not when the module importing them starts
        b.onResolve({ filter: lazyBuiltinFilter }, (args) =>
          args.namespace === "lazy-builtin"
            ? { path: args.path, external: true }
            : { path: args.path, namespace: "lazy-builtin" },
        )
        b.onLoad({ filter: /.*/, namespace: "lazy-builtin" }, async (args) => {
          const names = Object.keys(await import(args.path)).filter((n) => n !== "default")
          const getters = names.map(
            (n) =>
              `${JSON.stringify(n)}: { get: () => load()[${JSON.stringify(n)}], enumerable: true }`,
          )
          return {
            contents: [
              `let builtin`,
              `const load = () => (builtin ??= require(${JSON.stringify(args.path)}))`,
              `Object.defineProperties(module.exports, { ${getters.join(", ")} })`,
            ].join("\n"),
            loader: "js",
          }
        })
        // a vendor library's import() becomes a require() of its file when first awaited
        for (const vendor of vendors) {
          const filter = new RegExp(`^${vendor.specifier.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}$`)
          b.onResolve({ filter }, () => ({ path: vendor.out, namespace: "vendor" }))
        }
        b.onLoad({ filter: /.*/, namespace: "vendor" }, (args) => ({
          contents: `module.exports = require("./${args.path}.cjs")`,
          loader: "js",
        }))
        b.onResolve({ filter: /^\.\/vendor-.*\.cjs$/ }, (args) => ({
          path: args.path,
          external: true,
        }))
      },
    },
  ],
})
writeOutputs(ageResult)

// The vendor libraries, required by age-main.cjs when a key needs them.
writeOutputs(
  await build({
    ...common,
    entryPoints: vendors.map((v) => ({ in: v.specifier, out: v.out })),
    format: "cjs",
    outExtension: { ".js": ".cjs" },
    banner: {},
    splitting: false,
  }),
)

// The payload worker in one file (it starts on large inputs; workers load it as ESM).
writeOutputs(
  await build({
    ...common,
    entryPoints: [{ in: "src/age/chunk-worker.ts", out: "chunk-worker" }],
    splitting: false,
  }),
)

// The install's source worker in one file (source-pool.ts finds it beside its own chunk).
writeOutputs(
  await build({
    ...common,
    entryPoints: [{ in: "src/host/source-worker.ts", out: "source-worker" }],
    splitting: false,
  }),
)

/** How main.cjs wraps age-main.cjs's source before compiling it, as Node's require() does. */
const commonJsWrapper = ["(function (exports, require, module, __filename, __dirname) { ", "\n});"]

// What bin/coffer, bin/coffer-age and bin/coffer-age-keygen require.
writeFileSync(
  `${outdir}/main.cjs`,
  `// Written by scripts/${basename(import.meta.url)}: \`coffer age\` and \`coffer-age\` run the age
// command's own CommonJS bundle; everything else imports the whole (ESM) command line.
"use strict"

/**
 * Runs the command line and exits the process with its status (src/cli/main.ts run).
 * @param {string} program the executable's name
 * @param {readonly string[]} argv the arguments after the program name
 */
exports.run = function run(program, argv) {
  if (program === "coffer-age" || (program === "coffer" && argv[0] === "age")) {
    let cli
    try {
      cli = loadAgeMain()
    } catch (error) {
      cannotLoad(error)
    }
    cli.run(program, argv)
    return
  }
  import("./cli-main.js").then((cli) => cli.run(program, argv), cannotLoad)
}

/**
 * age-main.cjs, as require() would load it, but compiled with the code cache written beside
 * it by the bundler when that cache was made for this very source.
 */
function loadAgeMain() {
  const fs = require("node:fs")
  const filename = __dirname + "/age-main.cjs"
  let cache
  try {
    cache = fs.readFileSync(filename + ".cache")
  } catch {
    return require("./age-main.cjs")
  }
  const source = fs.readFileSync(filename)
  const cachedData = cache.subarray(20)
  const digest = require("node:crypto").createHash("sha1").update(source).update(cachedData)
  // V8 trusts the cache's bytes: use it only for the source and cache it was written as
  if (!digest.digest().equals(cache.subarray(0, 20))) return require("./age-main.cjs")
  const { Script } = require("node:vm")
  const wrapper = ${JSON.stringify(commonJsWrapper)}
  const script = new Script(wrapper.join(source.toString("utf8")), { filename, cachedData })
  const module = { exports: {} }
  // the bundle requires built-in modules and files beside it, which this require finds too
  script.runInThisContext()(module.exports, require, module, filename, __dirname)
  return module.exports
}

function cannotLoad(error) {
  process.stderr.write(\`coffer: cannot load the command line: \${error?.stack ?? error}\\n\`)
  process.exit(70)
}
`,
)

// V8's code cache for age-main.cjs: compiling 240 kB of JavaScript, and then each function
// the first time it runs, is a noticeable part of `coffer age -d`, and Node 20 caches no
// compiled code for require(). main.cjs compiles the file itself with this cache. V8 puts in
// a cache every function compiled so far, so the cache is written as a real decryption of a
// small file ends (in a child process, with a throwaway key). The file starts with the SHA-1
// of the source and the cache: V8 refuses a cache from another Node version or other flags,
// but trusts the rest of its bytes (a damaged cache can crash it), so main.cjs checks the
// SHA-1 first and compiles from source, as require() would, when it differs.
{
  const work = mkdtempSync(join(tmpdir(), "coffer-bundle-"))
  try {
    const key = join(work, "key.txt")
    const plaintext = join(work, "small")
    const encrypted = join(work, "small.age")
    writeFileSync(plaintext, randomBytes(1024))
    const coffer = (...args) =>
      execFileSync(process.execPath, ["bin/coffer", ...args], { stdio: ["ignore", "pipe", "pipe"] })
    coffer("age-keygen", "-o", key)
    const recipient = coffer("age-keygen", "-y", key).toString().trim()
    coffer("age", "-r", recipient, "-o", encrypted, plaintext)
    const warmUp = `
      const { createHash } = require("node:crypto")
      const { readFileSync, writeFileSync } = require("node:fs")
      const { createRequire } = require("node:module")
      const { dirname } = require("node:path")
      const { Script } = require("node:vm")
      const [filename, cacheFile, ...argv] = process.argv.slice(1)
      const source = readFileSync(filename)
      const script = new Script(${JSON.stringify(commonJsWrapper)}.join(source.toString("utf8")), { filename })
      const module = { exports: {} }
      script.runInThisContext()(module.exports, createRequire(filename), module, filename, dirname(filename))
      process.on("exit", () => {
        const cache = script.createCachedData()
        const digest = createHash("sha1").update(source).update(cache).digest()
        writeFileSync(cacheFile, Buffer.concat([digest, cache]))
      })
      module.exports.run("coffer", argv)`
    execFileSync(
      process.execPath,
      [
        "-e",
        warmUp,
        resolve(outdir, "age-main.cjs"),
        resolve(outdir, "age-main.cjs.cache"),
        ...["age", "-d", "-i", key, "-o", join(work, "decrypted"), encrypted],
      ],
      { stdio: ["ignore", "ignore", "inherit"] },
    )
  } catch (error) {
    // without a cache main.cjs just compiles from source: slower to start, nothing else
    rmSync(`${outdir}/age-main.cjs.cache`, { force: true })
    process.stderr.write(`bundle: no code cache for age-main.cjs: ${error.message}\n`)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}
