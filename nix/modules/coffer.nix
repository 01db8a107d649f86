# What coffer's NixOS modules share: the coffer package.
{
  lib,
  pkgs,
  ...
}:
{
  options.services.coffer.extraManifest = {
    sops = lib.mkOption {
      type = lib.types.attrsOf lib.types.anything;
      default = { };
      internal = true;
      description = "Fields added to the sops manifest (the `tailscale` section).";
    };
    age = lib.mkOption {
      type = lib.types.attrsOf lib.types.anything;
      default = { };
      internal = true;
      description = "Fields added to the agenix manifest (the `tailscale` section).";
    };
  };

  options.services.coffer.package = (import ./options.nix { inherit lib; }).cofferPackage pkgs ''
    The coffer package whose `coffer install` installs the secrets of `sops.secrets`,
    `age.secrets` and `services.coffer.tailscale`.
  '';
}
