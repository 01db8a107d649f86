# File modes as coffer installs them (docs/manifest.md "What validation refuses"): octal,
# at most 0777, never readable or writable by others.
{ util }:
rec {
  digits = builtins.listToAttrs (
    builtins.genList (i: {
      name = toString i;
      value = i;
    }) 8
  );

  # The mode's value, or null when it is not 1 to 4 octal digits.
  parse =
    mode:
    if !builtins.isString mode || builtins.match "[0-7]{1,4}" mode == null then
      null
    else
      builtins.foldl' (acc: d: acc * 8 + digits.${d}) 0 (
        builtins.genList (i: builtins.substring i 1 mode) (builtins.stringLength mode)
      );

  # Why coffer would refuse the mode, or null.
  problem =
    mode:
    let
      value = parse mode;
      bit = b: builtins.bitAnd value b != 0;
    in
    if value == null then
      "${util.show mode} is not an octal mode such as \"0400\" (coffer takes no symbolic modes)"
    else if value > 511 then
      "${util.show mode} sets setuid, setgid or sticky bits"
    else if bit 6 then
      "${util.show mode} lets every user read or write the secret: coffer never installs that (use a group and \"0440\")"
    else
      null;

  # An assertion for the option at `where` (for example sops.secrets.x.mode).
  assertions =
    where: mode:
    let
      why = problem mode;
    in
    [
      {
        assertion = why == null;
        message = "${where} = ${if why == null then "" else why}";
      }
    ];
}
