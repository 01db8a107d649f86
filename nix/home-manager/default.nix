# homeManagerModules.default: sops-nix's and agenix's home-manager options.
{
  imports = [
    ./sops.nix
    ./age.nix
  ];
}
