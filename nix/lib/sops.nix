# sops-nix's option tree → coffer's manifests, checks and assertions (builtins only).
#
# The manifest is the JSON that sops-nix's `modules/sops/manifest-for.nix` writes for
# `sops-install-secrets` (docs/nixos.md "What the modules write"): the same fields with the
# same values, so that a configuration gives the same manifest under either module. coffer
# reads it with `coffer install` (docs/manifest.md).
{ util }:
let
  inherit (util)
    filterAttrs
    mapAttrsToList
    optional
    optionalAttrs
    attrName
    ;
  modes = import ./modes.nix { inherit util; };
in
rec {
  # The placeholder sops-nix puts in template text for a secret: "<SOPS:" + the SHA-256 of
  # the secret's name + ":PLACEHOLDER>" (modules/sops/templates/default.nix).
  placeholder = name: "<SOPS:${builtins.hashString "sha256" name}:PLACEHOLDER>";

  # `sops.placeholder` as the module fills it: every secret, once there are templates.
  placeholders = secrets: builtins.mapAttrs (name: _: placeholder name) secrets;

  # What sops-nix serialises of a secret and of a template (its whole submodule).
  secretFields = [
    "name"
    "key"
    "path"
    "format"
    "mode"
    "owner"
    "uid"
    "group"
    "gid"
    "sopsFile"
    "sopsFileHash"
    "restartUnits"
    "reloadUnits"
    "neededForUsers"
  ];
  templateFields = [
    "name"
    "content"
    "path"
    "mode"
    "owner"
    "uid"
    "group"
    "gid"
    "file"
    "restartUnits"
    "reloadUnits"
  ];

  # One manifest entry: those fields, plus coffer's `credential` when one is set.
  entry =
    fields: value:
    builtins.listToAttrs (
      map (f: {
        name = f;
        value = value.${f};
      }) (builtins.filter (f: value ? ${f}) fields)
    )
    // optionalAttrs ((value.credential or null) != null) { inherit (value) credential; };

  # The secret's sopsFileHash as sops-nix computes it: empty unless validateSopsFiles.
  sopsFileHash =
    validateSopsFiles: sopsFile:
    if validateSopsFiles then builtins.hashFile "sha256" sopsFile else "";

  regularSecrets = secrets: filterAttrs (_: s: !s.neededForUsers) secrets;
  usersSecrets = secrets: filterAttrs (_: s: s.neededForUsers) secrets;

  # A manifest (manifest-for.nix): `secrets` and `templates` are attribute sets of
  # evaluated submodules; `extra` is merged in last (the users manifest's paths, coffer's
  # `tailscale` section).
  manifest =
    {
      cfg,
      secrets,
      templates,
      extra ? { },
    }:
    {
      secrets = map (entry secretFields) (builtins.attrValues secrets);
      templates = map (entry templateFields) (builtins.attrValues templates);
      secretsMountPoint = "/run/secrets.d";
      symlinkPath = "/run/secrets";
      keepGenerations = cfg.keepGenerations;
      gnupgHome = cfg.gnupg.home;
      sshKeyPaths = map toString cfg.gnupg.sshKeyPaths;
      # Strings: a Nix path here would copy a private key into the store.
      ageKeyFile = if cfg.age.keyFile == null then null else toString cfg.age.keyFile;
      ageSshKeyPaths = map toString cfg.age.sshKeyPaths;
      useTmpfs = cfg.useTmpfs;
      placeholderBySecretName = cfg.placeholder;
      userMode = false;
      logging = {
        keyImport = builtins.elem "keyImport" cfg.log;
        secretChanges = builtins.elem "secretChanges" cfg.log;
      };
    }
    // extra;

  # The two manifests sops-nix writes: the regular one (no neededForUsers secrets, every
  # template) and the users one (only neededForUsers secrets, no templates), installed
  # before users exist into /run/secrets-for-users (modules/sops/secrets-for-users).
  manifests =
    {
      cfg,
      extra ? { },
    }:
    {
      regular = manifest {
        inherit cfg extra;
        secrets = regularSecrets cfg.secrets;
        inherit (cfg) templates;
      };
      users = manifest {
        inherit cfg;
        secrets = usersSecrets cfg.secrets;
        templates = { };
        extra = {
          secretsMountPoint = "/run/secrets-for-users.d";
          symlinkPath = "/run/secrets-for-users";
        };
      };
    };

  # The home-manager manifest (modules/home-manager/sops.nix of sops-nix): one user's
  # secrets, userMode (no mount, no chown, no restarts), `%r` for the runtime directory.
  userManifest =
    { cfg }:
    {
      secrets = map (entry secretFields) (builtins.attrValues cfg.secrets);
      templates = map (entry templateFields) (builtins.attrValues cfg.templates);
      secretsMountPoint = cfg.defaultSecretsMountPoint;
      symlinkPath = cfg.defaultSymlinkPath;
      keepGenerations = cfg.keepGenerations;
      gnupgHome = cfg.gnupg.home;
      sshKeyPaths = map toString cfg.gnupg.sshKeyPaths;
      ageKeyFile = if cfg.age.keyFile == null then null else toString cfg.age.keyFile;
      ageSshKeyPaths = map toString cfg.age.sshKeyPaths;
      placeholderBySecretName = cfg.placeholder;
      userMode = true;
      logging = {
        keyImport = builtins.elem "keyImport" cfg.log;
        secretChanges = builtins.elem "secretChanges" cfg.log;
      };
    };

  # Evaluation-time checks of the source files, as manifest-for.nix makes them when
  # validateSopsFiles is on: each sopsFile must be in the Nix store (a Nix path, or a
  # string under the store directory) and must exist. The store check comes first, so a
  # path outside the store is named as such instead of failing pure evaluation.
  # @returns the messages, empty when everything is fine
  sourceProblems =
    {
      secrets,
      storeDir ? builtins.storeDir,
    }:
    builtins.concatLists (
      mapAttrsToList (
        name: secret:
        let
          file = secret.sopsFile;
          where = "sops.secrets.${attrName name}.sopsFile";
          inStore = builtins.isPath file || (builtins.isString file && util.hasPrefix storeDir file);
        in
        if !inStore then
          [
            "${where} = ${builtins.toJSON (toString file)} is not in the Nix store: use a Nix path (./secrets/x.yaml) or set sops.validateSopsFiles = false"
          ]
        else if !builtins.pathExists file then
          [ "${where}: cannot find ${builtins.toJSON (toString file)}" ]
        else
          [ ]
      ) secrets
    );

  # Throws the source problems (as sops-nix does while evaluating), or returns `value`.
  checkSources =
    {
      validateSopsFiles,
      secrets,
      storeDir ? builtins.storeDir,
    }:
    value:
    let
      problems = if validateSopsFiles then sourceProblems { inherit secrets storeDir; } else [ ];
    in
    if problems == [ ] then
      value
    else
      throw "coffer: the sops files cannot be checked:\n${
        builtins.concatStringsSep "\n" (map (p: "- ${p}") problems)
      }";

  # The module's assertions: sops-nix's (a key source, GnuPG home xor GnuPG SSH keys, a
  # name or a non-zero id, root-owned secrets for users, sysusers needs mutable users)
  # and coffer's (modes coffer can install).
  # @param sysusers whether systemd.sysusers.enable is on
  # @param mutableUsers users.mutableUsers
  # @returns a list of { assertion; message; }
  assertions =
    {
      cfg,
      sysusers ? false,
      mutableUsers ? true,
    }:
    let
      secretList = mapAttrsToList (name: s: { inherit name s; }) cfg.secrets;
      templateList = mapAttrsToList (name: t: { inherit name t; }) cfg.templates;
      forUsers = usersSecrets cfg.secrets;
      ownership =
        kind: name: v:
        let
          where = "sops.${kind}.${attrName name}";
        in
        [
          {
            assertion = !(v.owner != null && v.uid != null && v.uid != 0);
            message = "${where}: set owner or uid, not both (owner = ${util.show v.owner}, uid = ${toString v.uid})";
          }
          {
            assertion = !(v.group != null && v.gid != null && v.gid != 0);
            message = "${where}: set group or gid, not both (group = ${util.show v.group}, gid = ${toString v.gid})";
          }
        ];
    in
    optional (cfg.secrets != { }) {
      assertion =
        cfg.gnupg.home != null
        || cfg.gnupg.sshKeyPaths != [ ]
        || cfg.age.keyFile != null
        || cfg.age.sshKeyPaths != [ ];
      message = "sops: no key to decrypt with: enable services.openssh (its ed25519 host key becomes sops.age.sshKeyPaths), or set sops.age.keyFile, sops.age.sshKeyPaths or sops.gnupg.home";
    }
    ++ [
      {
        assertion = !(cfg.gnupg.home != null && cfg.gnupg.sshKeyPaths != [ ]);
        message = "sops.gnupg.home and sops.gnupg.sshKeyPaths exclude each other: set sops.gnupg.sshKeyPaths = [ ] to use the GnuPG home";
      }
    ]
    ++ builtins.concatMap ({ name, s }: ownership "secrets" name s) secretList
    ++ builtins.concatMap ({ name, t }: ownership "templates" name t) templateList
    ++ builtins.concatMap (
      { name, s }: modes.assertions "sops.secrets.${attrName name}.mode" s.mode
    ) secretList
    ++ builtins.concatMap (
      { name, t }: modes.assertions "sops.templates.${attrName name}.mode" t.mode
    ) templateList
    ++ mapAttrsToList (name: s: {
      assertion =
        (s.owner == null || s.owner == "root" || s.owner == "0")
        && (s.uid == null || s.uid == 0)
        && (s.group == null || s.group == "root" || s.group == "0")
        && (s.gid == null || s.gid == 0);
      message = "sops.secrets.${attrName name}: a neededForUsers secret is installed before users and groups exist, so it must be owned by root (remove owner, group, uid and gid)";
    }) forUsers
    ++ optional (cfg.age.generateKey or false) (generateKeyAssertion cfg)
    ++ optional (forUsers != { } && sysusers) {
      assertion = mutableUsers;
      message = "sops: neededForUsers secrets with systemd.sysusers.enable need users.mutableUsers = true (sops-nix issue #475)";
    };

  # sops.age.generateKey makes the key at sops.age.keyFile, so it needs one (sops-nix would
  # run `age-keygen -o ''` at activation).
  generateKeyAssertion = cfg: {
    assertion = cfg.age.keyFile != null;
    message = "sops.age.generateKey = true needs sops.age.keyFile, the file the key is made in (for example sops.age.keyFile = \"/var/lib/sops-nix/key.txt\";)";
  };

  # The build-time check of a manifest, run in the manifest's checkPhase as sops-nix runs
  # `sops-install-secrets -check-mode=…`: with validateSopsFiles every sops file is parsed
  # as ciphertext and every key must exist in it (no decryption, no user lookups).
  # @param coffer the coffer package for the build platform
  checkCommand =
    { coffer, validateSopsFiles }:
    ''${coffer}/bin/coffer install --ignore-passwd --check-mode=${
      if validateSopsFiles then "sopsfile" else "manifest"
    } "$out"'';
}
