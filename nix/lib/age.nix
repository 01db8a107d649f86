# agenix's option tree → a coffer manifest and assertions (builtins only).
#
# agenix decrypts each `.age` file with `age --decrypt -i …` into /run/agenix.d/<generation>
# and points /run/agenix at it (modules/age.nix of ryantm/agenix). coffer does the same from
# a manifest whose secrets have `format = "age"` (docs/manifest.md "Age-file secrets"): the
# whole file is the secret, the identities are agenix's identityPaths (SSH host keys, which
# age and coffer take natively, or age identity files).
{ util }:
let
  inherit (util) mapAttrsToList optional attrName;
  modes = import ./modes.nix { inherit util; };
in
rec {
  # Where a secret lives when its path is left alone: <secretsDir>/<name>.
  defaultPath = cfg: name: "${toString cfg.secretsDir}/${name}";

  # One manifest entry. owner and group are agenix's strings (names or numbers, as chown
  # takes them): coffer takes a name made of digits as the id.
  entry = cfg: s: {
    inherit (s) name owner group;
    # agenix hands `mode` to chmod: symbolic modes become the octal mode chmod would give
    mode = modes.fromChmod s.mode;
    key = "";
    format = "age";
    sopsFile = s.file;
    path = s.path;
    uid = 0;
    gid = 0;
    restartUnits = s.restartUnits or [ ];
    reloadUnits = s.reloadUnits or [ ];
    neededForUsers = false;
  };

  # The manifest: one generation directory under secretsMountPoint, linked from
  # secretsDir; agenix keeps only the current generation (it removes the previous one).
  manifest =
    {
      cfg,
      extra ? { },
    }:
    {
      secrets = map (entry cfg) (builtins.attrValues cfg.secrets);
      templates = [ ];
      placeholderBySecretName = { };
      secretsMountPoint = cfg.secretsMountPoint;
      symlinkPath = toString cfg.secretsDir;
      keepGenerations = 1;
      gnupgHome = null;
      sshKeyPaths = [ ];
      ageKeyFile = null;
      # Strings, never copied into the store: these are private keys.
      ageSshKeyPaths = map toString cfg.identityPaths;
      useTmpfs = false;
      userMode = false;
      logging = {
        keyImport = true;
        secretChanges = true;
      };
    }
    // extra;

  # coffer's mode assertions for an agenix mode (octal, or chmod's symbolic form).
  modeAssertions =
    where: mode:
    let
      octal = modes.fromChmod mode;
      why =
        if modes.parse octal == null then
          "${builtins.toJSON mode} is neither an octal mode such as \"0400\" nor chmod's u/g/o/a with +, - or = of r, w and x (such as \"u=r,g=r\")"
        else if modes.problem octal == null then
          null
        else if octal == mode then
          modes.problem mode
        else
          "${builtins.toJSON mode} (as chmod applies it: ${modes.problem octal})";
    in
    [
      {
        assertion = why == null;
        message = "${where} = ${if why == null then "" else why}";
      }
    ];

  # agenix's assertion (identities when there are secrets) and coffer's: modes coffer can
  # install, no plaintext outside the RAM filesystem, a usable mount point.
  assertions =
    { cfg }:
    let
      secretList = mapAttrsToList (name: s: { inherit name s; }) cfg.secrets;
      mount = cfg.secretsMountPoint;
    in
    optional (cfg.secrets != { }) {
      assertion = cfg.identityPaths != [ ];
      message = "age.identityPaths is empty: enable services.openssh (its host keys are the default) or list the keys to decrypt with";
    }
    ++ [
      {
        assertion =
          builtins.match "[ \t\n]*" mount == null && builtins.match ".+/" mount == null && util.hasPrefix "/" mount;
        message = "age.secretsMountPoint = ${builtins.toJSON mount} must be an absolute path without a trailing slash";
      }
    ]
    ++ builtins.concatMap (
      { name, s }: modeAssertions "age.secrets.${attrName name}.mode" s.mode
    ) secretList
    ++ map (
      { name, s }:
      {
        assertion = s.symlink || s.path == defaultPath cfg s.name;
        message = "age.secrets.${attrName name}.symlink = false would write the plaintext to ${builtins.toJSON s.path}, outside the RAM filesystem, where nothing removes it: coffer does not do that. Keep symlink = true (the file at ${builtins.toJSON (defaultPath cfg s.name)} is a regular file on a ramfs), or give the program a private copy with systemd's LoadCredential=";
      }
    ) secretList;

  # What a configuration written for agenix may expect and coffer does not do: run
  # `age.ageBin` (agenix users set it to a wrapper with age plugins on PATH).
  # @param defaultAgeBin the option's default (nothing to say when it is left alone)
  # @returns the warnings' texts
  warnings =
    { cfg, defaultAgeBin }:
    optional (cfg.secrets != { } && cfg.ageBin != defaultAgeBin) "age.ageBin = ${builtins.toJSON cfg.ageBin} is not run: coffer decrypts the age files by itself. Remove age.ageBin; put the age plugins it had on PATH into age.plugins (for example age.plugins = [ pkgs.age-plugin-yubikey ];)";

  # The build-time check of the manifest: every .age file in the store must exist (files
  # outside the store are not in the build sandbox, so then only the manifest is checked).
  checkCommand =
    { coffer, cfg }:
    let
      inStore = s: builtins.isPath s.file || util.hasPrefix "${builtins.storeDir}/" (toString s.file);
      mode = if builtins.all inStore (builtins.attrValues cfg.secrets) then "sopsfile" else "manifest";
    in
    ''${coffer}/bin/coffer install --ignore-passwd --check-mode=${mode} "$out"'';

  # The home-manager manifest (modules/age-home.nix of agenix): agenix writes its user paths
  # with a literal $XDG_RUNTIME_DIR (in braces), which coffer's userMode manifests write `%r`.
  runtimeDir = path: builtins.replaceStrings [ "\${XDG_RUNTIME_DIR}" ] [ "%r" ] (toString path);

  userManifest =
    { cfg }:
    let
      base = manifest { inherit cfg; };
    in
    base
    // {
      secrets = map (s: s // { path = runtimeDir s.path; owner = null; group = null; }) base.secrets;
      secretsMountPoint = runtimeDir cfg.secretsMountPoint;
      symlinkPath = runtimeDir cfg.secretsDir;
      userMode = true;
    };
}
