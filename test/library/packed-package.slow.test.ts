/**
 * The published package works as docs/library.md says: the repository, as built, is packed
 * with `npm pack`, and the tarball installed with `npm install` into a fresh project
 * (offline: its runtime dependencies are copied from this repository's `node_modules`).
 * Then, from that project only:
 *
 * - plain Node ESM imports each entry point, uses it, and finds nothing else importable;
 * - `tsc` type-checks a TypeScript consumer against the packed `.d.ts` files (with
 *   `skipLibCheck` off) and refuses a wrong call, so the types are real, not `any`;
 * - every example of docs/library.md and the README is compiled with `tsc`, run, and prints
 *   what the page shows.
 *
 * Needs `npm run build` first (the tarball is made from `dist/`).
 */
import { after, before, test } from "node:test"
import assert from "node:assert/strict"
import { spawnSync, type SpawnSyncReturns } from "node:child_process"
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { repoRoot } from "../support/cli.js"
import { generateX25519Identity } from "../../src/age/index.js"
import { encryptFile } from "../../src/sops/index.js"

/** The public entry points and the names each must export (the stable surface). */
const entryPoints = ["coffer/age", "coffer/sops", "coffer/policy", "coffer/host"] as const

const expectedNames: Readonly<Record<string, readonly string[]>> = {
  "coffer/sops": [
    "AlreadyEncryptedError",
    "BinaryStore",
    "CloudAccessDeniedError",
    "CloudCiphertextError",
    "CloudCredentialsError",
    "CloudKeyDisabledError",
    "CloudKeyError",
    "CloudKeyNotFoundError",
    "CloudServiceError",
    "ConfigError",
    "ConfigNotFoundError",
    "DataKeyError",
    "DocumentLimitError",
    "DotenvStore",
    "EncryptedValueError",
    "IdentityParseError",
    "IniStore",
    "InternalError",
    "IoError",
    "JsonStore",
    "MacMismatchError",
    "MasterKeyError",
    "MetadataError",
    "MissingMacError",
    "NoMatchingRuleError",
    "PathRegexError",
    "PgpError",
    "RecipientParseError",
    "SOPS_VERSION",
    "SelectorError",
    "ShamirError",
    "StoreEmitError",
    "StoreParseError",
    "ToolError",
    "UnknownConfigKeyError",
    "UsageError",
    "ValueAuthenticationError",
    "YamlStore",
    "closeFile",
    "createCloudKeyPort",
    "createGpgPort",
    "decryptDocument",
    "decryptFile",
    "decryptSopsFile",
    "describeSearch",
    "discoverAgeIdentities",
    "encryptDocument",
    "encryptFile",
    "encryptSopsFile",
    "formatForPath",
    "gpgOptionsFromEnv",
    "loadSopsFile",
    "openEncryptedFile",
    "reencryptFile",
    "storeForFormat",
    "storeForPath",
    "systemDiscoveryIo",
    "toPlainValue",
  ],
  "coffer/policy": [
    "AgenixRulesError",
    "CONFIG_FILE_NAME",
    "ConfigError",
    "ConfigNotFoundError",
    "DEFAULT_RULES_FILE",
    "InternalError",
    "NixNotFoundError",
    "NoAgenixRuleError",
    "NoMatchingRuleError",
    "PathRegexError",
    "ToolError",
    "UnknownConfigKeyError",
    "chooseRulesFile",
    "compileGoRegex",
    "describeKeyUpdate",
    "findAgenixRule",
    "keysOfGroup",
    "loadAgenixRules",
    "locateSopsConfig",
    "matchCreationRule",
    "parseAgenixRules",
    "parseSopsConfig",
    "planKeyUpdate",
    "systemRulesIo",
  ],
  "coffer/host": [
    "DEFAULT_LOCK_TIMEOUT_MS",
    "HostFsError",
    "HostKeyError",
    "InstallIncompleteError",
    "InstallLockedError",
    "InternalError",
    "LinkInTheWayError",
    "ManifestError",
    "OwnerLookupError",
    "PersistentFsError",
    "SecretFsMountError",
    "SecretSourceError",
    "TemplateRenderError",
    "ToolError",
    "UnsafePathError",
    "assertComplete",
    "consumerDropInName",
    "consumersOf",
    "defaultSourceLimits",
    "describeChanges",
    "expandRuntimeDir",
    "installManifest",
    "installUnitName",
    "manifestPhases",
    "parseManifest",
    "placeholderFor",
    "planGeneration",
    "planUnits",
    "renderTemplate",
    "restartUnitsOf",
    "secretFormats",
    "systemHostFs",
    "usersInstallUnitName",
    "validateManifest",
  ],
}

