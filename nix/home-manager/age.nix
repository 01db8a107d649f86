# homeManagerModules.age: agenix's home-manager options (`age.*` for one user), installed
# by `coffer install` from the user's systemd service agenix.service.
#
# As agenix does (modules/age-home.nix), secrets go under $XDG_RUNTIME_DIR/agenix.d in
# generations linked from $XDG_RUNTIME_DIR/agenix, decrypted with the user's SSH keys; no
# mount and no owners. Unlike agenix, the service runs again on every home-manager switch.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption types;
  cofferLib = import ../lib;
  ageLib = cofferLib.age;
  cfg = config.age;
  home = config.home.homeDirectory;
  runtime = "\${XDG_RUNTIME_DIR}";

  opts = import ../modules/options.nix { inherit lib; };

  secretType = types.submodule (
    { name, config, ... }:
    {
      options = opts.ageSecret { inherit cfg name config; };
    }
  );

  # agenix's age.package is the age that decrypts (people set it to rage, or to a wrapper
  # with plugins); coffer decrypts by itself, so any package that is not coffer is taken as
  # agenix's and coffer itself runs (with a warning).
  nameOf = p: p.pname or (builtins.parseDrvName (p.name or "")).name;
  agePackageIsCoffer = nameOf cfg.package == "coffer";
  coffer = if agePackageIsCoffer then cfg.package else pkgs.coffer or (pkgs.callPackage ../package.nix { });

  manifestValue = ageLib.userManifest { inherit cfg; };
  manifest = pkgs.writeTextFile {
    name = "agenix-manifest.json";
    text = builtins.toJSON manifestValue;
    checkPhase = ageLib.checkCommand {
      inherit coffer;
      inherit cfg;
    };
  };
  activationRestart = import ./restart.nix { systemctl = config.systemd.user.systemctlPath; };
in
{
  options.age = {
    package = opts.cofferPackage pkgs "The coffer package that installs the secrets (agenix: the age package; any other package is not run, and a warning says so).";
    secrets = mkOption {
      type = types.attrsOf secretType;
      default = { };
      description = "The secrets to install.";
    };
    identityPaths = mkOption {
      type = types.listOf types.path;
      default = [
        "${home}/.ssh/id_ed25519"
        "${home}/.ssh/id_rsa"
      ];
      defaultText = lib.literalExpression ''[ "''${config.home.homeDirectory}/.ssh/id_ed25519" "''${config.home.homeDirectory}/.ssh/id_rsa" ]'';
      description = "The keys to decrypt with (SSH private keys or age identity files).";
    };
    secretsDir = mkOption {
      type = types.str;
      default = "${runtime}/agenix";
      description = "The link to the current generation ($XDG_RUNTIME_DIR/agenix).";
    };
    secretsMountPoint = mkOption {
      type = types.str;
      default = "${runtime}/agenix.d";
      description = "Where the generations live ($XDG_RUNTIME_DIR/agenix.d).";
    };
    manifestFile = mkOption {
      type = types.package;
      default = manifest;
      readOnly = true;
      internal = true;
      description = "The manifest `coffer install` reads (for inspection).";
    };
  };

  config = lib.mkIf (cfg.secrets != { }) {
    warnings = lib.optional (!agePackageIsCoffer) "age.package = ${builtins.toJSON (cfg.package.name or "?")} is agenix's age package, which coffer does not run: coffer decrypts the age files by itself (pkgs.coffer). Remove age.package, or set it to coffer.";
    assertions =
      [
        {
          assertion = cfg.identityPaths != [ ];
          message = "age.identityPaths is empty: list the keys to decrypt with";
        }
      ]
      ++ builtins.concatMap (
        name:
        let
          s = cfg.secrets.${name};
          where = "age.secrets.${cofferLib.util.attrName name}";
        in
        ageLib.modeAssertions "${where}.mode" s.mode
        ++ [
          {
            assertion = s.symlink || s.path == "${cfg.secretsDir}/${s.name}";
            message = "${where}.symlink = false would write the plaintext outside the runtime directory: keep symlink = true";
          }
        ]
      ) (builtins.attrNames cfg.secrets);

    systemd.user.services.agenix = {
      Unit.Description = "Install the agenix secrets of this user (coffer)";
      Service = {
        Type = "oneshot";
        ExecStart = "${coffer}/bin/coffer install --ignore-passwd ${manifest}";
      };
      Install.WantedBy = [ "default.target" ];
    };

    home.activation.agenix = activationRestart "agenix.service";
  };
}
