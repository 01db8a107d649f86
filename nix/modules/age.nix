# nixosModules.age: agenix's option tree (`age.*`), installed by `coffer install`.
#
# The options, defaults, paths (/run/agenix → /run/agenix.d/<generation>) and the names of
# the unit and activation snippets are agenix's (ryantm/agenix, modules/age.nix), so a
# configuration written for agenix works unchanged when this module replaces it. coffer
# installs from a manifest (nix/lib/age.nix) instead of a shell script: a failed secret
# never leaves the others half-installed, owners are applied in the same step, and
# restartUnits restart units. What differs is in docs/from-agenix.md.
{
  config,
  options,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption types;
  cofferLib = import ../lib;
  inherit (cofferLib) units;
  ageLib = cofferLib.age;

  cfg = config.age;
  users = config.users.users;

  sysusers = options.systemd ? sysusers && config.systemd.sysusers.enable;
  userborn = options.services ? userborn && config.services.userborn.enable;
  runsAsUnit = sysusers || userborn;

  manifestValue = ageLib.manifest {
    inherit cfg;
    extra = config.services.coffer.extraManifest.age;
  };
  manifest = pkgs.writeTextFile {
    name = "agenix-manifest.json";
    text = builtins.toJSON manifestValue;
    checkPhase = ageLib.checkCommand {
      coffer = cfg.validationPackage;
      inherit cfg;
    };
  };

  command = units.activationCommand {
    coffer = cfg.package;
    inherit manifest;
    path = cfg.plugins;
  };

  defaultAgeBin = "${cfg.package}/bin/coffer-age";

  opts = import ./options.nix { inherit lib; };

  secretType = types.submodule (
    { name, config, ... }:
    {
      options =
        opts.ageSecret { inherit cfg name config; }
        // {
          owner = mkOption {
            type = types.str;
            default = "0";
            description = "The owning user: a name or a number.";
          };
          group = mkOption {
            type = types.str;
            default = users.${config.owner}.group or "0";
            defaultText = lib.literalExpression ''config.users.users.''${owner}.group or "0"'';
            description = "The group: a name or a number.";
          };
        }
        // opts.unitLists "the secret";
    }
  );
in
{
  imports = [
    ./coffer.nix
    (lib.mkRenamedOptionModule [ "age" "sshKeyPaths" ] [ "age" "identityPaths" ])
  ];

  options.age = {
    ageBin = mkOption {
      type = types.str;
      default = defaultAgeBin;
      defaultText = lib.literalExpression ''"''${config.age.package}/bin/coffer-age"'';
      description = ''
        agenix's age executable. coffer decrypts by itself, so activation does not run it;
        it is kept so that configurations that set or read it still evaluate.
      '';
    };
    package = mkOption {
      type = types.package;
      default = config.services.coffer.package;
      defaultText = lib.literalExpression "config.services.coffer.package";
      description = "coffer: the coffer package that installs the secrets.";
    };
    plugins = mkOption {
      type = types.listOf types.package;
      default = [ ];
      example = lib.literalExpression "[ pkgs.age-plugin-yubikey ]";
      description = ''
        coffer: age plugins (`age-plugin-*`) put on PATH for decryption, for plugin
        identities in `age.identityPaths` (what agenix users put into `age.ageBin`).
      '';
    };
    validationPackage = mkOption {
      type = types.package;
      default =
        if pkgs.stdenv.buildPlatform == pkgs.stdenv.hostPlatform then
          cfg.package
        else
          pkgs.pkgsBuildHost.coffer or (pkgs.pkgsBuildHost.callPackage ../package.nix { });
      defaultText = lib.literalExpression "config.age.package (built for the build platform when cross-compiling)";
      description = "coffer: the coffer package that checks the manifest while building.";
    };
    secrets = mkOption {
      type = types.attrsOf secretType;
      default = { };
      description = "The secrets to install.";
    };
    secretsDir = mkOption {
      type = types.path;
      default = "/run/agenix";
      description = "The link to the current generation of secrets.";
    };
    secretsMountPoint = mkOption {
      type = types.str;
      default = "/run/agenix.d";
      description = "The RAM filesystem the generations live on (no trailing slash).";
    };
    identityPaths = mkOption {
      type = types.listOf types.path;
      default =
        if config.services.openssh.enable or false then
          map (k: k.path) (
            builtins.filter (k: k.type == "rsa" || k.type == "ed25519") config.services.openssh.hostKeys
          )
        else
          [ ];
      defaultText = lib.literalMD "the rsa and ed25519 keys of `services.openssh.hostKeys` when sshd is on";
      description = ''
        The keys to decrypt with: SSH private keys (taken natively, as age does) or age
        identity files. Give them as strings: a Nix path would copy a private key into the
        store.
      '';
    };
  };

  config = lib.mkMerge [
    (lib.mkIf (cfg.secrets != { }) {
      assertions = ageLib.assertions { inherit cfg; };
      warnings = ageLib.warnings { inherit cfg defaultAgeBin; };

      systemd.services.agenix-install-secrets = lib.mkIf runsAsUnit (
        units.installService {
          coffer = cfg.package;
          inherit manifest manifestValue;
          path = cfg.plugins;
          description = "Install the agenix secrets (coffer)";
        }
      );

      system.activationScripts = lib.mkIf (!runsAsUnit) (
        units.agenixSnippets { inherit command; }
        // {
          users.deps = [ "agenixInstall" ];
        }
      );
    })
    {
      system.build.agenix-manifest = manifest;
    }
  ];
}
