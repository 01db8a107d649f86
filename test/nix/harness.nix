# Evaluates coffer's NixOS modules outside NixOS (test only): the NixOS options they set or
# read are declared here as stubs, `pkgs` is a handful of stand-ins, and `lib` is the
# stand-in (test/nix/stand-in-lib.nix) unless a real nixpkgs lib is passed:
#
#   nix-instantiate --eval --strict --json test/nix/harness.nix \
#     --arg modules '[ ./nix/modules/sops.nix ./test/nix/examples/sops-dao.nix ]' \
#     --arg lib 'import /path/to/nixpkgs/lib' --arg select 'r: r.manifests.sops'
#
# `select` picks what to return from { config; manifests; failedAssertions; warnings; }.
{
  lib ? import ./stand-in-lib.nix,
  # "nixos", or "home-manager" for the home-manager modules
  kind ? "nixos",
  modules,
  select ? (r: r.failedAssertions),
  storeDir ? builtins.storeDir,
}:
let
  fakeDrv =
    name: extra:
    {
      type = "derivation";
      inherit name;
      outPath = "${storeDir}/00000000000000000000000000000000-${name}";
    }
    // extra;
  pkgs = rec {
    inherit lib;
    callPackage =
      f: args:
      let
        fn = if builtins.isFunction f then f else import f;
      in
      fn (builtins.intersectAttrs (builtins.functionArgs fn) (pkgs // args));
    # The manifests: what a test reads is the text and the check command.
    writeTextFile =
      {
        name,
        text,
        checkPhase ? "",
        ...
      }:
      fakeDrv name { inherit text checkPhase; };
    writeText = name: text: builtins.toFile name text;
    writeShellScript = name: text: fakeDrv name { inherit text; };
    runCommand =
      name: env: buildCommand:
      fakeDrv name { inherit buildCommand; };
    coffer = fakeDrv "coffer" { };
    coreutils = fakeDrv "coreutils" { };
    gnupg = fakeDrv "gnupg" { };
    tailscale = fakeDrv "tailscale" { };
    stdenv = {
      buildPlatform = "x86_64-linux";
      hostPlatform = "x86_64-linux";
    };
  };
  stubs =
    { lib, ... }:
    let
      inherit (lib) mkOption types;
    in
    {
      options = {
        assertions = mkOption {
          type = types.listOf types.unspecified;
          default = [ ];
        };
        warnings = mkOption {
          type = types.listOf types.str;
          default = [ ];
        };
        users.users = mkOption {
          type = types.attrsOf (
            types.submodule {
              options.group = mkOption {
                type = types.str;
                default = "";
              };
            }
          );
          default = { };
        };
        users.mutableUsers = mkOption {
          type = types.bool;
          default = true;
        };
        services.openssh.enable = mkOption {
          type = types.bool;
          default = false;
        };
        # NixOS's default host keys.
        services.openssh.hostKeys = mkOption {
          type = types.listOf types.attrs;
          default = [
            {
              type = "rsa";
              bits = 4096;
              path = "/etc/ssh/ssh_host_rsa_key";
            }
            {
              type = "ed25519";
              path = "/etc/ssh/ssh_host_ed25519_key";
            }
          ];
        };
        services.userborn.enable = mkOption {
          type = types.bool;
          default = false;
        };
        services.tailscale.enable = mkOption {
          type = types.bool;
          default = false;
        };
        services.tailscale.package = mkOption {
          type = types.package;
          default = pkgs.tailscale;
        };
        services.tailscale.authKeyFile = mkOption {
          type = types.nullOr types.path;
          default = null;
        };
        systemd.sysusers.enable = mkOption {
          type = types.bool;
          default = false;
        };
        # The options of a service that the modules set, with NixOS's types.
        systemd.services = mkOption {
          type = types.attrsOf (
            types.submodule {
              options =
                let
                  list = mkOption {
                    type = types.listOf types.str;
                    default = [ ];
                  };
                  attrs = mkOption {
                    type = types.attrsOf types.anything;
                    default = { };
                  };
                in
                {
                  description = mkOption {
                    type = types.str;
                    default = "";
                  };
                  wantedBy = list;
                  requiredBy = list;
                  wants = list;
                  requires = list;
                  after = list;
                  before = list;
                  conflicts = list;
                  aliases = list;
                  path = mkOption {
                    type = types.listOf types.package;
                    default = [ ];
                  };
                  environment = attrs;
                  unitConfig = attrs;
                  serviceConfig = attrs;
                };
            }
          );
          default = { };
        };
        systemd.packages = mkOption {
          type = types.listOf types.package;
          default = [ ];
        };
        system.activationScripts = mkOption {
          type = types.attrsOf (
            types.submodule {
              options = {
                deps = mkOption {
                  type = types.listOf types.str;
                  default = [ ];
                };
                text = mkOption {
                  type = types.lines;
                  default = "";
                };
                supportsDryActivation = mkOption {
                  type = types.bool;
                  default = false;
                };
              };
            }
          );
          default = { };
        };
        system.build = mkOption {
          type = types.lazyAttrsOf types.unspecified;
          default = { };
        };
      };
    };
  # home-manager's options the home-manager modules set or read.
  homeStubs =
    { lib, ... }:
    let
      inherit (lib) mkOption types;
      anything = mkOption {
        type = types.attrsOf types.anything;
        default = { };
      };
    in
    {
      options = {
        assertions = mkOption {
          type = types.listOf types.unspecified;
          default = [ ];
        };
        warnings = mkOption {
          type = types.listOf types.str;
          default = [ ];
        };
        home.homeDirectory = mkOption {
          type = types.str;
          default = "/home/alice";
        };
        xdg.configHome = mkOption {
          type = types.str;
          default = "/home/alice/.config";
        };
        systemd.user.systemctlPath = mkOption {
          type = types.str;
          default = "${storeDir}/00000000000000000000000000000000-systemd/bin/systemctl";
        };
        systemd.user.services = anything;
        home.activation = anything;
      };
    };
  result = lib.evalModules {
    modules = [
      (if kind == "nixos" then stubs else homeStubs)
      { _module.args.pkgs = pkgs; }
    ]
    ++ modules;
  };
  inherit (result) config;
  undeclared = result._undeclared or [ ];
  build =
    if kind == "nixos" then
      config.system.build
    else
      {
        sops-nix-manifest = config.sops.manifestFile or null;
        agenix-manifest = config.age.manifestFile or null;
      };

  # Every option's name, as the NixOS manual writes them: sops.secrets.<name>.key.
  isOption = v: builtins.isAttrs v && (v._type or null) == "option";
  optionNames =
    prefix: tree:
    builtins.concatMap (
      name:
      let
        v = tree.${name};
        here = prefix ++ [ name ];
        sub = (v.type.getSubOptions or (_: { })) here;
        subPrefix = if builtins.elem (v.type.name or "") [ "attrsOf" "lazyAttrsOf" ] then here ++ [ "<name>" ] else here;
      in
      if name == "_module" then
        [ ]
      else if isOption v then
        [ (builtins.concatStringsSep "." here) ] ++ optionNames subPrefix sub
      else if builtins.isAttrs v then
        optionNames here v
      else
        [ ]
    ) (builtins.attrNames tree);
  text =
    name:
    if build.${name} or null != null then
      builtins.fromJSON (builtins.unsafeDiscardStringContext build.${name}.text)
    else
      null;
in
if undeclared != [ ] then
  throw "The option `${builtins.head undeclared}' does not exist."
else
  select {
    inherit config;
    options = optionNames [ ] result.options;
    manifests = {
      sops = text "sops-nix-manifest";
      sopsUsers = text "sops-nix-users-manifest";
      age = text "agenix-manifest";
    };
    failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) config.assertions);
    inherit (config) warnings;
  }
