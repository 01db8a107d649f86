# How `coffer install` runs on NixOS (builtins only): the settings of the install units
# (NixOS's systemd.services.<name> options) and the activation-script snippets.
#
# The units say what `coffer units --nixos` writes (docs/manifest.md "systemd units"), under
# the names sops-nix and agenix configurations already order against. The reasons are in
# docs/nixos.md "Units and activation".
{ util }:
let
  inherit (util) unique;
in
rec {
  # `coffer install` with its flags, as one command line.
  installCommand =
    {
      coffer,
      manifest,
      args ? [ ],
    }:
    builtins.concatStringsSep " " ([ "${coffer}/bin/coffer" "install" ] ++ args ++ [ "${manifest}" ]);

  # What the installer reads, for RequiresMountsFor= (keys on late mounts: impermanence,
  # ZFS datasets; sops files outside the store).
  mountsFor =
    manifestValue:
    unique (
      (if manifestValue.ageKeyFile != null then [ manifestValue.ageKeyFile ] else [ ])
      ++ manifestValue.ageSshKeyPaths
      ++ manifestValue.sshKeyPaths
      ++ (if manifestValue.gnupgHome != null then [ manifestValue.gnupgHome ] else [ ])
      ++ map (s: toString s.sopsFile) manifestValue.secrets
    );

  # The regular install unit: oneshot, part of early boot, done before sysinit.target
  # (a target does not wait for a DefaultDependencies=no unit it only wants), after local
  # file systems and user creation, and re-run first on every switch
  # (sysinit-reactivation.target).
  # @param manifest the manifest file (a store path)
  # @param manifestValue the manifest as a Nix value (for the paths it reads)
  # @param environment extra variables (sops.environment)
  # @param path packages on PATH (age plugins)
  installService =
    {
      coffer,
      manifest,
      manifestValue,
      description,
      args ? [ ],
      environment ? { },
      path ? [ ],
    }:
    {
      inherit description path;
      wantedBy = [ "sysinit.target" ];
      requiredBy = [ "sysinit-reactivation.target" ];
      after = [
        "local-fs.target"
        "systemd-sysusers.service"
        "userborn.service"
      ];
      before = [
        "sysinit.target"
        "shutdown.target"
        "sysinit-reactivation.target"
      ];
      conflicts = [ "shutdown.target" ];
      environment = environment // {
        SOPS_RESTART_UNITS_VIA_SYSTEMCTL = "1";
        HOME = "/var/empty";
      };
      unitConfig = {
        DefaultDependencies = "no";
        RequiresMountsFor = mountsFor manifestValue;
      };
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        UMask = "0077";
        ExecStart = [ (installCommand { inherit coffer manifest args; }) ];
      };
    };

  # The users install unit (neededForUsers secrets): before systemd-sysusers and userborn
  # create accounts, everything owned by root.
  usersInstallService =
    {
      coffer,
      manifest,
      manifestValue,
      description,
      environment ? { },
      path ? [ ],
    }:
    {
      inherit description path;
      wantedBy = [
        "sysinit.target"
        "systemd-sysusers.service"
        "userborn.service"
      ];
      before = [
        "systemd-sysusers.service"
        "userborn.service"
        "sysinit.target"
        "shutdown.target"
      ];
      conflicts = [ "shutdown.target" ];
      environment = environment // {
        HOME = "/var/empty";
      };
      unitConfig = {
        DefaultDependencies = "no";
        RequiresMountsFor = mountsFor manifestValue;
      };
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        UMask = "0077";
        ExecStart = [
          (installCommand {
            inherit coffer manifest;
            args = [ "--ignore-passwd" ];
          })
        ];
      };
    };

  # A subshell running `coffer install` for an activation snippet: HOME=/var/empty (so
  # nothing looks for keys in a home directory), the extra environment, plugins on PATH.
  # Values go inside single quotes without further escaping, as sops-nix does with
  # sops.environment, so a value may close the quotes on purpose.
  activationCommand =
    {
      coffer,
      manifest,
      args ? [ ],
      environment ? { },
      path ? [ ],
    }:
    let
      lines =
        [ "export HOME='/var/empty'" ]
        ++ util.mapAttrsToList (name: value: "export ${name}='${toString value}'") environment
        ++ util.optional (
          path != [ ] && !(environment ? PATH)
        ) "export PATH=${util.escapeShellArg (util.makeBinPath path)}\"\${PATH:+:$PATH}\""
        ++ [ (installCommand { inherit coffer manifest args; }) ];
    in
    "(\n${util.concatMapStrings (line: "  ${line}\n") lines})";

  # sops-nix's activation snippet: run after specialfs, users and groups (and the age key
  # generation); supports dry activation (coffer reads NIXOS_ACTION=dry-activate).
  activationSnippet =
    {
      deps,
      message,
      command,
    }:
    {
      inherit deps;
      text = "[ -e /run/current-system ] || echo ${message}\n${command}\n";
      supportsDryActivation = true;
    };

  # agenix's snippets on a classic system: the secrets are there before NixOS creates
  # users (agenixInstall; `users` depends on it, for password files), and their owners are
  # applied after (agenixChown). coffer installs in agenixInstall; if that could not
  # install everything (an owner that does not exist until the users snippet made it),
  # it installs again in agenixChown. The first attempt's messages are shown only when it
  # is the last.
  agenixSnippets =
    { command }:
    {
      agenixNewGeneration = {
        deps = [ "specialfs" ];
        text = "";
      };
      agenixInstall = {
        deps = [
          "agenixNewGeneration"
          "specialfs"
        ];
        text = ''
          echo '[coffer] installing the agenix secrets...'
          _coffer_agenix_done=0
          if _coffer_agenix_log=$( ${command} 2>&1 ); then _coffer_agenix_done=1; fi
        '';
      };
      agenixChown = {
        deps = [
          "users"
          "groups"
        ];
        text = ''
          if [ "''${_coffer_agenix_done:-0}" = 1 ]; then
            [ -z "$_coffer_agenix_log" ] || printf '%s\n' "$_coffer_agenix_log"
          else
            echo '[coffer] installing the agenix secrets again, now that users and groups exist...'
            ${command}
          fi
          unset _coffer_agenix_done _coffer_agenix_log
        '';
      };
      agenix = {
        deps = [ "agenixChown" ];
        text = "";
      };
    };

  # sops-nix's snippet that makes an age key on first boot (coffer age-keygen never
  # overwrites a file).
  generateAgeKeySnippet =
    { coffer, keyFile }:
    let
      file = util.escapeShellArg keyFile;
    in
    {
      deps = [ ];
      text = ''
        if [[ ! -f ${file} ]]; then
          echo generating machine-specific age key...
          mkdir -p "$(dirname ${file})"
          ${coffer}/bin/coffer age-keygen -o ${file}
        fi
      '';
    };
}
