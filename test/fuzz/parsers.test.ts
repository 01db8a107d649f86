/**
 * A bounded mutation fuzzer over coffer's parsers of untrusted input (issue 18 "A fuzzer that
 * stays"): the age header, armor and whole-file decryption (with the vector's own identity,
 * so mutations reach the MAC and the payload), age recipient and identity strings, the sops
 * stores (plaintext and encrypted, with their metadata) and `.sops.yaml`. Inputs are the
 * repository's vectors (test/vectors/age, test/vectors/sops) mutated by fast-check: bytes
 * flipped, inserted, deleted, slices duplicated or moved, the file cut. Every input must give
 * a result or one of the documented error classes (a `ToolError` that is not an
 * `InternalError`); a TypeError, RangeError, stack overflow or anything else is a finding.
 *
 * Budget: COFFER_FUZZ_RUNS inputs per target (CI: 150); `npm run fuzz` runs 5,000 and
 * prints the seed, so a finding replays with COFFER_FUZZ_SEED.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync, readdirSync, statSync } from "node:fs"
import { join } from "node:path"
import fc from "fast-check"
import { repoRoot } from "../support/cli.js"
import { decodeArmor } from "../../src/age/armor.js"
import { decrypt } from "../../src/age/decrypt.js"
import { parseHeader } from "../../src/age/header.js"
import { parseIdentity, parseRecipient } from "../../src/age/keyfile.js"
import { InternalError, ToolError } from "../../src/internal/errors.js"
import { parseSopsConfig } from "../../src/policy/config.js"
import { storeForFormat } from "../../src/sops/stores/index.js"
import { parsePlaintext } from "../../src/sops/stores/store.js"

const runs = Number(process.env["COFFER_FUZZ_RUNS"] ?? "150")
const seedText = process.env["COFFER_FUZZ_SEED"]
const seed = seedText === undefined ? Date.now() : Number(seedText)

function settings(name: string): { numRuns: number; seed: number } {
  if (process.env["COFFER_FUZZ_VERBOSE"] !== undefined) {
    process.stderr.write(`fuzz ${name}: ${String(runs)} runs, COFFER_FUZZ_SEED=${String(seed)}\n`)
  }
  return { numRuns: runs, seed }
}

/** One edit of a byte string. */
type Mutation =
  | { kind: "flip"; at: number; value: number }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "delete"; at: number; length: number }
  | { kind: "duplicate"; at: number; length: number; to: number }
  | { kind: "cut"; at: number }

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant("flip" as const),
    at: fc.nat(),
    value: fc.integer({ min: 0, max: 255 }),
  }),
  fc.record({
    kind: fc.constant("insert" as const),
    at: fc.nat(),
    bytes: fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 8 }),
      // the bytes that matter to these grammars
      fc.constantFrom(
        ..."\n -->:[]{}&*\"'=#\\ \t\r".split("").map((c) => new TextEncoder().encode(c)),
      ),
    ),
  }),
  fc.record({
    kind: fc.constant("delete" as const),
    at: fc.nat(),
    length: fc.integer({ min: 1, max: 64 }),
  }),
  fc.record({
    kind: fc.constant("duplicate" as const),
    at: fc.nat(),
    length: fc.integer({ min: 1, max: 256 }),
    to: fc.nat(),
  }),
  fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
)

function mutate(input: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let bytes = input
  for (const m of mutations) {
    const n = bytes.length
    const at = n === 0 ? 0 : m.at % (n + 1)
    switch (m.kind) {
      case "flip":
        if (n === 0) break
        bytes = bytes.slice()
        bytes[at % n] = m.value
        break
      case "insert":
        bytes = concat(bytes.subarray(0, at), m.bytes, bytes.subarray(at))
        break
      case "delete":
        bytes = concat(bytes.subarray(0, at), bytes.subarray(at + m.length))
        break
      case "duplicate": {
        const slice = bytes.subarray(at, at + m.length)
        const to = m.to % (n + 1)
        bytes = concat(bytes.subarray(0, to), slice, bytes.subarray(to))
        break
      }
      case "cut":
        bytes = bytes.subarray(0, at)
        break
    }
  }
  return bytes
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** A documented outcome: anything but an unexpected exception. */
function assertDocumented(error: unknown, input: Uint8Array): void {
  if (error instanceof ToolError && !(error instanceof InternalError)) return
  const preview = Buffer.from(input.subarray(0, 400)).toString("latin1")
  assert.fail(
    `undocumented failure ${String(error)}\n${(error as Error).stack ?? ""}\non ${JSON.stringify(preview)}`,
  )
}

function files(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...files(path))
    else out.push(path)
  }
  return out
}

interface AgeSeed {
  readonly file: Uint8Array
  readonly identity: string | undefined
}

