# A sops-nix configuration with the sops files in the Nix store and validateSopsFiles on
# (sops-nix's default): its manifest, with store paths and file hashes, is compared with
# the one Mic92/sops-nix writes for it. The files are test/vectors/nix/secrets/.
{
  sops.defaultSopsFile = ../../vectors/nix/secrets/dao.yaml;
  sops.age.keyFile = "/var/lib/sops-nix/key.txt";
  sops.useTmpfs = true;
  sops.secrets.tailscale_authkey = { };
  sops.secrets."db/password" = { };
  sops.secrets.wireguard-key = {
    sopsFile = ../../vectors/nix/secrets/wg.bin;
    format = "binary";
  };
}
