# coffer's Nix library: the logic of the NixOS and home-manager modules as plain functions
# that need only builtins (no nixpkgs), so they can be evaluated and tested anywhere with
# `nix-instantiate --eval --strict --json` (test/nix/).
let
  util = import ./util.nix;
in
{
  inherit util;
  modes = import ./modes.nix { inherit util; };
  sops = import ./sops.nix { inherit util; };
  age = import ./age.nix { inherit util; };
  tailscale = import ./tailscale.nix { inherit util; };
  units = import ./units.nix { inherit util; };
  npm = import ./npm.nix { inherit util; };
}
