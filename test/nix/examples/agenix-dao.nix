# An agenix configuration for the host "dao" (used by test/nix/: its manifest is installed in
# a booted systemd container, and the result compared with what agenix would lay out).
# Written for coffer; the files under /opt/share are made by the container test.
{ config, ... }:
{
  age.identityPaths = [
    "/opt/share/ssh_host_ed25519_key"
    "/opt/share/ssh_host_rsa_key"
  ];

  age.secrets.tailscale-authkey.file = "/opt/share/tailscale-authkey.age";
  age.secrets.nginx-htpasswd = {
    file = "/opt/share/nginx-htpasswd.age";
    mode = "0440";
    owner = "nginx";
    group = "nginx";
  };
  age.secrets.app-token = {
    file = "/opt/share/app-token.age";
    owner = "app";
  };
  age.secrets.monitrc = {
    file = "/opt/share/monitrc.age";
    path = "/etc/monitrc";
  };
  age.secrets.api-env = {
    file = "/opt/share/api-env.age";
    mode = "440";
    owner = "4242";
    group = "4242";
  };
  # encrypted to the RSA host key only
  age.secrets.passwordfile-alice.file = "/opt/share/passwordfile-alice.age";

  users.users.app.group = "app";
}
