# coffer, built from this repository with nixpkgs' npm builder. Every dependency is fetched
# by the integrity hash package-lock.json pins (importNpmLock; nix/lib/npm.nix adds the
# registry URLs the lock file leaves out), so there is no separate dependency hash to keep
# up to date.
{
  lib,
  buildNpmPackage,
  importNpmLock,
  nodejs,
}:
let
  cofferLib = import ./lib;
  root = ../.;
  package = lib.importJSON (root + "/package.json");
in
buildNpmPackage {
  pname = "coffer";
  inherit (package) version;
  inherit nodejs;

  # What the build reads: not node_modules, dist, .peers or the tests' vectors. tsc
  # compiles src/ with its unit tests, which import test/support/.
  src = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions [
      (root + "/package.json")
      (root + "/package-lock.json")
      (root + "/tsconfig.json")
      (root + "/bin")
      (root + "/scripts")
      (root + "/src")
      (root + "/test/support")
      (root + "/LICENSE")
      (root + "/README.md")
    ];
  };

  npmDeps = importNpmLock {
    npmRoot = root;
    inherit package;
    packageLock = cofferLib.npm.withResolved (lib.importJSON (root + "/package-lock.json"));
  };
  npmConfigHook = importNpmLock.npmConfigHook;

  # `npm run build`: tsc, then the bundle in dist/bundle (which bin/* load).
  npmBuildScript = "build";
  # The install step's `npm pack` would run the `prepare` script (the build) again.
  npmPackFlags = [ "--ignore-scripts" ];

  meta = {
    description = package.description;
    license = lib.licenses.mit;
    mainProgram = "coffer";
    platforms = lib.platforms.linux;
  };
}
