# nixosModules.sops: sops-nix's option tree (`sops.*`), installed by `coffer install`.
#
# The options, their defaults, the manifests and the names of the units and activation
# snippets are sops-nix's (Mic92/sops-nix, modules/sops), so a configuration written for
# sops-nix works unchanged when this module replaces it. What differs is in
# docs/from-sops-nix.md. The logic lives in nix/lib/sops.nix and nix/lib/units.nix.
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
  sopsLib = cofferLib.sops;

  cfg = config.sops;
  users = config.users.users;

  sysusers = options.systemd ? sysusers && config.systemd.sysusers.enable;
  userborn = options.services ? userborn && config.services.userborn.enable;

  regularSecrets = sopsLib.regularSecrets cfg.secrets;
  usersSecrets = sopsLib.usersSecrets cfg.secrets;

  manifests = sopsLib.manifests {
    inherit cfg;
    extra = config.services.coffer.extraManifest.sops;
  };

  # The manifest in the store, checked while it is built as sops-nix checks it.
  manifestFile =
    suffix: value:
    sopsLib.checkSources {
      inherit (cfg) validateSopsFiles;
      secrets = if suffix == "" then regularSecrets else usersSecrets;
    } (
      pkgs.writeTextFile {
        name = "manifest${suffix}.json";
        text = builtins.toJSON value;
        checkPhase = sopsLib.checkCommand {
          coffer = cfg.validationPackage;
          inherit (cfg) validateSopsFiles;
        };
      }
    );
  manifest = manifestFile "" manifests.regular;
  usersManifest = manifestFile "-for-users" manifests.users;

  environment = cfg.environment;

  opts = import ./options.nix { inherit lib; };

  secretType = types.submodule (
    { name, config, ... }:
    {
      options =
        opts.sopsSecret {
          inherit cfg name config;
          path =
            if config.neededForUsers then
              "/run/secrets-for-users/${config.name}"
            else
              "/run/secrets/${config.name}";
          pathText = ''"/run/secrets/''${name}" (or /run/secrets-for-users/… with neededForUsers)'';
        }
        // opts.ownership {
          inherit users config;
          str = types.str;
        }
        // opts.unitLists "the secret"
        // {
          sopsFileHash = mkOption {
            type = types.str;
            readOnly = true;
            default = sopsLib.sopsFileHash cfg.validateSopsFiles config.sopsFile;
            defaultText = lib.literalExpression ''builtins.hashFile "sha256" sopsFile (empty without validateSopsFiles)'';
            description = "The SHA-256 of the sops file, for `restartTriggers`.";
          };
          neededForUsers = mkOption {
            type = types.bool;
            default = false;
            description = ''
              Install the secret before users and groups are created (for
              `hashedPasswordFile`), under /run/secrets-for-users, owned by root.
            '';
          };
        };
    }
  );

  templateType = types.submodule (
    { name, config, ... }:
    {
      options =
        opts.sopsTemplate {
          inherit pkgs name config;
          path = "/run/secrets/rendered/${config.name}";
          pathText = ''"/run/secrets/rendered/''${name}"'';
        }
        // opts.ownership {
          inherit users config;
          str = types.singleLineStr;
        }
        // opts.unitLists "the rendered file";
    }
  );

  # sops-nix's default key sources: the host keys of the given type, except keys that are
  # themselves secrets (which would be circular).
  hostKeys =
    type:
    if config.services.openssh.enable or false then
      map (k: k.path) (
        builtins.filter (
          k: k.type == type && !(cofferLib.util.hasPrefix "/run/secrets" k.path)
        ) config.services.openssh.hostKeys
      )
    else
      [ ];

  # A path on the host, never in the store (it names a private key); a Nix path is taken
  # as its string, never copied.
  pathNotInStore = types.addCheck (types.either types.str types.path) (
    p: !(cofferLib.util.hasPrefix "${builtins.storeDir}/" (toString p))
  );

  runsAsUnit = cfg.useSystemdActivation;
  usersRunAsUnit = sysusers || userborn;
  path = cfg.age.plugins;
