/**
 * Every .nix file of the repository parses (`nix-instantiate --parse`, Debian's Nix 2.8),
 * and evaluates to what its kind of file must be: a function (modules, packages, the
 * harness) or an attribute set (nix/lib, flake.nix).
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { spawnSync } from "node:child_process"
import { readdirSync } from "node:fs"
import { join, relative } from "node:path"
import { tmpTree } from "../support/tmp.js"
import { nixEval, requireNix, root } from "./nix.js"

const skipped = new Set(["node_modules", "dist", ".git", ".peers", "bench"])

function nixFiles(dir: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (skipped.has(entry.name)) continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...nixFiles(path))
    else if (entry.isFile() && entry.name.endsWith(".nix")) out.push(path)
  }
  return out.sort()
}

function parse(path: string): { status: number | null; stderr: string } {
  const r = spawnSync("nix-instantiate", ["--parse", path], { encoding: "utf8" })
  return { status: r.status, stderr: r.stderr }
}

test("every .nix file parses", (t) => {
  if (!requireNix(t)) return
  const files = nixFiles(root)
  const names = files.map((f) => relative(root, f))
  for (const expected of [
    "flake.nix",
    "nix/lib/default.nix",
    "nix/modules/sops.nix",
    "nix/package.nix",
  ]) {
    assert.ok(names.includes(expected), `${expected} is found`)
  }
  for (const file of files) {
    const r = parse(file)
    assert.equal(r.status, 0, `${relative(root, file)}: ${r.stderr}`)
  }
})

test("a syntax error is caught, with its place", (t) => {
  if (!requireNix(t)) return
  const dir = tmpTree(t, { "bad.nix": "{ a = 1;\n  b = ; }\n" })
  const r = parse(join(dir, "bad.nix"))
  assert.equal(r.status, 1)
  assert.match(r.stderr, /syntax error.*bad\.nix:2/s)
})

test("nix/lib and every module file import as what they are", (t) => {
  if (!requireNix(t)) return
  const kinds = nixEval(`{ root }: let
      f = p: builtins.typeOf (import (/. + (root + "/" + p)));
    in {
      lib = f "nix/lib";
      flake = f "flake.nix";
      package = f "nix/package.nix";
      modules = map f [ "nix/modules" "nix/modules/sops.nix" "nix/modules/age.nix" "nix/modules/tailscale.nix" "nix/modules/coffer.nix" ];
      lib-files = builtins.attrNames (import (/. + root + "/nix/lib"));
    }`)
  assert.deepEqual(kinds, {
    lib: "set",
    flake: "set",
    package: "lambda",
    modules: ["set", "lambda", "lambda", "lambda", "lambda"],
    "lib-files": ["age", "modes", "npm", "sops", "tailscale", "units", "util"],
  })
})
