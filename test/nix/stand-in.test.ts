/**
 * The stand-in lib (test/nix/stand-in-lib.nix) behaves as the NixOS manual says the module
 * system does, for everything coffer's modules use: otherwise the module tests would
 * prove nothing.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { nixEval, NixEvalError, requireNix } from "./nix.js"

/** Evaluates `modules` (a Nix list; `lib` is in scope) and returns `select config`. */
function evaluate(modules: string, select = "c: c"): unknown {
  return nixEval(`{ root }: let
      lib = import (/. + root + "/test/nix/stand-in-lib.nix");
      inherit (lib) mkOption types mkIf mkMerge mkDefault mkForce;
      r = lib.evalModules { modules = ${modules}; };
    in if r._undeclared != [ ] then throw "The option \`\${builtins.head r._undeclared}' does not exist." else (${select}) r.config`)
}

const decl = `{ options = {
  s = mkOption { type = types.str; default = "default"; };
  l = mkOption { type = types.listOf types.str; default = [ ]; };
  n = mkOption { type = types.nullOr types.int; default = null; };
  e = mkOption { type = types.enum [ "a" "b" ]; default = "a"; };
  ss = mkOption { type = types.attrsOf (types.submodule ({ name, config, ... }: {
    options.name = mkOption { type = types.str; default = name; };
    options.path = mkOption { type = types.str; default = "/run/" + config.name; };
    options.key = mkOption { type = types.str; default = config.name; };
  })); default = { }; };
}; }`

test("defaults, definitions and priorities", (t) => {
  if (!requireNix(t)) return
  assert.deepEqual(evaluate(`[ ${decl} ]`, "c: { inherit (c) s l n e ss; }"), {
    s: "default",
    l: [],
    n: null,
    e: "a",
    ss: {},
  })
  assert.equal(evaluate(`[ ${decl} { s = "x"; } ]`, "c: c.s"), "x")
  assert.equal(evaluate(`[ ${decl} { s = mkDefault "soft"; } ]`, "c: c.s"), "soft")
  assert.equal(evaluate(`[ ${decl} { s = mkDefault "soft"; } { s = "x"; } ]`, "c: c.s"), "x")
  assert.equal(evaluate(`[ ${decl} { s = mkForce "forced"; } { s = "x"; } ]`, "c: c.s"), "forced")
  assert.deepEqual(evaluate(`[ ${decl} { l = [ "a" ]; } { l = [ "b" ]; } ]`, "c: c.l"), ["a", "b"])
  assert.throws(
    () => evaluate(`[ ${decl} { s = "x"; } { s = "y"; } ]`, "c: c.s"),
    (e: unknown) =>
      e instanceof NixEvalError && /`s' has conflicting definition values/.test(e.message),
  )
})

test("mkIf and mkMerge, also where the condition reads other options", (t) => {
  if (!requireNix(t)) return
  const m = `({ config, ... }: { config = mkMerge [
    (mkIf (config.ss != { }) { l = [ "has secrets" ]; s = "from-if"; })
    (mkIf false { l = [ "never" ]; })
  ]; })`
  assert.deepEqual(evaluate(`[ ${decl} ${m} ]`, "c: { inherit (c) l s; }"), { l: [], s: "default" })
  assert.deepEqual(evaluate(`[ ${decl} ${m} { ss.x = { }; } ]`, "c: { inherit (c) l s; }"), {
    l: ["has secrets"],
    s: "from-if",
  })
})

test("attribute sets of submodules: the name, defaults from other options, each definition", (t) => {
  if (!requireNix(t)) return
  assert.deepEqual(
    evaluate(
      `[ ${decl} { ss.a = { key = "k/a"; }; ss."b/c" = { }; } { ss.a.path = "/etc/a"; ss.d = mkIf false { }; } ]`,
      "c: c.ss",
    ),
    {
      a: { name: "a", path: "/etc/a", key: "k/a" },
      "b/c": { name: "b/c", path: "/run/b/c", key: "b/c" },
    },
  )
  assert.equal(evaluate(`[ ${decl} { ss.a.name = "renamed"; } ]`, "c: c.ss.a.path"), "/run/renamed")
})

test("undeclared options and wrong types are errors", (t) => {
  if (!requireNix(t)) return
  assert.throws(
    () => evaluate(`[ ${decl} { ss.a.keyy = "x"; } ]`, "c: c.ss"),
    (e: unknown) => e instanceof NixEvalError && /`ss\.a\.keyy' does not exist/.test(e.message),
  )
  assert.throws(
    () => evaluate(`[ ${decl} { t = 1; } ]`),
    (e: unknown) => e instanceof NixEvalError && /`t' does not exist/.test(e.message),
  )
  for (const [value, pattern] of [
    ["s = 1;", /`s' is not of type `string'/],
    [`e = "c";`, /`e' is not of type `one of "a", "b"'/],
    ['n = "x";', /`n' is not of type `null or signed integer'/],
    ["l = [ 1 ];", /`l' is not of type `string'/],
  ] as const) {
    assert.throws(
      () => evaluate(`[ ${decl} { ${value} } ]`, "c: { inherit (c) s e n l; }"),
      (e: unknown) => e instanceof NixEvalError && pattern.test(e.message),
      value,
    )
  }
})

test("imports once per file, _module.args, renamed options", (t) => {
  if (!requireNix(t)) return
  assert.deepEqual(
    evaluate(
      `[ ${decl}
         { options.warnings = mkOption { type = types.listOf types.str; default = [ ]; }; }
         { _module.args.greeting = "hi"; }
         ({ greeting, ... }: { s = greeting; })
         (lib.mkRenamedOptionModule [ "old" ] [ "e" ])
         { old = "b"; }
       ]`,
      "c: { inherit (c) s e warnings; }",
    ),
    { s: "hi", e: "b", warnings: ["The option `old' has been renamed to `e'."] },
  )
})

test("types.anything merges attribute sets, and other values only when equal", (t) => {
  if (!requireNix(t)) return
  const any = `{ options.a = mkOption { type = types.attrsOf types.anything; default = { }; }; }`
  assert.deepEqual(
    evaluate(
      `[ ${any} { a.x = { p = 1; l = [ 1 ]; }; } { a.x = { q = 2; l = [ 1 ]; }; a.y = mkIf false 3; } ]`,
      "c: c.a",
    ),
    { x: { p: 1, q: 2, l: [1] } },
  )
  assert.throws(
    () => evaluate(`[ ${any} { a.x.l = [ 1 ]; } { a.x.l = [ 2 ]; } ]`, "c: c.a"),
    (e: unknown) =>
      e instanceof NixEvalError && /`a\.x\.l' has conflicting definition values/.test(e.message),
  )
})