/** A code block of a page, what it prints, and where it is (`docs/library.md:12`). */
interface Example {
  readonly code: string
  readonly output: string
  readonly where: string
}

let work = ""
let project = ""
let packedFiles: string[] = []

function run(
  command: string,
  args: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, { cwd, env, encoding: "utf8", timeout: 300_000 })
  if (result.error !== undefined) throw result.error
  return result
}

function ok(result: SpawnSyncReturns<string>, what: string): string {
  assert.equal(result.status, 0, `${what} failed:\n${result.stdout}\n${result.stderr}`)
  return result.stdout
}

/** Copies a package and (recursively) its dependencies from the repository's node_modules. */
function copyDependencies(names: readonly string[], into: string, done: Set<string>): void {
  for (const name of names) {
    if (done.has(name)) continue
    done.add(name)
    const from = join(repoRoot, "node_modules", name)
    assert.ok(existsSync(from), `dependency ${name} is not in node_modules: run npm ci`)
    cpSync(from, join(into, "node_modules", name), { recursive: true, dereference: true })
    const manifest = JSON.parse(readFileSync(join(from, "package.json"), "utf8")) as {
      dependencies?: Record<string, string>
    }
    copyDependencies(Object.keys(manifest.dependencies ?? {}), into, done)
  }
}

const tsc = join(repoRoot, "node_modules", "typescript", "bin", "tsc")

before(() => {
  assert.ok(
    existsSync(join(repoRoot, "dist", "src", "library", "sops.js")),
    "dist/src/library/sops.js is missing: run npm run build",
  )
  work = mkdtempSync(join(tmpdir(), "coffer-packed-"))
  // --ignore-scripts: `prepare` would rebuild dist/ under the running tests
  const packed = JSON.parse(
    ok(
      run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", work], repoRoot),
      "npm pack",
    ),
  ) as { filename: string; files: { path: string }[] }[]
  const [tarball] = packed
  assert.ok(tarball !== undefined)
  packedFiles = tarball.files.map((f) => f.path)

  project = join(work, "consumer")
  mkdirSync(project)
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ name: "consumer", private: true, type: "module" }),
  )
  const own = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
    dependencies: Record<string, string>
  }
  copyDependencies(Object.keys(own.dependencies), project, new Set())
  ok(
    run(
      "npm",
      [
        "install",
        "--offline",
        "--ignore-scripts",
        "--no-audit",
        "--no-fund",
        join(work, tarball.filename),
      ],
      project,
    ),
    "npm install of the tarball",
  )
  // the consumer's own development dependencies, as a TypeScript project would have them
  mkdirSync(join(project, "node_modules", "@types"), { recursive: true })
  symlinkSync(
    join(repoRoot, "node_modules", "@types", "node"),
    join(project, "node_modules", "@types", "node"),
  )
})

after(() => {
  if (work !== "") rmSync(work, { recursive: true, force: true })
})

test("the tarball holds the entry points with their types, and no test file", () => {
  for (const path of [
    "dist/src/age/index.js",
    "dist/src/age/index.d.ts",
    "dist/src/library/sops.js",
    "dist/src/library/sops.d.ts",
    "dist/src/library/policy.js",
    "dist/src/library/policy.d.ts",
    "dist/src/library/host.js",
    "dist/src/library/host.d.ts",
    "bin/coffer",
    "dist/bundle/main.cjs",
  ]) {
    assert.ok(packedFiles.includes(path), `${path} is not in the tarball`)
  }
  const unwanted = packedFiles.filter((p) =>
    /\.test\.|^dist\/test\/|^dist\/bench\/|^src\/|^test\//.test(p),
  )
  assert.deepEqual(unwanted, [], "tests and sources do not belong in the package")
})

