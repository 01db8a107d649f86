{
  description = "coffer: secrets encrypted in git, delivered to machines (age and sops compatible)";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forEachSystem = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      packages = forEachSystem (pkgs: rec {
        coffer = pkgs.callPackage ./nix/package.nix { };
        default = coffer;
      });

      overlays.default = final: _prev: { coffer = final.callPackage ./nix/package.nix { }; };

      # Switching from sops-nix or agenix is one changed import:
      #   sops-nix.nixosModules.sops  ->  coffer.nixosModules.sops
      #   agenix.nixosModules.default ->  coffer.nixosModules.age
      # The modules build coffer with the configuration's own nixpkgs (pkgs.coffer when
      # overlays.default is applied); services.coffer.package chooses another.
      nixosModules = {
        sops = ./nix/modules/sops.nix;
        age = ./nix/modules/age.nix;
        tailscale = ./nix/modules/tailscale.nix;
        default = ./nix/modules;
      };

      homeManagerModules = {
        sops = ./nix/home-manager/sops.nix;
        age = ./nix/home-manager/age.nix;
        default = ./nix/home-manager;
      };

      # The module logic, as plain functions of builtins (nix/lib).
      lib = import ./nix/lib;

      formatter = forEachSystem (pkgs: pkgs.nixfmt-rfc-style);
    };
}