/** The age vectors: `key: value` lines, a blank line, the file. */
function ageSeeds(): AgeSeed[] {
  const seeds: AgeSeed[] = []
  for (const path of files(join(repoRoot, "test/vectors/age"))) {
    const bytes = readFileSync(path)
    const end = bytes.indexOf("\n\n")
    if (end < 0 || !bytes.subarray(0, 8).toString().startsWith("expect:")) continue
    const head = bytes.subarray(0, end).toString("utf8")
    const identity = /^identity: (AGE-SECRET-KEY-1\w+)$/m.exec(head)?.[1]
    seeds.push({ file: new Uint8Array(bytes.subarray(end + 2)), identity })
  }
  return seeds
}

const sopsSuffixes: Readonly<Record<string, string>> = {
  ".yaml": "yaml",
  ".yml": "yaml",
  ".json": "json",
  ".env": "dotenv",
  ".ini": "ini",
}

/** The sops vectors: every YAML, JSON, dotenv and INI file (plaintext and encrypted). */
function sopsSeeds(): { format: string; bytes: Uint8Array }[] {
  const seeds: { format: string; bytes: Uint8Array }[] = []
  for (const path of files(join(repoRoot, "test/vectors/sops"))) {
    const suffix = /\.[a-z]+$/.exec(path)?.[0] ?? ""
    const format = sopsSuffixes[suffix]
    if (format === undefined || path.endsWith(".expected.json")) continue
    if (statSync(path).size > 64 * 1024) continue
    seeds.push({ format, bytes: new Uint8Array(readFileSync(path)) })
  }
  return seeds
}

test("age: mutated vectors give a header, a plaintext or a documented error", async () => {
  const seeds = ageSeeds()
  assert.ok(seeds.length > 50, `only ${String(seeds.length)} age vectors`)
  const identities = new Map<string, Awaited<ReturnType<typeof parseIdentity>>>()
  for (const s of seeds) {
    if (s.identity !== undefined && !identities.has(s.identity)) {
      identities.set(s.identity, await parseIdentity(s.identity))
    }
  }
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: seeds.length - 1 }),
      fc.array(mutation, { minLength: 1, maxLength: 6 }),
      async (index, mutations) => {
        const s = seeds[index] ?? assert.fail()
        const input = mutate(s.file, mutations)
        try {
          parseHeader(input)
        } catch (error) {
          assertDocumented(error, input)
        }
        try {
          decodeArmor(input)
        } catch (error) {
          assertDocumented(error, input)
        }
        const identity = s.identity === undefined ? undefined : identities.get(s.identity)
        try {
          await decrypt(input, identity === undefined ? [] : [identity])
        } catch (error) {
          assertDocumented(error, input)
        }
      },
    ),
    settings("age"),
  )
})

test("age: mutated recipient and identity strings parse or give a documented error", async () => {
  const strings = [
    "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
    "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN coffer",
  ].map((s) => new TextEncoder().encode(s))
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...strings),
      fc.array(mutation, { minLength: 1, maxLength: 4 }),
      async (seedBytes, mutations) => {
        const input = mutate(seedBytes, mutations)
        const text = Buffer.from(input).toString("latin1")
        for (const parse of [parseRecipient, parseIdentity]) {
          try {
            await parse(text)
          } catch (error) {
            assertDocumented(error, input)
          }
        }
      },
    ),
    settings("age keys"),
  )
})

test("sops stores: mutated documents parse or give a documented error", () => {
  const seeds = sopsSeeds()
  assert.ok(seeds.length > 20, `only ${String(seeds.length)} sops vectors`)
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: seeds.length - 1 }),
      fc.array(mutation, { minLength: 1, maxLength: 6 }),
      fc.constantFrom("yaml", "json", "dotenv", "ini", "binary"),
      (index, mutations, otherFormat) => {
        const s = seeds[index] ?? assert.fail()
        const input = mutate(s.bytes, mutations)
        const text = Buffer.from(input).toString("utf8")
        for (const format of [s.format, otherFormat]) {
          const store = storeForFormat(format)
          try {
            parsePlaintext(store, input)
          } catch (error) {
            assertDocumented(error, input)
          }
          try {
            store.parseEncrypted(text)
          } catch (error) {
            assertDocumented(error, input)
          }
        }
      },
    ),
    settings("sops stores"),
  )
})

test(".sops.yaml: mutated configurations parse or give a documented error", () => {
  const configs = files(join(repoRoot, "test/vectors/sops"))
    .filter((p) => p.endsWith(".sops.yaml"))
    .map((p) => new Uint8Array(readFileSync(p)))
  configs.push(
    new TextEncoder().encode(
      "creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    key_groups:\n      - age: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]\n        pgp: []\n    shamir_threshold: 1\nstores:\n  yaml:\n    indent: 4\n",
    ),
  )
  fc.assert(
    fc.property(
      fc.constantFrom(...configs),
      fc.array(mutation, { minLength: 1, maxLength: 6 }),
      (seedBytes, mutations) => {
        const input = mutate(seedBytes, mutations)
        try {
          parseSopsConfig(Buffer.from(input).toString("utf8"), "/repo/.sops.yaml")
        } catch (error) {
          assertDocumented(error, input)
        }
      },
    ),
    settings(".sops.yaml"),
  )
})
