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

  # "0440" for 288.
  format =
    value:
    let
      digit = v: i: toString (builtins.bitAnd (v / (builtins.elemAt [ 512 64 8 1 ] i)) 7);
    in
    builtins.concatStringsSep "" (builtins.genList (digit value) 4);

  # agenix's `mode`, which it hands to chmod on a file it made under umask u=r,g=,o= (so
  # the file starts as 0400): an octal mode as it is, or chmod's symbolic form with
  # explicit users, `u`, `g`, `o`, `a`, each clause one `+`, `-` or `=` of `r`, `w`, `x`
  # ("u=r,g=r", "ug=r", "g+r"), turned into the octal mode chmod would leave.
  # @returns the octal mode, or the text as it is when it is neither (refused later)
  fromChmod =
    mode:
    let
      clauses = util.splitOn "," mode;
      parsed = map (c: builtins.match "([ugoa]+)([-+=])([rwx]*)" c) clauses;
      shifts =
        who:
        builtins.concatMap (
          w:
          if w == "u" then
            [ 64 ]
          else if w == "g" then
            [ 8 ]
          else if w == "o" then
            [ 1 ]
          else
            [
              64
              8
              1
            ]
        ) (util.splitChars who);
      perms =
        text:
        builtins.foldl' (
          acc: c:
          builtins.bitOr acc (
            if c == "r" then
              4
            else if c == "w" then
              2
            else
              1
          )
        ) 0 (util.splitChars text);
      apply =
        value: clause:
        let
          who = builtins.elemAt clause 0;
          op = builtins.elemAt clause 1;
          p = perms (builtins.elemAt clause 2);
        in
        builtins.foldl' (
          v: shift:
          if op == "+" then
            builtins.bitOr v (p * shift)
          else if op == "-" then
            builtins.bitAnd v (builtins.bitXor 4095 (p * shift))
          else
            builtins.bitOr (builtins.bitAnd v (builtins.bitXor 4095 (7 * shift))) (p * shift)
        ) value (shifts who);
    in
    if parse mode != null || !builtins.isString mode || builtins.elem null parsed then
      mode
    else
      format (builtins.foldl' apply 256 parsed);

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
