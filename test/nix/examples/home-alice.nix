# A home-manager configuration for the user alice with sops-nix's and agenix's options
# (used by test/nix/: its sops manifest is compared with the one sops-nix's home-manager
# module writes for it).
{ config, ... }:
{
  sops.defaultSopsFile = "/home/alice/secrets/alice.yaml";
  sops.validateSopsFiles = false;
  sops.age.keyFile = "/home/alice/.config/sops/age/keys.txt";
  sops.secrets.github_token = { };
  sops.secrets.ssh-work = {
    key = "ssh/work";
    path = "/home/alice/.ssh/config.d/work";
    mode = "0600";
  };
  sops.templates.netrc.content = ''
    machine github.com login alice password ${config.sops.placeholder.github_token}
  '';

  age.secrets.npmrc.file = "/home/alice/secrets/npmrc.age";
  age.secrets.aws = {
    file = "/home/alice/secrets/aws.age";
    path = "/home/alice/.aws/credentials";
    mode = "0600";
  };
}