test("plain Node ESM imports each entry point, and nothing else", () => {
  writeFileSync(
    join(project, "plain.mjs"),
    `
const out = { names: {}, errors: {}, refused: {} }
const modules = {}
for (const name of ${JSON.stringify(entryPoints)}) {
  modules[name] = await import(name)
  out.names[name] = Object.keys(modules[name]).sort()
}
const { ToolError } = modules["coffer/sops"]
for (const [name, m] of Object.entries(modules)) {
  out.errors[name] = Object.entries(m)
    .filter(([key]) => key.endsWith("Error"))
    .filter(([, value]) => !(typeof value === "function" && value.prototype instanceof Error &&
      (value === ToolError || value.prototype instanceof ToolError)))
    .map(([key]) => key)
}
out.sameToolError = modules["coffer/policy"].ToolError === ToolError &&
  modules["coffer/host"].ToolError === ToolError
for (const deep of ["coffer", "coffer/dist/src/sops/tree.js", "coffer/src/sops/index.js",
                    "coffer/dist/src/workflows/decrypt.js"]) {
  try { await import(deep); out.refused[deep] = "imported" }
  catch (e) { out.refused[deep] = e.code }
}
// a use of each: age round trip, sops in memory, a rule, a manifest
const age = modules["coffer/age"], sops = modules["coffer/sops"]
const identity = age.generateX25519Identity()
const recipient = identity.toRecipient().toString()
const back = await age.decrypt(await age.encrypt(new Uint8Array([1, 2, 3]), [identity.toRecipient()]), [identity])
out.age = [...back]
const encrypted = await sops.encryptFile("a: 1\\n", "yaml", { keyGroups: [{ age: [recipient], pgp: [] }] })
out.sops = await sops.decryptFile(encrypted, "yaml", { identities: [identity] })
try { await sops.decryptFile(encrypted.replace(/mac: ENC\\[AES256_GCM,data:./, "mac: ENC[AES256_GCM,data:A"), "yaml", { identities: [identity] }) }
catch (e) { out.tampered = e.constructor.name + " " + String(e instanceof sops.ToolError) }
const config = modules["coffer/policy"].parseSopsConfig("creation_rules:\\n  - age: " + recipient + "\\n", "/r/.sops.yaml")
out.rule = modules["coffer/policy"].matchCreationRule(config, "/r/x.yaml", "/r").rule.keyGroups[0].age.length
try { modules["coffer/host"].parseManifest("{", "m.json") } catch (e) { out.manifest = e.constructor.name }
console.log(JSON.stringify(out))
`,
  )
  const out = JSON.parse(ok(run(process.execPath, ["plain.mjs"], project), "plain.mjs")) as {
    names: Record<string, string[]>
    errors: Record<string, string[]>
    refused: Record<string, string>
    sameToolError: boolean
    age: number[]
    sops: string
    tampered: string
    rule: number
    manifest: string
  }
  for (const [name, names] of Object.entries(expectedNames)) {
    assert.deepEqual(out.names[name], [...names].sort(), `the exports of ${name}`)
  }
  assert.ok(out.names["coffer/age"]?.includes("decryptStream"))
  assert.deepEqual(out.errors, {
    "coffer/age": [],
    "coffer/sops": [],
    "coffer/policy": [],
    "coffer/host": [],
  })
  assert.equal(out.sameToolError, true)
  assert.deepEqual(out.refused, {
    coffer: "ERR_PACKAGE_PATH_NOT_EXPORTED",
    "coffer/dist/src/sops/tree.js": "ERR_PACKAGE_PATH_NOT_EXPORTED",
    "coffer/src/sops/index.js": "ERR_PACKAGE_PATH_NOT_EXPORTED",
    "coffer/dist/src/workflows/decrypt.js": "ERR_PACKAGE_PATH_NOT_EXPORTED",
  })
  assert.deepEqual(out.age, [1, 2, 3])
  assert.equal(out.sops, "a: 1\n")
  assert.equal(out.tampered, "MacMismatchError true")
  assert.equal(out.rule, 1)
  assert.equal(out.manifest, "ManifestError")
})

/**
 * A tsconfig as a strict consumer writes it; with `skipLibCheck` off, the library's own
 * .d.ts files are checked too.
 */
function writeTsconfig(include: readonly string[], skipLibCheck = false): void {
  writeFileSync(
    join(project, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "nodenext",
        moduleResolution: "nodenext",
        strict: true,
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        skipLibCheck,
        types: ["node"],
        outDir: "out",
        rootDir: ".",
      },
      include,
    }),
  )
}

/** The ```ts examples of docs/library.md and the README, as the tests below find them. */
const examples = ["docs/library.md", "README.md"].flatMap((page) =>
  examplesOf(readFileSync(join(repoRoot, page), "utf8"), page),
)

