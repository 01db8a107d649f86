# services.coffer.tailscale: join the tailnet at boot without a human, with a key that is a
# secret of this configuration (docs/nixos.md "Tailscale").
#
# The options are the fields of the manifest's `tailscale` section (docs/manifest.md), which
# this module adds to the manifest that holds the key secret (sops.secrets or age.secrets).
# The unit that joins is the one `coffer units` generates for that manifest, taken from its
# output while building and enabled here; the key secret restarts it when it changes.
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
  tsLib = cofferLib.tailscale;
  cfg = config.services.coffer.tailscale;
  coffer = config.services.coffer.package;

  sopsSecrets = builtins.attrNames (
    cofferLib.util.filterAttrs (_: s: !s.neededForUsers) (config.sops.secrets or { })
  );
  ageSecrets = builtins.attrNames (config.age.secrets or { });
  from = tsLib.source { inherit cfg sopsSecrets ageSecrets; };

  manifest =
    if from == "age" then
      config.system.build.agenix-manifest
    else
      config.system.build.sops-nix-manifest;

  unitName = lib.removeSuffix ".service" cfg.unit;

  # The unit orders itself after, and requires, the install unit of its manifest under the
  # name `coffer units` gives it. On NixOS that unit is sops-nix's or agenix's, so it gets
  # coffer's name as an alias; where an activation snippet installs instead (no unit), a
  # unit of that name checks that the key is there.
  cofferInstallUnit = "coffer-install-secrets.service";
  # as nix/modules/age.nix decides it
  ageRunsAsUnit =
    (options.systemd ? sysusers && config.systemd.sysusers.enable)
    || (options.services ? userborn && config.services.userborn.enable);
  installUnit =
    if from == "sops" && config.sops.useSystemdActivation then
      "sops-install-secrets"
    else if from == "age" && ageRunsAsUnit then
      "agenix-install-secrets"
    else
      null;
  keyPath =
    if from == "age" then
      config.age.secrets.${tsLib.secretName cfg}.path
    else
      config.sops.secrets.${tsLib.secretName cfg}.path or "";

  # The unit as `coffer units` writes it for this manifest.
  unitPackage = pkgs.runCommand "coffer-tailscale-unit" { } ''
    ${coffer}/bin/coffer units ${manifest} --nixos --coffer ${coffer}/bin/coffer \
      --manifest-path ${manifest} --out units
    install -D -m 0644 units/${cfg.unit} $out/lib/systemd/system/${cfg.unit}
  '';

  nullOrStr = types.nullOr types.str;
in
{
  imports = [ ./coffer.nix ];

  options.services.coffer.tailscale = {
    enable = lib.mkEnableOption "joining the tailnet at boot with a key from coffer's secrets";
    authKeySecret = mkOption {
      type = nullOrStr;
      default = null;
      example = "tailscale_authkey";
      description = "The secret (in `sops.secrets` or `age.secrets`) that holds a Tailscale auth key.";
    };
    oauthClientSecret = mkOption {
      type = nullOrStr;
      default = null;
      description = ''
        The secret that holds a Tailscale OAuth client secret: coffer mints a fresh,
        single-use, tagged auth key with it at each join. Needs `advertiseTags`.
      '';
    };
    secretsFrom = mkOption {
      type = types.nullOr (
        types.enum [
          "sops"
          "age"
        ]
      );
      default = null;
      description = "Where the key secret is declared, when both trees have a secret of that name.";
    };
    apiUrl = mkOption {
      type = types.str;
      default = "https://api.tailscale.com";
      description = "The Tailscale API the OAuth client mints keys with.";
    };
    tailnet = mkOption {
      type = types.str;
      default = "-";
      description = ''The tailnet keys are minted in ("-" is the OAuth client's own).'';
    };
    loginServer = mkOption {
      type = nullOrStr;
      default = null;
      example = "https://headscale.example.net";
      description = "The control server (`tailscale up --login-server`); null is Tailscale's.";
    };
    hostname = mkOption {
      type = nullOrStr;
      default = null;
      example = "dao";
      description = "The node's name on the tailnet; null is the host name.";
    };
    advertiseTags = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "tag:server" ];
      description = "Tags the node advertises (`--advertise-tags`).";
    };
    advertiseRoutes = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "10.0.0.0/24" ];
      description = "Subnet routes the node advertises (`--advertise-routes`).";
    };
    advertiseExitNode = mkOption {
      type = types.bool;
      default = false;
      description = "Offer the node as an exit node (`--advertise-exit-node`).";
    };
    acceptDns = mkOption {
      type = types.nullOr types.bool;
      default = null;
      description = "`--accept-dns`; null leaves Tailscale's default.";
    };
    acceptRoutes = mkOption {
      type = types.nullOr types.bool;
      default = null;
      description = "`--accept-routes`; null leaves Tailscale's default.";
    };
    ssh = mkOption {
      type = types.bool;
      default = false;
      description = "Run Tailscale SSH (`--ssh`).";
    };
    extraUpFlags = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "--operator=alice" ];
      description = "More `tailscale up` flags.";
    };
    socket = mkOption {
      type = types.str;
      default = "/run/tailscale/tailscaled.sock";
      description = "tailscaled's socket.";
    };
    timeout = mkOption {
      type = types.str;
      default = "60s";
      description = "How long one join may take (`tailscale up --timeout`).";
    };
    unit = mkOption {
      type = types.str;
      default = "coffer-tailscale.service";
      description = "The name of the unit that joins.";
    };
    package = mkOption {
      type = types.package;
      default = config.services.tailscale.package or pkgs.tailscale;
      defaultText = lib.literalExpression "config.services.tailscale.package";
      description = "The Tailscale whose `tailscale` command the unit runs.";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions =
      tsLib.assertions {
        inherit cfg sopsSecrets ageSecrets;
        nixpkgsAuthKeyFile = config.services.tailscale.authKeyFile or null;
      }
      ++ [
        {
          assertion = lib.hasSuffix ".service" cfg.unit;
          message = "services.coffer.tailscale.unit = ${builtins.toJSON cfg.unit} must name a .service unit";
        }
      ];

    services.coffer.extraManifest = {
      sops = lib.mkIf (from == "sops") { tailscale = tsLib.section cfg; };
      age = lib.mkIf (from == "age") { tailscale = tsLib.section cfg; };
    };

    services.tailscale.enable = lib.mkDefault true;

    systemd.packages = [ unitPackage ];
    systemd.services = {
      ${unitName} = {
        wantedBy = [ "multi-user.target" ];
        path = [ cfg.package ];
      };
      sops-install-secrets = lib.mkIf (installUnit == "sops-install-secrets") {
        aliases = [ cofferInstallUnit ];
      };
      agenix-install-secrets = lib.mkIf (installUnit == "agenix-install-secrets") {
        aliases = [ cofferInstallUnit ];
      };
      coffer-install-secrets = lib.mkIf (from != null && installUnit == null) {
        description = "Check that the activation script installed the Tailscale key (coffer)";
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = "${pkgs.coreutils}/bin/test -e ${keyPath}";
        };
      };
    };
  };
}
