# Option declarations that the NixOS modules and the home-manager modules share (the same
# options, with sops-nix's or agenix's types and defaults, in both).
{ lib }:
let
  inherit (lib) mkOption types;
in
rec {
  # The coffer package, built with the configuration's nixpkgs unless the overlay is there.
  cofferPackage =
    pkgs: description:
    mkOption {
      type = types.package;
      default = pkgs.coffer or (pkgs.callPackage ../package.nix { });
      defaultText = lib.literalExpression "pkgs.coffer";
      inherit description;
    };

  # A secret's or template's file name: the attribute name by default.
  fileName =
    type: name: description:
    mkOption {
      inherit type description;
      default = name;
    };

  mode =
    type:
    mkOption {
      inherit type;
      default = "0400";
      description = "The file's mode, in octal. coffer never installs a file others can read.";
    };

  # owner/uid/group/gid as sops-nix declares them: a name wins over the id, the group
  # defaults to the owner's.
  ownership =
    {
      users,
      config,
      str,
    }:
    {
      owner = mkOption {
        type = types.nullOr str;
        default = null;
        description = "The owning user's name (or set `uid`).";
      };
      uid = mkOption {
        type = types.nullOr types.int;
        default = 0;
        description = "The owning user's id, used when `owner` is null, whether or not such a user exists.";
      };
      group = mkOption {
        type = types.nullOr str;
        default = if config.owner != null then users.${config.owner}.group else null;
        defaultText = lib.literalExpression "config.users.users.\${owner}.group";
        description = "The group's name (or set `gid`).";
      };
      gid = mkOption {
        type = types.nullOr types.int;
        default = 0;
        description = "The group's id, used when `group` is null, whether or not such a group exists.";
      };
    };

  # restartUnits/reloadUnits: acted on when `what` changes (content, owner or mode).
  unitLists = what: {
    restartUnits = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "sshd.service" ];
      description = "Units restarted when ${what} changes: its content, owner or mode.";
    };
    reloadUnits = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "nginx.service" ];
      description = "Units reloaded when ${what} changes: its content, owner or mode.";
    };
  };

  # The per-secret options sops-nix's NixOS and home-manager modules both have.
  sopsSecret =
    {
      cfg,
      name,
      config,
      path,
      pathText,
    }:
    {
      name = fileName types.str name "The file's name in the secrets directory; `/` makes sub-directories.";
      key = mkOption {
        type = types.str;
        default = if cfg.defaultSopsKey != null then cfg.defaultSopsKey else name;
        defaultText = lib.literalExpression "config.sops.defaultSopsKey, or the attribute name";
        description = ''
          Where the value is in the decrypted document, `/` between levels; `""` is the
          whole file. Ignored for binary, dotenv and ini files.
        '';
      };
      path = mkOption {
        type = types.str;
        default = path;
        defaultText = lib.literalExpression pathText;
        description = "Where the secret appears; any other path than the default becomes a symlink to it.";
      };
      format = mkOption {
        type = types.enum [
          "yaml"
          "json"
          "binary"
          "dotenv"
          "ini"
          "age"
        ];
        default = cfg.defaultSopsFormat;
        defaultText = lib.literalExpression "config.sops.defaultSopsFormat";
        description = "How the file is read. `age` (coffer): an age-encrypted file, whole, as agenix reads it.";
      };
      mode = mode types.str;
      sopsFile = mkOption {
        type = types.path;
        default = cfg.defaultSopsFile;
        defaultText = lib.literalExpression "config.sops.defaultSopsFile";
        description = "The encrypted file the secret comes from.";
      };
    };

  # The per-template options both sops-nix modules have.
  sopsTemplate =
    {
      pkgs,
      name,
      config,
      path,
      pathText,
    }:
    {
      name = fileName types.singleLineStr name "The rendered file's name under rendered/.";
      path = mkOption {
        type = types.singleLineStr;
        default = path;
        defaultText = lib.literalExpression pathText;
        description = "Where the rendered file appears; any other path becomes a symlink to it.";
      };
      content = mkOption {
        type = types.lines;
        default = "";
        description = "The template text, with `config.sops.placeholder.<secret>` where secrets go.";
      };
      file = mkOption {
        type = types.path;
        default = pkgs.writeText config.name config.content;
        defaultText = lib.literalExpression "pkgs.writeText name content";
        description = "A template file, read when `content` is empty.";
      };
      mode = mode types.singleLineStr;
    };

  # The global sops options both sops-nix modules have.
  sopsGlobal = {
    defaultSopsFile = mkOption {
      type = types.path;
      description = "The sops file of every secret that does not set its own `sopsFile`.";
    };
    defaultSopsFormat = mkOption {
      type = types.str;
      default = "yaml";
      description = "The format of every secret that does not set its own.";
    };
    defaultSopsKey = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = ''The key of every secret that does not set its own, instead of its name; `""` is the whole file.'';
    };
    validateSopsFiles = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Check the sops files while building: each must be in the Nix store, parse as a sops
        file, and hold every key a secret names.
      '';
    };
    keepGenerations = mkOption {
      type = types.ints.unsigned;
      default = 1;
      description = "How many generations of secrets to keep; 0 keeps them all.";
    };
    log = mkOption {
      type = types.listOf (
        types.enum [
          "keyImport"
          "secretChanges"
        ]
      );
      default = [
        "keyImport"
        "secretChanges"
      ];
      description = "What `coffer install` reports: the keys it imports, the secrets it changes.";
    };
    environment = mkOption {
      type = types.attrsOf (types.either types.str types.path);
      default = { };
      description = ''
        Environment variables for `coffer install`. In activation scripts the values are
        put inside single quotes without further escaping, as sops-nix does.
      '';
    };
    placeholder = mkOption {
      type = types.attrsOf types.str;
      default = { };
      visible = false;
      description = "The placeholder of each secret, for template text (set by the module).";
    };
  };

  sopsAge = {
    plugins = mkOption {
      type = types.listOf types.package;
      default = [ ];
      description = "age plugins (`age-plugin-*`) put on PATH for decryption.";
    };
    generateKey = mkOption {
      type = types.bool;
      default = false;
      description = "Make `keyFile` with `coffer age-keygen` if it is missing.";
    };
  };

  gnupgPackage =
    pkgs:
    mkOption {
      type = types.package;
      default = pkgs.gnupg;
      defaultText = lib.literalExpression "pkgs.gnupg";
      description = "The GnuPG whose gpg decrypts PGP-encrypted files (SOPS_GPG_EXEC).";
    };

  gnupgHome = mkOption {
    type = types.nullOr types.str;
    default = null;
    example = "/root/.gnupg";
    description = "A GnuPG home whose keys decrypt the sops files.";
  };

  # The per-secret options agenix's NixOS and home-manager modules both have.
  ageSecret =
    {
      cfg,
      name,
      config,
    }:
    {
      name = fileName types.str name "The file's name in `age.secretsDir`.";
      file = mkOption {
        type = types.path;
        description = "The age-encrypted file (ciphertext, so it may be in the Nix store).";
      };
      path = mkOption {
        type = types.str;
        default = "${toString cfg.secretsDir}/${config.name}";
        defaultText = lib.literalExpression ''"''${config.age.secretsDir}/''${name}"'';
        description = "Where the secret appears; any other path than the default becomes a symlink to it.";
      };
      mode = mode types.str;
      symlink = mkOption {
        type = types.bool;
        default = true;
        description = ''
          Keep the plaintext on the RAM filesystem and make `path` a symlink to it (the only
          way coffer installs; `false` is accepted only with the default path).
        '';
      };
    };
}
