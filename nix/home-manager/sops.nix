# homeManagerModules.sops: sops-nix's home-manager options (`sops.*` for one user),
# installed by `coffer install` from the user's systemd service sops-nix.service.
#
# As in sops-nix (modules/home-manager), the manifest is in user mode: generations under
# the runtime directory (`%r`, $XDG_RUNTIME_DIR), a link in ~/.config/sops-nix/secrets, no
# mount, owners or restarts. The logic is in nix/lib/sops.nix.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption types;
  cofferLib = import ../lib;
  sopsLib = cofferLib.sops;
  cfg = config.sops;
  coffer = cfg.package;
  configHome = config.xdg.configHome;

  opts = import ../modules/options.nix { inherit lib; };

  secretType = types.submodule (
    { name, config, ... }:
    {
      options = opts.sopsSecret {
        inherit cfg name config;
        path = "${cfg.defaultSymlinkPath}/${config.name}";
        pathText = ''"''${config.sops.defaultSymlinkPath}/''${name}"'';
      };
    }
  );

  templateType = types.submodule (
    { name, config, ... }:
    {
      options = opts.sopsTemplate {
        inherit pkgs name config;
        path = "${configHome}/sops-nix/secrets/rendered/${config.name}";
        pathText = ''"''${config.xdg.configHome}/sops-nix/secrets/rendered/''${name}"'';
      };
    }
  );

  manifestValue = sopsLib.userManifest { inherit cfg; };
  manifest = sopsLib.checkSources { inherit (cfg) validateSopsFiles; inherit (cfg) secrets; } (
    pkgs.writeTextFile {
      name = "manifest.json";
      text = builtins.toJSON manifestValue;
      checkPhase = sopsLib.checkCommand {
        inherit coffer;
        inherit (cfg) validateSopsFiles;
      };
    }
  );

  keyFile = cofferLib.util.escapeShellArg (toString cfg.age.keyFile);
  script = pkgs.writeShellScript "coffer-sops-nix-user" (
    cofferLib.util.optionalString cfg.age.generateKey ''
      if [[ ! -f ${keyFile} ]]; then
        mkdir -p "$(dirname ${keyFile})"
        ${coffer}/bin/coffer age-keygen -o ${keyFile}
      fi
    ''
    + ''
      exec ${coffer}/bin/coffer install --ignore-passwd ${manifest}
    ''
  );

  gnupgUsed = cfg.gnupg.home != null || cfg.gnupg.sshKeyPaths != [ ];
  activationRestart = import ./restart.nix { systemctl = config.systemd.user.systemctlPath; };
  qubes = cfg.gnupg.qubes-split-gpg;
in
{
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
    defaultSymlinkPath = mkOption {
      type = types.str;
      default = "${configHome}/sops-nix/secrets";
      defaultText = lib.literalExpression ''"''${config.xdg.configHome}/sops-nix/secrets"'';
      description = "The link to the current generation of secrets.";
    };
    defaultSecretsMountPoint = mkOption {
      type = types.str;
      default = "%r/secrets.d";
      description = "Where the generations live; `%r` is the runtime directory ($XDG_RUNTIME_DIR).";
    };
    package = opts.cofferPackage pkgs "The coffer package that installs the secrets.";
    age = opts.sopsAge // {
      keyFile = mkOption {
        type = types.nullOr (types.either types.str types.path);
        default = null;
        example = "/home/someuser/.age-key.txt";
        description = "An age identity file.";
      };
      sshKeyPaths = mkOption {
        type = types.listOf types.path;
        default = [ ];
        description = "SSH private keys to decrypt with.";
      };
    };
    gnupg = {
      package = opts.gnupgPackage pkgs;
      home = opts.gnupgHome;
      sshKeyPaths = mkOption {
        type = types.listOf types.path;
        default = [ ];
        description = "RSA SSH keys turned into OpenPGP keys for decryption.";
      };
      qubes-split-gpg = {
        enable = lib.mkEnableOption "Qubes OS split GPG (gpg runs in another qube)";
        domain = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "vault-gpg";
          description = "The qube that holds the GPG keys.";
        };
      };
    };
    manifestFile = mkOption {
      type = types.package;
      default = manifest;
      readOnly = true;
      internal = true;
      description = "The manifest `coffer install` reads (for inspection).";
    };
  };

  config = lib.mkMerge [
    (lib.mkIf (cfg.secrets != { }) {
      assertions = [
        {
          assertion =
            gnupgUsed || qubes.enable || cfg.age.keyFile != null || cfg.age.sshKeyPaths != [ ];
          message = "sops: no key to decrypt with: set sops.age.keyFile, sops.age.sshKeyPaths, sops.gnupg.home or sops.gnupg.qubes-split-gpg.enable";
        }
        {
          assertion =
            builtins.length (
              builtins.filter (x: x) [
                (cfg.gnupg.home != null)
                (cfg.gnupg.sshKeyPaths != [ ])
                qubes.enable
              ]
            ) <= 1;
          message = "sops: use only one of sops.gnupg.home, sops.gnupg.sshKeyPaths and sops.gnupg.qubes-split-gpg";
        }
        {
          assertion = !qubes.enable || (qubes.domain != null && qubes.domain != "");
          message = "sops.gnupg.qubes-split-gpg.domain is needed with sops.gnupg.qubes-split-gpg.enable";
        }
      ]
      ++ lib.optional cfg.age.generateKey (sopsLib.generateKeyAssertion cfg)
      ++ builtins.concatMap (
        name: cofferLib.modes.assertions "sops.secrets.${cofferLib.util.attrName name}.mode" cfg.secrets.${name}.mode
      ) (builtins.attrNames cfg.secrets);

      sops.environment = {
        SOPS_GPG_EXEC = lib.mkMerge [
          (lib.mkIf gnupgUsed (lib.mkDefault "${cfg.gnupg.package}/bin/gpg"))
          (lib.mkIf qubes.enable (lib.mkDefault "qubes-gpg-client-wrapper"))
        ];
        QUBES_GPG_DOMAIN = lib.mkIf qubes.enable (lib.mkDefault qubes.domain);
        PATH = lib.mkIf (cfg.age.plugins != [ ]) (cofferLib.util.makeBinPath cfg.age.plugins);
      };

      systemd.user.services.sops-nix = {
        Unit.Description = "Install the sops secrets of this user (coffer)";
        Service = {
          Type = "oneshot";
          Environment = cofferLib.util.mapAttrsToList (name: value: "${name}=${toString value}") cfg.environment;
          ExecStart = "${script}";
        };
        Install.WantedBy =
          if cfg.gnupg.home != null then [ "graphical-session-pre.target" ] else [ "default.target" ];
      };

      # Install again on every home-manager switch, when the user's systemd is running.
      home.activation.sops-nix = activationRestart "sops-nix.service";
    })
    (lib.mkIf (cfg.templates != { }) {
      sops.placeholder = builtins.mapAttrs (name: _: lib.mkDefault (sopsLib.placeholder name)) cfg.secrets;
    })
  ];
}
