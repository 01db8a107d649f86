# nixosModules.default: sops-nix's options, agenix's options and services.coffer.tailscale.
{
  imports = [
    ./sops.nix
    ./age.nix
    ./tailscale.nix
  ];
}
