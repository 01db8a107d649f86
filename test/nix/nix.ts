/**
 * Running Debian's Nix (`nix-instantiate` of nix-bin 2.8) from the tests of nix/: pure
 * evaluation with `--readonly-mode`, so that Nix paths get their store paths computed
 * without anything being written to /nix/store.
 */
import { spawnSync } from "node:child_process"
import { join } from "node:path"
import type { TestContext } from "node:test"
import { repoRoot } from "../support/cli.js"
import { requireTool } from "../support/tools.js"

/** The repository's root, without a trailing slash (for Nix expressions). */
export const root: string = repoRoot.replace(/\/$/, "")

/** test/nix/ in the source tree (the .nix files are not compiled into dist/). */
export const testNixDir: string = join(root, "test", "nix")

/** Skips (outside CI) or fails (under CI) without nix-instantiate. */
export function requireNix(t: TestContext): boolean {
  return requireTool(t, "nix-instantiate", "nix-bin")
}

/** A failed evaluation: `message` is Nix's error, without its warnings. */
export class NixEvalError extends Error {}

/** Nix's stderr without the warning Debian's nix.conf causes on every run. */
function nixErrors(stderr: string): string {
  return stderr
    .split("\n")
    .filter((line) => !/^warning: the group 'nixbld' specified in 'build-users-group'/.test(line))
    .join("\n")
    .trim()
}

/**
 * Evaluates a Nix expression strictly and returns its JSON value.
 * @param expr a function of `{ root }` (the repository's root as a string), e.g.
 *   `{ root }: (import (/. + root + "/nix/lib")).sops.placeholder "x"`
 * @param args more `--arg NAME EXPR` pairs
 * @throws NixEvalError with Nix's message when the evaluation fails
 */
export function nixEval(expr: string, args: Readonly<Record<string, string>> = {}): unknown {
  const argv = ["--readonly-mode", "--eval", "--strict", "--json", "--argstr", "root", root]
  for (const [name, value] of Object.entries(args)) argv.push("--arg", name, value)
  argv.push("-E", expr)
  const r = spawnSync("nix-instantiate", argv, {
    encoding: "utf8",
    cwd: root,
    timeout: 120_000,
    maxBuffer: 64 * 1024 * 1024,
  })
  if (r.error !== undefined) throw r.error
  if (r.status !== 0) throw new NixEvalError(nixErrors(r.stderr))
  return JSON.parse(r.stdout) as unknown
}

/** `import <repo>/nix/lib` in an expression given `root`. */
export const cofferLib = `(import (/. + root + "/nix/lib"))`

/**
 * Evaluates modules through test/nix/harness.nix (the stand-in lib) and returns what
 * `select` picks from `{ config; options; manifests; failedAssertions; warnings; }`.
 * @param modules Nix expressions of modules (paths such as `${root}/nix/modules`, or
 *   attribute sets), evaluated with `root` in scope
 * @param select a Nix function of the harness's result
 */
export function evalModules(
  modules: readonly string[],
  select: string,
  opts: { storeDir?: string; kind?: "nixos" | "home-manager" } = {},
): unknown {
  const storeDir = opts.storeDir === undefined ? "" : `storeDir = ${JSON.stringify(opts.storeDir)};`
  const kind = `kind = ${JSON.stringify(opts.kind ?? "nixos")};`
  return nixEval(
    `{ root }: import (/. + root + "/test/nix/harness.nix") {
      modules = [ ${modules.map((m) => `(${m})`).join(" ")} ];
      select = ${select};
      ${storeDir} ${kind}
    }`,
  )
}

/** A module path inside the repository, as a Nix expression. */
export function repoPath(relative: string): string {
  return `(/. + root + ${JSON.stringify(`/${relative}`)})`
}
