/**
 * The build (issue 16 "The product around it"): `npm ci && npm test` builds once, since npm
 * test's `scripts/build.mjs --if-stale` skips a build whose inputs are unchanged
 * (`scripts/build-inputs.mjs`), and npm ci prints no warning about install scripts, since
 * every dependency with one is decided in package.json's `allowScripts`.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { repoRoot, runCommand } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"

interface PackageJson {
  readonly scripts: Readonly<Record<string, string>>
  readonly allowScripts?: Readonly<Record<string, boolean>>
}
interface PackageLock {
  readonly packages: Readonly<Record<string, { readonly hasInstallScript?: boolean }>>
}

const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as PackageJson

type Digest = (root: string) => string

async function digestOf(): Promise<Digest> {
  const url = pathToFileURL(join(repoRoot, "scripts", "build-inputs.mjs")).href
  const module = (await import(url)) as { buildInputsDigest: Digest }
  return module.buildInputsDigest
}

test("npm test builds only when an input changed; npm run build always builds", () => {
  assert.match(pkg.scripts["test"] ?? "", /^node scripts\/build\.mjs --if-stale && /)
  assert.equal(pkg.scripts["build"], "node scripts/build.mjs")
  assert.equal(pkg.scripts["prepare"], "npm run build")
})

test("the inputs' digest follows every source, test and package file, not dist/", async (t) => {
  const digest = await digestOf()
  const root = tmpTree(t, {
    "src/a.ts": "export const a = 1\n",
    "test/b.test.ts": "x\n",
    "bin/coffer": "#!/usr/bin/env node\n",
    "package.json": "{}\n",
    "dist/src/a.js": "old\n",
    "other/notes.txt": "words\n",
  })
  const first = digest(root)
  assert.match(first, /^[0-9a-f]{64}\n$/)
  assert.equal(digest(root), first)
  // what the build does not read
  writeFileSync(join(root, "dist/src/a.js"), "new\n")
  writeFileSync(join(root, "other/notes.txt"), "other words\n")
  assert.equal(digest(root), first)
  const changes: [string, string][] = [
    ["src/a.ts", "export const a = 2\n"], // same size, other content
    ["test/b.test.ts", "y\n"],
    ["bin/coffer", "#!/usr/bin/env nodejs\n"],
    ["package.json", "{ }\n"],
    ["src/deeper/new.ts", "\n"],
  ]
  const seen = new Set([first])
  for (const [file, content] of changes) {
    mkdirSync(join(root, file, ".."), { recursive: true })
    writeFileSync(join(root, file), content)
    const now = digest(root)
    assert.ok(!seen.has(now), `changing ${file} changes the digest`)
    seen.add(now)
  }
})

test("build.mjs --if-stale skips a current dist/ and builds a stale one", async (t) => {
  const digest = await digestOf()
  const root = tmpTree(t, {
    "src/a.ts": "export const a = 1\n",
    "dist/bundle/main.cjs": "",
    "dist/man/coffer.1": "",
  })
  mkdirSync(join(root, "scripts"))
  for (const f of ["build.mjs", "build-inputs.mjs"])
    copyFileSync(join(repoRoot, "scripts", f), join(root, "scripts", f))
  const stamp = join(root, "dist", ".build-inputs.sha256")
  writeFileSync(stamp, digest(root))
  const current = await runCommand(process.execPath, ["scripts/build.mjs", "--if-stale"], {
    cwd: root,
  })
  assert.equal(current.status, 0, current.stderr)
  assert.equal(current.stderr, "build: dist/ is current (nothing it is built from changed)\n")
  writeFileSync(join(root, "src/a.ts"), "export const a = 2\n")
  // stale: it builds, which fails here (no TypeScript in this tree) and drops the stamp
  const stale = await runCommand(process.execPath, ["scripts/build.mjs", "--if-stale"], {
    cwd: root,
  })
  assert.notEqual(stale.status, 0)
  assert.match(stale.stderr, /typescript/)
  assert.equal(existsSync(stamp), false)
})

test("every dependency with an install script is decided in allowScripts (npm ci warns of none)", () => {
  const lock = JSON.parse(readFileSync(join(repoRoot, "package-lock.json"), "utf8")) as PackageLock
  const withScripts = Object.entries(lock.packages)
    .filter(([, entry]) => entry.hasInstallScript === true)
    .map(([path]) => path.replace(/^.*node_modules\//, ""))
  assert.ok(withScripts.includes("esbuild"), "esbuild has an install script")
  for (const name of withScripts)
    assert.equal(typeof pkg.allowScripts?.[name], "boolean", `allowScripts decides ${name}`)
})
