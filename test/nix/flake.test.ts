/**
 * flake.nix's outputs, evaluated with a stand-in for nixpkgs (no nixpkgs can be fetched
 * here): the package is built from this repository by buildNpmPackage with every
 * dependency from package-lock.json, the overlay adds it as pkgs.coffer, and the modules
 * switching users import are there. The build itself, from those sources:
 * package-build.slow.test.ts.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { nixEval, requireNix, root } from "./nix.js"

const evaluation = `{ root }: let
  flake = import (/. + root + "/flake.nix");
  standIn = import (/. + root + "/test/nix/stand-in-lib.nix");
  genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
  lib = standIn // {
    inherit genAttrs;
    importJSON = p: builtins.fromJSON (builtins.readFile p);
    fileset = { unions = xs: xs; toSource = { root, fileset }: { root = toString root; files = map toString fileset; }; };
    licenses.mit = "MIT"; platforms.linux = [ "x86_64-linux" "aarch64-linux" ];
  };
  pkgsFor = system: let pkgs = {
    inherit lib;
    stdenv.hostPlatform.system = system;
    callPackage = f: args: let fn = import f; in fn (builtins.intersectAttrs (builtins.functionArgs fn) (pkgs // args));
    buildNpmPackage = attrs: { type = "derivation"; inherit system attrs; };
    importNpmLock = { __functor = _: args: { lockArgs = args; }; npmConfigHook = "importNpmLock.npmConfigHook"; };
    nodejs = "nodejs";
    nixfmt-rfc-style = "nixfmt";
  }; in pkgs;
  nixpkgs = { inherit lib; legacyPackages = genAttrs [ "x86_64-linux" "aarch64-linux" ] pkgsFor; };
  self = flake.outputs { inherit self nixpkgs; };
  pkg = self.packages.x86_64-linux.default;
  lock = pkg.attrs.npmDeps.lockArgs.packageLock;
in {
  outputs = builtins.attrNames self;
  systems = builtins.attrNames self.packages;
  packages = builtins.attrNames self.packages.x86_64-linux;
  sameAsCoffer = self.packages.x86_64-linux.coffer == pkg;
  inherit (pkg.attrs) pname version npmBuildScript npmConfigHook nodejs;
  inherit (pkg.attrs.meta) license mainProgram;
  src = pkg.attrs.src;
  npmRoot = toString pkg.attrs.npmDeps.lockArgs.npmRoot;
  packageName = pkg.attrs.npmDeps.lockArgs.package.name;
  unresolved = builtins.filter (k: k != "" && !(lock.packages.\${k} ? resolved)) (builtins.attrNames lock.packages);
  overlay = (self.overlays.default (pkgsFor "aarch64-linux") { }).coffer.system;
  nixosModules = builtins.mapAttrs (_: toString) self.nixosModules;
  homeManagerModules = builtins.mapAttrs (_: toString) self.homeManagerModules;
  lib = builtins.attrNames self.lib;
}`

test("flake.nix: packages, overlay, modules and lib", (t) => {
  if (!requireNix(t)) return
  const got = nixEval(evaluation) as Record<string, unknown>
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }
  assert.deepEqual(got["outputs"], [
    "formatter",
    "homeManagerModules",
    "lib",
    "nixosModules",
    "overlays",
    "packages",
  ])
  assert.deepEqual(got["systems"], ["aarch64-linux", "x86_64-linux"])
  assert.deepEqual(got["packages"], ["coffer", "default"])
  assert.equal(got["sameAsCoffer"], true)
  assert.equal(got["pname"], "coffer")
  assert.equal(got["version"], pkg.version)
  assert.equal(got["npmBuildScript"], "build")
  assert.equal(got["npmConfigHook"], "importNpmLock.npmConfigHook")
  assert.equal(got["mainProgram"], "coffer")
  assert.equal(got["license"], "MIT")
  assert.equal(got["npmRoot"], root)
  assert.equal(got["packageName"], "coffer")
  // every dependency is fetched by URL and checked against the lock file's hash
  assert.deepEqual(got["unresolved"], [])
  // the build's sources: what `npm run build` reads, nothing local (node_modules, dist, .peers)
  const src = got["src"] as { root: string; files: string[] }
  assert.equal(src.root, root)
  assert.deepEqual(
    src.files.map((f) => f.slice(root.length + 1)),
    [
      "package.json",
      "package-lock.json",
      "tsconfig.json",
      "bin",
      "scripts",
      "src",
      "test/support",
      "LICENSE",
      "README.md",
    ],
  )
  for (const f of src.files) assert.ok(existsSync(f), f)
  assert.equal(got["overlay"], "aarch64-linux")
  const modules = got["nixosModules"] as Record<string, string>
  assert.deepEqual(Object.keys(modules).sort(), ["age", "default", "sops", "tailscale"])
  const home = got["homeManagerModules"] as Record<string, string>
  assert.deepEqual(Object.keys(home).sort(), ["age", "default", "sops"])
  for (const path of [...Object.values(modules), ...Object.values(home)])
    assert.ok(existsSync(path), path)
  assert.deepEqual(got["lib"], ["age", "modes", "npm", "sops", "tailscale", "units", "util"])
})
