# A sops-nix configuration for the host "dao" (used by test/nix/: its manifest is compared
# with the one Mic92/sops-nix writes for it, and installed in a booted systemd container).
# Written for coffer; the files under /opt/share are made by the container test.
{ config, ... }:
{
  sops.defaultSopsFile = "/opt/share/dao.yaml";
  # String paths (not in the Nix store), as sops-nix requires with validation off.
  sops.validateSopsFiles = false;
  sops.age.sshKeyPaths = [ "/opt/share/ssh_host_ed25519_key" ];
  sops.keepGenerations = 2;
  sops.log = [ "secretChanges" ];

  sops.secrets.tailscale_authkey = {
    restartUnits = [ "tailscaled-autoconnect.service" ];
  };
  sops.secrets."db/password" = {
    owner = "postgres";
    mode = "0440";
    restartUnits = [ "postgresql.service" ];
  };
  sops.secrets.smtp-token = {
    key = "smtp/token";
    path = "/etc/postfix/smtp-token";
    reloadUnits = [ "postfix.service" ];
  };
  sops.secrets.wireguard-key = {
    sopsFile = "/opt/share/wg.bin";
    format = "binary";
    owner = "systemd-network";
    group = "systemd-network";
  };
  sops.secrets.api-env = {
    sopsFile = "/opt/share/api.env";
    format = "dotenv";
    uid = 4242;
    gid = 4242;
    mode = "0440";
  };
  sops.secrets.alice-password = {
    neededForUsers = true;
  };
  sops.templates."app.conf" = {
    content = ''
      [database]
      password = ${config.sops.placeholder."db/password"}
      [smtp]
      token = ${config.sops.placeholder.smtp-token}
    '';
    owner = "app";
    restartUnits = [ "app.service" ];
  };

  users.users.postgres.group = "postgres";
  users.users.app.group = "app";
}
