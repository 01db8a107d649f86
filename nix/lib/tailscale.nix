# services.coffer.tailscale → the manifest's `tailscale` section (docs/manifest.md, the
# section the Tailscale unit reads) and its checks (builtins only).
{ util }:
let
  inherit (util) optional;
in
rec {
  # Every field of the section, in the manifest's names; the options have the same names.
  fields = [
    "authKeySecret"
    "oauthClientSecret"
    "apiUrl"
    "tailnet"
    "loginServer"
    "hostname"
    "advertiseTags"
    "advertiseRoutes"
    "advertiseExitNode"
    "acceptDns"
    "acceptRoutes"
    "ssh"
    "extraUpFlags"
    "socket"
    "timeout"
    "unit"
  ];

  # The section: every field, as the options say (null: leave tailscale's default).
  section =
    cfg:
    builtins.listToAttrs (
      map (f: {
        name = f;
        value = cfg.${f};
      }) fields
    );

  # The secret the section names: the auth key, or else the OAuth client secret.
  secretName = cfg: if cfg.authKeySecret != null then cfg.authKeySecret else cfg.oauthClientSecret;

  # Which secret tree holds the key: "sops" or "age".
  # @param sopsSecrets names of the regular (not neededForUsers) sops secrets
  # @param ageSecrets names of the age secrets
  # @returns "sops", "age", or null when neither (or both) does; see `assertions`
  source =
    {
      cfg,
      sopsSecrets,
      ageSecrets,
    }:
    let
      name = secretName cfg;
      inSops = builtins.elem name sopsSecrets;
      inAge = builtins.elem name ageSecrets;
    in
    if cfg.secretsFrom != null then
      cfg.secretsFrom
    else if inSops && !inAge then
      "sops"
    else if inAge && !inSops then
      "age"
    else
      null;

  # What the section needs: exactly one key secret, declared in the tree it is taken from;
  # tags for an OAuth client; no second join through nixpkgs' services.tailscale.authKeyFile.
  assertions =
    {
      cfg,
      sopsSecrets,
      ageSecrets,
      nixpkgsAuthKeyFile ? null,
    }:
    let
      name = secretName cfg;
      from = source { inherit cfg sopsSecrets ageSecrets; };
      names = if from == "sops" then sopsSecrets else if from == "age" then ageSecrets else [ ];
      option =
        if cfg.authKeySecret != null then
          "services.coffer.tailscale.authKeySecret"
        else
          "services.coffer.tailscale.oauthClientSecret";
      both = builtins.elem name sopsSecrets && builtins.elem name ageSecrets;
    in
    [
      {
        assertion = (cfg.authKeySecret == null) != (cfg.oauthClientSecret == null);
        message = "services.coffer.tailscale: set exactly one of authKeySecret and oauthClientSecret (the name of the secret that holds the key)";
      }
    ]
    ++ optional (name != null) {
      assertion = from != null && builtins.elem name names;
      message =
        if both && cfg.secretsFrom == null then
          "${option} = ${builtins.toJSON name}: both sops.secrets and age.secrets have it; set services.coffer.tailscale.secretsFrom = \"sops\" or \"age\""
        else if cfg.secretsFrom != null then
          "${option} = ${builtins.toJSON name}: ${
            if cfg.secretsFrom == "sops" then "sops.secrets" else "age.secrets"
          } has no such secret${
            util.optionalString (cfg.secretsFrom == "sops") " (neededForUsers secrets do not count)"
          }"
        else
          "${option} = ${builtins.toJSON name}: no such secret; declare it, for example sops.secrets.${util.attrName name} = { }; or age.secrets.${util.attrName name}.file = ./secrets/${name}.age;";
    }
    ++ optional (cfg.oauthClientSecret != null) {
      assertion = cfg.advertiseTags != [ ];
      message = "services.coffer.tailscale.oauthClientSecret needs advertiseTags: keys minted with an OAuth client must be tagged";
    }
    ++ [
      {
        assertion = nixpkgsAuthKeyFile == null;
        message = "services.coffer.tailscale and services.tailscale.authKeyFile both join the tailnet: remove services.tailscale.authKeyFile";
      }
    ];
}
