# Small helpers over builtins, so that nix/lib needs nothing from nixpkgs.
rec {
  hasPrefix = prefix: s: builtins.substring 0 (builtins.stringLength prefix) s == prefix;
  hasSuffix =
    suffix: s:
    let
      n = builtins.stringLength s;
      m = builtins.stringLength suffix;
    in
    n >= m && builtins.substring (n - m) m s == suffix;

  optional = cond: x: if cond then [ x ] else [ ];
  optionals = cond: xs: if cond then xs else [ ];
  optionalAttrs = cond: attrs: if cond then attrs else { };
  optionalString = cond: s: if cond then s else "";

  concatMapStrings = f: xs: builtins.concatStringsSep "" (map f xs);
  mapAttrsToList = f: attrs: map (name: f name attrs.${name}) (builtins.attrNames attrs);
  filterAttrs =
    pred: attrs:
    builtins.listToAttrs (
      builtins.concatMap (
        name: if pred name attrs.${name} then [ { inherit name; value = attrs.${name}; } ] else [ ]
      ) (builtins.attrNames attrs)
    );
  unique = builtins.foldl' (acc: x: if builtins.elem x acc then acc else acc ++ [ x ]) [ ];
  last = xs: builtins.elemAt xs (builtins.length xs - 1);

  # The segments of a string split at `sep` (a literal character), keeping empty ones.
  splitOn = sep: s: builtins.filter builtins.isString (builtins.split (escapeRegex sep) s);
  escapeRegex = s: builtins.replaceStrings [ "." "/" "+" "*" "?" "(" ")" "[" "]" "{" "}" "|" "^" "$" "\\" ] [ "\\." "/" "\\+" "\\*" "\\?" "\\(" "\\)" "\\[" "\\]" "\\{" "\\}" "\\|" "\\^" "\\$" "\\\\" ] s;

  # The characters of a string.
  splitChars = s: builtins.genList (i: builtins.substring i 1 s) (builtins.stringLength s);

  # One word for a POSIX shell: single-quoted, `'` written as '\''.
  escapeShellArg = s: "'${builtins.replaceStrings [ "'" ] [ "'\\''" ] (toString s)}'";

  # `bin` directories of packages, `:`-separated.
  makeBinPath = pkgs: builtins.concatStringsSep ":" (map (p: "${p}/bin") pkgs);

  # "a", "a and b", "a, b and c"
  humanList =
    xs:
    let
      n = builtins.length xs;
    in
    if n == 0 then
      ""
    else if n == 1 then
      builtins.head xs
    else
      "${builtins.concatStringsSep ", " (builtins.genList (i: builtins.elemAt xs i) (n - 1))} and ${last xs}";

  # A value as the Nix expression a user would write, for messages.
  show = v: if builtins.isString v then builtins.toJSON v else if v == null then "null" else toString v;

  # An attribute name as Nix writes it in an option path: quoted unless it is an identifier.
  attrName = name: if builtins.match "[A-Za-z_][A-Za-z0-9_'-]*" name != null then name else builtins.toJSON name;
}
