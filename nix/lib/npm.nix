# The lock file for nixpkgs' importNpmLock (builtins only).
#
# npm may write package-lock.json without `resolved` URLs (this repository's lock has none),
# and importNpmLock fetches each package from its `resolved` URL, checked against its
# `integrity` hash. This fills in the URL the npm registry serves every version under,
# https://registry.npmjs.org/<name>/-/<name without scope>-<version>.tgz, so that the lock
# file still pins every dependency by its hash.
{ util }:
rec {
  registry = "https://registry.npmjs.org";

  # The package name of a `packages` key: what follows its last "node_modules/".
  nameOf =
    key:
    let
      parts = builtins.split "node_modules/" key;
    in
    util.last parts;

  # The registry tarball URL of a package version.
  tarballUrl =
    name: version:
    let
      base = util.last (util.splitOn "/" name);
    in
    "${registry}/${name}/-/${base}-${version}.tgz";

  # The lock with a `resolved` URL on every registry package that lacks one. Links, the
  # root package and entries without an integrity hash are left as they are.
  withResolved =
    lock:
    lock
    // {
      packages = builtins.mapAttrs (
        key: pkg:
        if key == "" || pkg ? resolved || pkg.link or false || !(pkg ? integrity) || !(pkg ? version) then
          pkg
        else
          pkg // { resolved = tarballUrl (pkg.name or (nameOf key)) pkg.version; }
      ) lock.packages;
    };
}