in
{
  imports = [
    ./coffer.nix
    (lib.mkRenamedOptionModule [ "sops" "gnupgHome" ] [ "sops" "gnupg" "home" ])
    (lib.mkRenamedOptionModule [ "sops" "sshKeyPaths" ] [ "sops" "gnupg" "sshKeyPaths" ])
  ];

  options.sops = opts.sopsGlobal // {
    secrets = mkOption {
      type = types.attrsOf secretType;
      default = { };
      description = "The secrets to install.";
    };
    templates = mkOption {
      type = types.attrsOf templateType;
      default = { };
      description = "Files rendered from text with placeholders for secrets.";
    };
    package = mkOption {
      type = types.package;
      default = config.services.coffer.package;
      defaultText = lib.literalExpression "config.services.coffer.package";
      description = "The coffer package that installs the secrets.";
    };
    validationPackage = mkOption {
      type = types.package;
      default =
        if pkgs.stdenv.buildPlatform == pkgs.stdenv.hostPlatform then
          cfg.package
        else
          pkgs.pkgsBuildHost.coffer or (pkgs.pkgsBuildHost.callPackage ../package.nix { });
      defaultText = lib.literalExpression "config.sops.package (built for the build platform when cross-compiling)";
      description = "The coffer package that checks the manifest while building.";
    };
    useTmpfs = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Use a tmpfs (mounted with `noswap` where the kernel has it, Linux 6.4 and later)
        instead of a ramfs. On older kernels secrets on a tmpfs can be written to swap.
      '';
    };
    useSystemdActivation = mkOption {
      type = types.bool;
      default = sysusers || userborn;
      defaultText = lib.literalExpression "config.systemd.sysusers.enable || config.services.userborn.enable";
      description = ''
        Install the secrets from the unit sops-install-secrets.service instead of the
        activation snippet `setupSecrets`.
      '';
    };
    age = opts.sopsAge // {
      keyFile = mkOption {
        type = types.nullOr pathNotInStore;
        default = null;
        example = "/var/lib/sops-nix/key.txt";
        description = "An age identity file on the host (never in the Nix store).";
      };
      sshKeyPaths = mkOption {
        type = types.listOf types.path;
        default = hostKeys "ed25519";
        defaultText = lib.literalMD "the ed25519 keys of `services.openssh.hostKeys`";
        description = ''
          SSH private keys to decrypt with. coffer opens files encrypted to the key's
          `ssh-ed25519` recipient and to its ssh-to-age `age1…` recipient.
        '';
      };
    };
    gnupg = {
      home = opts.gnupgHome;
      sshKeyPaths = mkOption {
        type = types.listOf types.path;
        default = hostKeys "rsa";
        defaultText = lib.literalMD "the rsa keys of `services.openssh.hostKeys`";
        description = "RSA SSH keys turned into OpenPGP keys (as sops-nix does) for decryption.";
      };
      package = opts.gnupgPackage pkgs;
    };
  };

  config = lib.mkMerge [
    (lib.mkIf (cfg.secrets != { }) {
      assertions = sopsLib.assertions {
        inherit cfg sysusers;
        mutableUsers = config.users.mutableUsers or true;
      };

      sops.environment.SOPS_GPG_EXEC = lib.mkIf (cfg.gnupg.home != null || cfg.gnupg.sshKeyPaths != [ ]) (
        lib.mkDefault "${cfg.gnupg.package}/bin/gpg"
      );

      systemd.services.sops-install-secrets = lib.mkIf (regularSecrets != { } && runsAsUnit) (
        units.installService {
          coffer = cfg.package;
          inherit manifest path environment;
          manifestValue = manifests.regular;
          description = "Install the sops secrets (coffer)";
        }
      );

      systemd.services.sops-install-secrets-for-users =
        lib.mkIf (usersSecrets != { } && usersRunAsUnit)
          (
            units.usersInstallService {
              coffer = cfg.package;
              manifest = usersManifest;
              manifestValue = manifests.users;
              inherit path environment;
              description = "Install the sops secrets needed for users (coffer)";
            }
          );

      system.activationScripts = {
        setupSecrets = lib.mkIf (regularSecrets != { } && !runsAsUnit) (
          units.activationSnippet {
            deps = [
              "specialfs"
              "users"
              "groups"
            ]
            ++ lib.optional cfg.age.generateKey "generate-age-key";
            message = "setting up secrets...";
            command = units.activationCommand {
              coffer = cfg.package;
              inherit manifest path environment;
            };
          }
        );
        setupSecretsForUsers = lib.mkIf (usersSecrets != { } && !usersRunAsUnit) (
          units.activationSnippet {
            deps = [ "specialfs" ] ++ lib.optional cfg.age.generateKey "generate-age-key";
            message = "setting up secrets for users...";
            command = units.activationCommand {
              coffer = cfg.package;
              manifest = usersManifest;
              args = [ "--ignore-passwd" ];
              inherit path environment;
            };
          }
        );
        users = lib.mkIf (usersSecrets != { } && !usersRunAsUnit) { deps = [ "setupSecretsForUsers" ]; };
        generate-age-key = lib.mkIf cfg.age.generateKey (
          units.generateAgeKeySnippet {
            coffer = cfg.package;
            keyFile = cfg.age.keyFile;
          }
        );
      };
    })

    (lib.mkIf (cfg.templates != { }) {
      sops.placeholder = builtins.mapAttrs (name: _: lib.mkDefault (sopsLib.placeholder name)) cfg.secrets;
    })

    {
      system.build.sops-nix-manifest = manifest;
      system.build.sops-nix-users-manifest = usersManifest;
    }
  ];
}