test("tsc type-checks a consumer and the examples of docs/library.md against the packed .d.ts files, and refuses a wrong call", () => {
  writeFileSync(
    join(project, "consumer.ts"),
    `import { decrypt, type Identity } from "coffer/age"
import { decryptSopsFile, loadSopsFile, MacMismatchError, type Document, type Store, YamlStore } from "coffer/sops"
import { matchCreationRule, type CreationRule, type SopsConfig } from "coffer/policy"
import { parseManifest, planUnits, type Manifest, type UnitPlan } from "coffer/host"

export async function use(identities: readonly Identity[], config: SopsConfig): Promise<number> {
  const bytes: Uint8Array = await decryptSopsFile("a.yaml", { identities, ignoreMac: false })
  const values: unknown = await loadSopsFile("a.yaml", { env: {} })
  const store: Store = new YamlStore()
  const doc: Document = store.parse("a: 1\\n")
  const rule: CreationRule = matchCreationRule(config, "a.yaml", "/").rule
  const manifest: Manifest = parseManifest("{}", "m.json")
  const units: UnitPlan = planUnits(manifest, { cofferPath: "/c", manifestPath: "/m" })
  const plain: Uint8Array = await decrypt(bytes, identities)
  const failed: boolean = new MacMismatchError("x") instanceof Error
  return doc.branches.length + rule.index + units.files.length + plain.length + String(values).length + Number(failed)
}
`,
  )
  assert.ok(examples.length >= 7, `only ${String(examples.length)} examples found`)
  mkdirSync(join(project, "examples"), { recursive: true })
  examples.forEach((example, i) => {
    writeFileSync(join(project, "examples", `example-${String(i)}.ts`), example.code)
  })
  writeTsconfig(["consumer.ts", "examples/*.ts"])
  ok(run(process.execPath, [tsc, "-p", "tsconfig.json"], project), "tsc")

  writeFileSync(
    join(project, "wrong.ts"),
    `import { decryptSopsFile } from "coffer/sops"
export const p = decryptSopsFile("a.yaml", { identities: "AGE-SECRET-KEY-1" })
`,
  )
  writeTsconfig(["wrong.ts"], true)
  const wrong = run(process.execPath, [tsc, "-p", "tsconfig.json", "--noEmit"], project)
  assert.notEqual(wrong.status, 0, "a wrong call type-checked: are the types any?")
  assert.match(wrong.stdout, /wrong\.ts\(2,\d+\): error TS2322/)
})

/** The ```ts examples of a page, each with the ```text block after it. */
function examplesOf(markdown: string, page: string): Example[] {
  const blocks = [...markdown.matchAll(/^```(\w*)\n([\s\S]*?)^```\n/gm)]
  const examples: Example[] = []
  blocks.forEach((block, i) => {
    if (block[1] !== "ts") return
    const line = markdown.slice(0, block.index).split("\n").length
    const next = blocks[i + 1]
    const between =
      next === undefined ? "" : markdown.slice(block.index + block[0].length, next.index)
    assert.ok(
      next !== undefined && next[1] === "text" && between.trim() === "",
      `${page}:${String(line)}: a ts example must be followed by a text block of what it prints`,
    )
    examples.push({ code: block[2] ?? "", output: next[2] ?? "", where: `${page}:${String(line)}` })
  })
  return examples
}

test("every example of docs/library.md prints what the page shows", async () => {
  assert.ok(
    existsSync(join(project, "out", "examples", "example-0.js")),
    "the examples were not compiled (see the test before)",
  )

  // the directory the examples run in (docs/library.md, before "coffer/sops")
  const identity = generateX25519Identity()
  const recipient = identity.toRecipient().toString()
  const fixture = join(work, "fixture")
  mkdirSync(join(fixture, "secrets"), { recursive: true })
  writeFileSync(join(fixture, "keys.txt"), `# test key\n${identity.encode()}\n`, { mode: 0o600 })
  writeFileSync(
    join(fixture, ".sops.yaml"),
    `creation_rules:\n  - path_regex: ^secrets/.*\\.yaml$\n    age: ${recipient}\n`,
  )
  writeFileSync(
    join(fixture, "secrets", "app.yaml"),
    await encryptFile("db:\n    password: s3cret\n    port: 5432\n", "yaml", {
      keyGroups: [{ age: [recipient], pgp: [] }],
    }),
  )
  const vector = JSON.parse(
    readFileSync(join(repoRoot, "test", "vectors", "host", "sops-nix-manifest.json"), "utf8"),
  ) as { secrets: unknown[]; templates: unknown[] }
  writeFileSync(
    join(fixture, "manifest.json"),
    JSON.stringify({ ...vector, secrets: vector.secrets.slice(0, 1), templates: [] }),
  )
  const env: NodeJS.ProcessEnv = {
    PATH: process.env["PATH"],
    HOME: fixture,
    SOPS_AGE_KEY_FILE: "keys.txt",
  }
  examples.forEach((example, i) => {
    const cwd = join(work, `run-${String(i)}`)
    cpSync(fixture, cwd, { recursive: true })
    const result = run(
      process.execPath,
      [join(project, "out", "examples", `example-${String(i)}.js`)],
      cwd,
      env,
    )
    const where = example.where
    assert.equal(result.status, 0, `${where}: the example failed:\n${result.stderr}`)
    assert.equal(result.stdout, example.output, `${where}: the example printed something else`)
    assert.equal(result.stderr, "", `${where}: the example wrote to stderr`)
  })
})
