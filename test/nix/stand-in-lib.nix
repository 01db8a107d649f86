# A stand-in for the few nixpkgs `lib` functions coffer's modules use (test only).
#
# nixpkgs cannot be fetched where the tests run, so test/nix/ evaluates the modules in
# nix/modules/ with this small module system instead: option declarations with defaults,
# definitions merged by type with mkIf/mkMerge/mkDefault/mkForce, submodules that get their
# attribute `name`, `_module.args`, renamed options, and errors for undeclared options and
# wrong types. It follows the behaviour of nixpkgs' lib/modules.nix, lib/types.nix and
# lib/options.nix as documented in the NixOS manual ("Writing NixOS Modules", "Option
# Types", "Option Definitions"); it is not a copy of them, and it does far less: no
# freeform modules, no option docs, no `apply`, no `_module.check = false`, and priorities
# only as mkOverride sets them. test/nix/harness.nix takes it or the real lib alike.
let
  lib = rec {
    inherit (builtins)
      mapAttrs
      attrNames
      attrValues
      ;

    # --- strings and lists used by the modules ---
    hasPrefix = p: s: builtins.substring 0 (builtins.stringLength p) s == p;
    hasSuffix =
      suffix: s:
      let
        n = builtins.stringLength s;
        m = builtins.stringLength suffix;
      in
      n >= m && builtins.substring (n - m) m s == suffix;
    removeSuffix =
      suffix: s:
      if hasSuffix suffix s then
        builtins.substring 0 (builtins.stringLength s - builtins.stringLength suffix) s
      else
        s;
    optional = c: x: if c then [ x ] else [ ];
    literalExpression = text: {
      _type = "literalExpression";
      inherit text;
    };
    literalMD = text: {
      _type = "literalMD";
      inherit text;
    };
    showOption = loc: builtins.concatStringsSep "." loc;
    setAttrByPath =
      path: value:
      if path == [ ] then value else { ${builtins.head path} = setAttrByPath (builtins.tail path) value; };
    getAttrFromPath =
      path: attrs: builtins.foldl' (a: n: a.${n}) attrs path;

    # --- properties ---
    isType = t: x: builtins.isAttrs x && (x._type or null) == t;
    mkOption = attrs: attrs // { _type = "option"; };
    mkEnableOption =
      name:
      mkOption {
        type = types.bool;
        default = false;
        description = "Whether to enable ${name}.";
      };
    mkIf = condition: content: {
      _type = "if";
      inherit condition content;
    };
    mkMerge = contents: {
      _type = "merge";
      inherit contents;
    };
    mkOverride = priority: content: {
      _type = "override";
      inherit priority content;
    };
    mkDefault = mkOverride 1000;
    mkOptionDefault = mkOverride 1500;
    mkForce = mkOverride 50;

    # A value at a node that holds options (not an option itself) as a list of attribute
    # sets, with mkMerge split and mkIf/mkOverride moved onto each attribute. Conditions are
    # not evaluated here, so `config.x` may depend on a mkIf that also defines other things.
    pushDown =
      v:
      if isType "merge" v then
        builtins.concatMap pushDown v.contents
      else if isType "if" v then
        map (mapAttrs (_: mkIf v.condition)) (pushDown v.content)
      else if isType "override" v then
        map (mapAttrs (_: mkOverride v.priority)) (pushDown v.content)
      else
        [ v ];

    # An option's definition as { value; priority; } entries: mkMerge split, mkIf decided.
    discharge =
      v:
      if isType "merge" v then
        builtins.concatMap discharge v.contents
      else if isType "if" v then
        (if v.condition then discharge v.content else [ ])
      else if isType "override" v then
        map (d: d // { priority = v.priority; }) (discharge v.content)
      else
        [
          {
            value = v;
            priority = 100;
          }
        ];

    # The definitions that win: those of the lowest priority number.
    winners =
      defs:
      let
        best = builtins.foldl' (m: d: if d.priority < m then d.priority else m) 9999 defs;
      in
      map (d: d.value) (builtins.filter (d: d.priority == best) defs);

    # --- types ---
    mkType =
      {
        name,
        description ? name,
        check,
        merge,
        getSubOptions ? (_: { }),
      }:
      {
        _type = "option-type";
        inherit
          name
          description
          check
          merge
          getSubOptions
          ;
      };
    mergeEqual =
      loc: values:
      if builtins.all (v: v == builtins.head values) values then
        builtins.head values
      else
        throw "The option `${showOption loc}' has conflicting definition values.";
    # types.anything: attribute sets merged attribute by attribute, anything else (lists,
    # packages) only when every definition is equal.
    mergeAnything =
      loc: values:
      if builtins.length values == 1 then
        builtins.head values
      else if builtins.all (v: builtins.isAttrs v && !(v ? outPath)) values then
        builtins.zipAttrsWith (
          name: vs:
          let
            ds = winners (builtins.concatMap discharge vs);
          in
          mergeAnything (loc ++ [ name ]) ds
        ) values
      else
        mergeEqual loc values;

    types = rec {
      str = mkType {
        name = "str";
        description = "string";
        check = builtins.isString;
        merge = mergeEqual;
      };
      singleLineStr = mkType {
        name = "singleLineStr";
        description = "string without line breaks";
        check = v: builtins.isString v && builtins.match "[^\n\r]*\n?" v != null;
        merge = loc: values: removeSuffix "\n" (mergeEqual loc values);
      };
      lines = mkType {
        name = "lines";
        description = "strings concatenated with \"\\n\"";
        check = builtins.isString;
        merge = _: values: builtins.concatStringsSep "\n" values;
      };
      int = mkType {
        name = "int";
        description = "signed integer";
        check = builtins.isInt;
        merge = mergeEqual;
      };
      ints.unsigned = addCheck int (v: v >= 0) // {
        description = "unsigned integer";
      };
      bool = mkType {
        name = "bool";
        description = "boolean";
        check = builtins.isBool;
        merge = mergeEqual;
      };
      path = mkType {
        name = "path";
        description = "absolute path";
        check = v: builtins.isPath v || (builtins.isString v && hasPrefix "/" v) || (v ? outPath);
        merge = mergeEqual;
      };
      package = mkType {
        name = "package";
        check = v: builtins.isAttrs v && (v ? outPath || (v.type or null) == "derivation");
        merge = mergeEqual;
      };
      attrs = mkType {
        name = "attrs";
        description = "attribute set";
        check = builtins.isAttrs;
        merge = _: values: builtins.foldl' (a: b: a // b) { } values;
      };
      anything = mkType {
        name = "anything";
        check = _: true;
        merge = mergeAnything;
      };
      unspecified = anything // {
        name = "unspecified";
      };
      enum =
        values:
        mkType {
          name = "enum";
          description = "one of ${builtins.concatStringsSep ", " (map builtins.toJSON values)}";
          check = v: builtins.elem v values;
          merge = mergeEqual;
        };
      addCheck =
        t: f:
        t
        // {
          check = v: t.check v && f v;
        };
      nullOr =
        t:
        mkType {
          name = "nullOr";
          description = "null or ${t.description}";
          inherit (t) getSubOptions;
          check = v: v == null || t.check v;
          merge =
            loc: values:
            let
              nulls = builtins.filter (v: v == null) values;
            in
            if nulls == values then
              null
            else if nulls == [ ] then
              t.merge loc values
            else
              throw "The option `${showOption loc}' is defined both null and not null.";
        };
      either =
        a: b:
        mkType {
          name = "either";
          description = "${a.description} or ${b.description}";
          check = v: a.check v || b.check v;
          merge =
            loc: values:
            if builtins.all a.check values then
              a.merge loc values
            else if builtins.all b.check values then
              b.merge loc values
            else
              throw "The option `${showOption loc}' has values of different types.";
        };
      listOf =
        t:
        mkType {
          name = "listOf";
          description = "list of ${t.description}";
          inherit (t) getSubOptions;
          check = v: builtins.isList v;
          merge =
            loc: values:
            let
              all = builtins.concatLists values;
            in
            if builtins.all t.check all then
              builtins.genList (i: t.merge (loc ++ [ "[${toString i}]" ]) [ (builtins.elemAt all i) ]) (
                builtins.length all
              )
            else
              throw "A definition for option `${showOption loc}' is not of type `${t.description}'.";
        };
      attrsOf =
        t:
        mkType {
          name = "attrsOf";
          description = "attribute set of ${t.description}";
          inherit (t) getSubOptions;
          check = builtins.isAttrs;
          merge =
            loc: values:
            let
              zipped = builtins.zipAttrsWith (_: vs: winners (builtins.concatMap discharge vs)) values;
              kept = builtins.removeAttrs zipped (
                builtins.filter (n: zipped.${n} == [ ]) (attrNames zipped)
              );
            in
            mapAttrs (
              name: vs:
              let
                where = loc ++ [ name ];
              in
              if builtins.all t.check vs then
                t.merge where vs
              else
                throw "A definition for option `${showOption where}' is not of type `${t.description}'."
            ) kept;
        };
      lazyAttrsOf = attrsOf;
      submodule =
        module:
        mkType {
          name = "submodule";
          check = v: builtins.isAttrs v || builtins.isFunction v || builtins.isPath v;
          # The submodule's option declarations, for listing option names.
          getSubOptions =
            prefix:
            (evalModules {
              modules = [ module ];
              inherit prefix;
              args.name = "<name>";
            }).options;
          merge =
            loc: values:
            let
              # A definition that is an attribute set only defines config (its `key`,
              # `imports`, ... are options of the submodule, not module attributes).
              result = evalModules {
                modules = [ module ] ++ map (v: if builtins.isAttrs v then { config = v; } else v) values;
                prefix = loc;
                args.name = builtins.elemAt loc (builtins.length loc - 1);
              };
            in
            if result._undeclared == [ ] then
              result.config
            else
              throw "The option `${builtins.head result._undeclared}' does not exist.";
        };
    };

    # --- renamed options ---
    mkRenamedOptionModule =
      from: to:
      { config, ... }:
      let
        value = getAttrFromPath from config;
      in
      {
        options = setAttrByPath from (mkOption {
          type = types.nullOr types.anything;
          default = null;
          visible = false;
        });
        config = mkIf (value != null) (
          setAttrByPath to value
          // {
            warnings = [
              "The option `${showOption from}' has been renamed to `${showOption to}'."
            ];
          }
        );
      };

    # --- evaluation ---
    # Modules as { key; options; config; imports; }.
    normalise =
      args: index: m:
      let
        key = if builtins.isPath m || builtins.isString m then toString m else "anonymous-${index}";
        value = if builtins.isPath m || builtins.isString m then import m else m;
        # Each argument the function names, looked up only when used (so `_module.args` may
        # come from the modules being collected).
        called =
          if builtins.isFunction value then
            value (builtins.mapAttrs (name: _: args.__lookup name) (builtins.functionArgs value))
          else
            value;
        structured = called ? options || called ? config;
      in
      {
        inherit key;
        imports = called.imports or [ ];
        options = called.options or { };
        config =
          if structured then
            called.config or { }
          else
            builtins.removeAttrs called [
              "imports"
              "_file"
              "key"
            ];
      };

    # Every module reachable through `imports`, each module file once.
    collect =
      args: prefix: modules:
      let
        go =
          seen: ms:
          if ms == [ ] then
            {
              inherit seen;
              out = [ ];
            }
          else
            let
              first = builtins.head ms;
              m = normalise args "${prefix}-${toString (builtins.length ms)}-${toString (builtins.length seen)}" first;
              rest = builtins.tail ms;
            in
            if builtins.elem m.key seen then
              go seen rest
            else
              let
                inner = go (seen ++ [ m.key ]) m.imports;
                outer = go inner.seen rest;
              in
              {
                seen = outer.seen;
                out = [ m ] ++ inner.out ++ outer.out;
              };
      in
      (go [ ] modules).out;

    # Option declarations of several modules, merged into one tree.
    mergeDecls =
      loc: a: b:
      if isType "option" a || isType "option" b then
        throw "The option `${showOption loc}' is declared more than once."
      else
        a
        // builtins.mapAttrs (
          n: v: if a ? ${n} then mergeDecls (loc ++ [ n ]) a.${n} v else v
        ) b;

    evalOption =
      loc: opt: defs:
      let
        discharged =
          builtins.concatMap discharge defs
          ++ optional (opt ? default) {
            value = opt.default;
            priority = 1500;
          };
        values = winners discharged;
        type = opt.type or types.unspecified;
      in
      if values == [ ] then
        throw "The option `${showOption loc}' is used but not defined."
      else if !(builtins.all type.check values) then
        throw "A definition for option `${showOption loc}' is not of type `${type.description}'."
      else
        type.merge loc values;

    # The config under one node of the declaration tree, from the definitions there.
    evalTree =
      loc: decls: defs:
      builtins.mapAttrs (
        name: decl:
        let
          here = builtins.concatMap (d: if d ? ${name} then [ d.${name} ] else [ ]) defs;
        in
        if isType "option" decl then
          evalOption (loc ++ [ name ]) decl here
        else
          evalTree (loc ++ [ name ]) decl (builtins.concatMap pushDown here)
      ) decls;

    # Definitions of options nobody declared (the real lib refuses them too).
    undeclared =
      loc: decls: defs:
      builtins.concatMap (
        d:
        builtins.concatMap (
          name:
          if name == "_module" then
            [ ]
          else if !(decls ? ${name}) then
            [ (showOption (loc ++ [ name ])) ]
          else if isType "option" decls.${name} then
            [ ]
          else
            undeclared (loc ++ [ name ]) decls.${name} (pushDown d.${name})
        ) (attrNames d)
      ) defs;

    evalModules =
      {
        modules,
        prefix ? [ ],
        args ? { },
        specialArgs ? { },
      }:
      let
        fixedArgs =
          specialArgs
          // args
          // {
            inherit lib config options;
          };
        allArgs = builtins.mapAttrs (_: v: v) fixedArgs // {
          __lookup = name: if fixedArgs ? ${name} then fixedArgs.${name} else moduleArgs.${name};
        };
        collected = collect allArgs (showOption prefix) modules;
        defs = builtins.concatMap (m: pushDown m.config) collected;
        moduleArgs = builtins.foldl' (a: x: a // (x.args or { })) { } (
          builtins.concatMap (d: if d ? _module then pushDown d._module else [ ]) defs
        );
        options = builtins.foldl' (mergeDecls prefix) { } (map (m: m.options) collected);
        config = evalTree prefix options defs;
      in
      {
        inherit config options;
        # Forced by the harness and by submodules: definitions of undeclared options.
        _undeclared = undeclared prefix options defs;
      };
  };
in
lib
