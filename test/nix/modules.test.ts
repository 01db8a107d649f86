/**
 * The NixOS modules (nix/modules) evaluated with the stand-in lib (test/nix/harness.nix):
 * the sops-nix examples give exactly the manifests Mic92/sops-nix writes for them
 * (test/vectors/nix/, recorded from sops-nix itself), the units keep every ordering
 * sops-nix has, the agenix example gives agenix's layout, services.coffer.tailscale adds
 * the manifest's `tailscale` section, every option sops-nix and agenix declare exists, and
 * mistakes stop the evaluation with a message naming the option.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { tmpTree } from "../support/tmp.js"
import { requireTool } from "../support/tools.js"
import { parseManifest } from "../../src/host/manifest.js"
import { evalModules, NixEvalError, repoPath, requireNix, root, testNixDir } from "./nix.js"

const vectors = join(root, "test", "vectors", "nix")
const vector = (name: string): unknown => JSON.parse(readFileSync(join(vectors, name), "utf8"))

const sopsModule = repoPath("nix/modules/sops.nix")
const ageModule = repoPath("nix/modules/age.nix")
const allModules = repoPath("nix/modules")
const sopsDao = repoPath("test/nix/examples/sops-dao.nix")
const agenixDao = repoPath("test/nix/examples/agenix-dao.nix")

test("sops-nix's example for dao: the same manifests as sops-nix writes (up to key order)", (t) => {
  if (!requireNix(t)) return
  const got = evalModules(
    [sopsModule, sopsDao],
    "r: r.manifests // { failed = r.failedAssertions; }",
  ) as {
    sops: unknown
    sopsUsers: unknown
    failed: string[]
  }
  assert.deepEqual(got.failed, [])
  assert.deepStrictEqual(got.sops, vector("sops-dao.manifest.json"))
  assert.deepStrictEqual(got.sopsUsers, vector("sops-dao.users-manifest.json"))
  // and coffer takes both as they are
  assert.equal(parseManifest(JSON.stringify(got.sops), "m").templates.length, 1)
  assert.equal(parseManifest(JSON.stringify(got.sopsUsers), "u").secrets.length, 1)
})

test("sops files in the store, validated: store paths and hashes as sops-nix writes them", (t) => {
  if (!requireNix(t)) return
  const got = evalModules(
    [sopsModule, repoPath("test/nix/examples/sops-store.nix")],
    "r: { m = r.manifests.sops; check = r.config.system.build.sops-nix-manifest.checkPhase; }",
  ) as { m: unknown; check: string }
  assert.deepStrictEqual(got.m, vector("sops-store.manifest.json"))
  // the build runs coffer's check as sops-nix runs sops-install-secrets -check-mode=sopsfile
  assert.equal(
    got.check,
    '/nix/store/00000000000000000000000000000000-coffer/bin/coffer install --ignore-passwd --check-mode=sopsfile "$out"',
  )
})

interface Service {
  after?: string[]
  before?: string[]
  wantedBy?: string[]
  requiredBy?: string[]
  unitConfig: Record<string, unknown>
  serviceConfig: Record<string, unknown>
}

test("the units and snippets keep every name and ordering sops-nix has", (t) => {
  if (!requireNix(t)) return
  const reference = vector("sops-dao.units.json") as {
    activationScripts: Record<string, { deps: string[] }>
    systemdServices: Record<string, Service>
  }
  // classic activation (the default without sysusers or userborn)
  const snippets = evalModules(
    [sopsModule, sopsDao],
    "r: builtins.mapAttrs (_: s: { deps = s.deps; }) r.config.system.activationScripts",
  )
  assert.deepEqual(snippets, reference.activationScripts)
  // systemd activation: same units, each ordering of sops-nix kept, plus coffer's
  const services = evalModules(
    [sopsModule, sopsDao, "{ services.userborn.enable = true; }"],
    "r: r.config.systemd.services",
  ) as Record<string, Service>
  assert.deepEqual(Object.keys(services).sort(), Object.keys(reference.systemdServices).sort())
  for (const [name, ref] of Object.entries(reference.systemdServices)) {
    const ours = services[name]
    assert.ok(ours !== undefined, name)
    for (const key of ["after", "before", "wantedBy", "requiredBy"] as const) {
      for (const unit of ref[key] ?? [])
        assert.ok(ours[key]?.includes(unit), `${name} ${key} ${unit}`)
    }
    for (const [key, value] of Object.entries(ref.serviceConfig)) {
      assert.deepEqual(ours.serviceConfig[key], value, `${name} ${key}`)
    }
    assert.equal(ours.unitConfig["DefaultDependencies"], "no")
    for (const path of ref.unitConfig["RequiresMountsFor"] as string[]) {
      assert.ok((ours.unitConfig["RequiresMountsFor"] as string[]).includes(path), path)
    }
  }
  // the race sops-nix had (a target does not wait for a DefaultDependencies=no unit it wants)
  assert.ok(services["sops-install-secrets"]?.before?.includes("sysinit.target"))
  assert.ok(services["sops-install-secrets-for-users"]?.before?.includes("userborn.service"))
  assert.match(
    String((services["sops-install-secrets"]?.serviceConfig["ExecStart"] as string[])[0]),
    /^\/nix\/store\/\S+-coffer\/bin\/coffer install \/nix\/store\/\S+-manifest\.json$/,
  )
  // no activation snippet when the unit installs
  assert.deepEqual(
    evalModules(
      [sopsModule, sopsDao, "{ services.userborn.enable = true; }"],
      "r: r.config.system.activationScripts",
    ),
    {},
  )
})

test("sops options sops-nix users set: renamed options, environment, gnupg, generateKey", (t) => {
  if (!requireNix(t)) return
  const got = evalModules(
    [
      sopsModule,
      `{
        sops.defaultSopsFile = "/var/lib/secrets/x.yaml";
        sops.validateSopsFiles = false;
        sops.gnupgHome = "/root/.gnupg";
        sops.gnupg.sshKeyPaths = [ ];
        sops.age.sshKeyPaths = [ ];
        sops.age.keyFile = "/var/lib/sops-nix/key.txt";
        sops.age.generateKey = true;
        sops.environment.EXTRA = "1";
        sops.secrets.x = { };
      }`,
    ],
    `r: { gnupgHome = r.manifests.sops.gnupgHome; env = r.config.sops.environment; warnings = r.warnings;
          deps = r.config.system.activationScripts.setupSecrets.deps; gen = r.config.system.activationScripts.generate-age-key.text; }`,
  ) as {
    gnupgHome: string
    env: Record<string, string>
    warnings: string[]
    deps: string[]
    gen: string
  }
  assert.equal(got.gnupgHome, "/root/.gnupg")
  assert.deepEqual(got.env, {
    EXTRA: "1",
    SOPS_GPG_EXEC: "/nix/store/00000000000000000000000000000000-gnupg/bin/gpg",
  })
  assert.equal(got.warnings.length, 1)
  assert.match(got.warnings[0] ?? "", /sops\.gnupgHome' has been renamed to `sops\.gnupg\.home'/)
  assert.deepEqual(got.deps, ["specialfs", "users", "groups", "generate-age-key"])
  assert.match(got.gen, /coffer age-keygen -o '\/var\/lib\/sops-nix\/key\.txt'/)
})

test("agenix's example for dao: agenix's paths, owners and snippet names", (t) => {
  if (!requireNix(t)) return
  const got = evalModules(
    [ageModule, agenixDao],
    `r: { m = r.manifests.age; failed = r.failedAssertions;
          snippets = builtins.mapAttrs (_: s: s.deps) r.config.system.activationScripts; }`,
  ) as {
    m: {
      secrets: Record<string, unknown>[]
      symlinkPath: string
      secretsMountPoint: string
      ageSshKeyPaths: string[]
    }
    failed: string[]
    snippets: Record<string, string[]>
  }
  assert.deepEqual(got.failed, [])
  assert.equal(got.m.symlinkPath, "/run/agenix")
  assert.equal(got.m.secretsMountPoint, "/run/agenix.d")
  assert.deepEqual(got.m.ageSshKeyPaths, [
    "/opt/share/ssh_host_ed25519_key",
    "/opt/share/ssh_host_rsa_key",
  ])
  const byName: Record<string, unknown[]> = Object.fromEntries(
    got.m.secrets.map((s): [string, unknown[]] => [
      String(s["name"]),
      [s["path"], s["owner"], s["group"], s["mode"], s["format"], s["sopsFile"]],
    ]),
  )
  assert.deepEqual(byName, {
    "api-env": ["/run/agenix/api-env", "4242", "4242", "440", "age", "/opt/share/api-env.age"],
    "app-token": ["/run/agenix/app-token", "app", "app", "0400", "age", "/opt/share/app-token.age"],
    monitrc: ["/etc/monitrc", "0", "0", "0400", "age", "/opt/share/monitrc.age"],
    "nginx-htpasswd": [
      "/run/agenix/nginx-htpasswd",
      "nginx",
      "nginx",
      "0440",
      "age",
      "/opt/share/nginx-htpasswd.age",
    ],
    "passwordfile-alice": [
      "/run/agenix/passwordfile-alice",
      "0",
      "0",
      "0400",
      "age",
      "/opt/share/passwordfile-alice.age",
    ],
    "tailscale-authkey": [
      "/run/agenix/tailscale-authkey",
      "0",
      "0",
      "0400",
      "age",
      "/opt/share/tailscale-authkey.age",
    ],
  })
  assert.deepEqual(got.snippets, {
    agenix: ["agenixChown"],
    agenixChown: ["users", "groups"],
    agenixInstall: ["agenixNewGeneration", "specialfs"],
    agenixNewGeneration: ["specialfs"],
    users: ["agenixInstall"],
  })
  assert.equal(parseManifest(JSON.stringify(got.m), "agenix").secrets.length, 6)
  // with sysusers (or userborn), agenix's unit name
  const services = evalModules(
    [ageModule, agenixDao, "{ systemd.sysusers.enable = true; }"],
    "r: builtins.attrNames r.config.systemd.services",
  )
  assert.deepEqual(services, ["agenix-install-secrets"])
})

test("agenix's age.ageBin is not run: a warning says so, and age.plugins puts plugins on PATH", (t) => {
  if (!requireNix(t)) return
  const plugin = `{ type = "derivation"; name = "age-plugin-yubikey"; outPath = "/nix/store/00000000000000000000000000000000-age-plugin-yubikey"; }`
  const config = `{
    age.ageBin = "PATH=$PATH:/nix/store/x-age-plugin-yubikey/bin /nix/store/x-rage/bin/rage";
    age.plugins = [ ${plugin} ];
  }`
  const got = evalModules(
    [ageModule, agenixDao, config],
    "r: { warnings = r.warnings; install = r.config.system.activationScripts.agenixInstall.text; }",
  ) as { warnings: string[]; install: string }
  assert.deepEqual(got.warnings, [
    'age.ageBin = "PATH=$PATH:/nix/store/x-age-plugin-yubikey/bin /nix/store/x-rage/bin/rage" is not run: coffer decrypts the age files by itself. Remove age.ageBin; put the age plugins it had on PATH into age.plugins (for example age.plugins = [ pkgs.age-plugin-yubikey ];)',
  ])
  assert.match(
    got.install,
    /export PATH='\/nix\/store\/0{32}-age-plugin-yubikey\/bin'"\$\{PATH:\+:\$PATH\}"\n\s*\S+\/bin\/coffer install \S+-agenix-manifest\.json/,
  )
  // the unit (sysusers) has them on its PATH too
  const unitPath = evalModules(
    [ageModule, agenixDao, config, "{ systemd.sysusers.enable = true; }"],
    "r: r.config.systemd.services.agenix-install-secrets.path",
  )
  assert.deepEqual(unitPath, ["/nix/store/00000000000000000000000000000000-age-plugin-yubikey"])
  // left alone, no warning
  assert.deepEqual(evalModules([ageModule, agenixDao], "r: r.warnings"), [])
})

test("nixosModules.default with services.coffer.tailscale: the section lands in the key's manifest", (t) => {
  if (!requireNix(t)) return
  const tailscale = (attrs: string): string =>
    `{ services.coffer.tailscale = { enable = true; hostname = "dao"; advertiseTags = [ "tag:server" ]; ${attrs} }; }`
  const select = `r: { sops = r.manifests.sops.tailscale or null; age = r.manifests.age.tailscale or null;
    failed = r.failedAssertions; tailscaled = r.config.services.tailscale.enable;
    units = map (p: p.buildCommand) r.config.systemd.packages; service = r.config.systemd.services.coffer-tailscale; }`
  const fromSops = evalModules(
    [allModules, sopsDao, agenixDao, tailscale(`authKeySecret = "tailscale_authkey";`)],
    select,
  ) as {
    sops: Record<string, unknown> | null
    age: unknown
    failed: string[]
    tailscaled: boolean
    units: string[]
    service: { wantedBy: string[]; path: string[] }
  }
  assert.deepEqual(fromSops.failed, [])
  assert.equal(fromSops.age, null)
  assert.deepEqual(fromSops.sops, {
    authKeySecret: "tailscale_authkey",
    oauthClientSecret: null,
    apiUrl: "https://api.tailscale.com",
    tailnet: "-",
    loginServer: null,
    hostname: "dao",
    advertiseTags: ["tag:server"],
    advertiseRoutes: [],
    advertiseExitNode: false,
    acceptDns: null,
    acceptRoutes: null,
    ssh: false,
    extraUpFlags: [],
    socket: "/run/tailscale/tailscaled.sock",
    timeout: "60s",
    unit: "coffer-tailscale.service",
  })
  assert.equal(fromSops.tailscaled, true)
  assert.deepEqual(fromSops.service.wantedBy, ["multi-user.target"])
  assert.deepEqual(fromSops.service.path, ["/nix/store/00000000000000000000000000000000-tailscale"])
  // the unit is the one `coffer units` writes for that manifest, taken from its output
  assert.equal(fromSops.units.length, 1)
  assert.match(
    fromSops.units[0] ?? "",
    /\/bin\/coffer units \/nix\/store\/\S+-manifest\.json --nixos .*\n.*install -D -m 0644 units\/coffer-tailscale\.service \$out\/lib\/systemd\/system\/coffer-tailscale\.service/s,
  )

  const fromAge = evalModules(
    [allModules, sopsDao, agenixDao, tailscale(`authKeySecret = "tailscale-authkey";`)],
    select,
  ) as { sops: unknown; age: Record<string, unknown> | null; failed: string[]; units: string[] }
  assert.deepEqual(fromAge.failed, [])
  assert.equal(fromAge.sops, null)
  assert.equal(fromAge.age?.["authKeySecret"], "tailscale-authkey")
  assert.match(fromAge.units[0] ?? "", /coffer units \/nix\/store\/\S+-agenix-manifest\.json/)

  const missing = evalModules(
    [allModules, sopsDao, tailscale(`authKeySecret = "nope";`)],
    "r: r.failedAssertions",
  )
  assert.deepEqual(missing, [
    `services.coffer.tailscale.authKeySecret = "nope": no such secret; declare it, for example sops.secrets.nope = { }; or age.secrets.nope.file = ./secrets/nope.age;`,
  ])
  // nothing changes without enable
  assert.equal(evalModules([allModules, sopsDao], "r: r.manifests.sops ? tailscale"), false)
})

test("every option sops-nix and agenix declare exists in nixosModules.sops and nixosModules.age", (t) => {
  if (!requireNix(t)) return
  const upstream = JSON.parse(
    readFileSync(join(testNixDir, "upstream-options.json"), "utf8"),
  ) as Record<string, { documented?: string[]; hidden?: string[]; commit?: string }>
  for (const [tree, module] of [
    ["sops", sopsModule],
    ["age", ageModule],
  ] as const) {
    const ours = new Set(evalModules([module], "r: r.options") as string[])
    const theirs = [...(upstream[tree]?.documented ?? []), ...(upstream[tree]?.hidden ?? [])]
    assert.ok(theirs.length > 10, `${tree}: the list has the upstream options`)
    const missing = theirs.filter((name) => !ours.has(name))
    assert.deepEqual(
      missing,
      [],
      `${tree} options missing (upstream ${upstream[tree]?.commit ?? ""})`,
    )
  }
})

test("mistakes stop the evaluation, naming the option", (t) => {
  if (!requireNix(t)) return
  const fails = (modules: string[], pattern: RegExp): void => {
    assert.throws(
      () => evalModules(modules, "r: { m = r.manifests; f = r.failedAssertions; }"),
      (e: unknown) => e instanceof NixEvalError && pattern.test(e.message),
      pattern.source,
    )
  }
  const base = `sops.defaultSopsFile = "/var/lib/x.yaml"; sops.validateSopsFiles = false; sops.age.keyFile = "/k";`
  fails(
    [sopsModule, `{ ${base} sops.secrets.x.modee = "0400"; }`],
    /The option `sops\.secrets\.x\.modee' does not exist/,
  )
  fails(
    [sopsModule, `{ ${base} sops.secrets.x.mode = 420; }`],
    /sops\.secrets\.x\.mode' is not of type `string'/,
  )
  fails(
    [sopsModule, `{ ${base} sops.secrets.x.format = "toml"; }`],
    /sops\.secrets\.x\.format' is not of type `one of/,
  )
  fails(
    [
      sopsModule,
      `{ sops.defaultSopsFile = "/var/lib/x.yaml"; sops.age.keyFile = "/k"; sops.secrets.x = { }; }`,
    ],
    /sops\.secrets\.x\.sopsFile = "\/var\/lib\/x\.yaml" is not in the Nix store/,
  )
  fails(
    [
      sopsModule,
      `{ sops.defaultSopsFile = "/x.yaml"; sops.age.keyFile = "/nix/store/abc-key.txt"; }`,
    ],
    /sops\.age\.keyFile' is not of type/,
  )
  // assertions (NixOS refuses to build a system with a failed one)
  const failed = (modules: string[]): unknown => evalModules(modules, "r: r.failedAssertions")
  assert.deepEqual(failed([sopsModule, `{ ${base} sops.secrets.x.mode = "0644"; }`]), [
    `sops.secrets.x.mode = "0644" lets every user read or write the secret: coffer never installs that (use a group and "0440")`,
  ])
  assert.deepEqual(
    failed([
      ageModule,
      `{ age.identityPaths = [ "/k" ]; age.secrets.es = { file = "/x.age"; path = "/etc/es.conf"; symlink = false; }; }`,
    ]),
    [
      `age.secrets.es.symlink = false would write the plaintext to "/etc/es.conf", outside the RAM filesystem, where nothing removes it: coffer does not do that. Keep symlink = true (the file at "/run/agenix/es" is a regular file on a ramfs), or give the program a private copy with systemd's LoadCredential=`,
    ],
  )
  assert.deepEqual(
    failed([
      sopsModule,
      `{ sops.defaultSopsFile = "/var/lib/x.yaml"; sops.validateSopsFiles = false; sops.age.sshKeyPaths = [ "/k" ];
         sops.age.generateKey = true; sops.secrets.x = { }; }`,
    ]),
    [
      `sops.age.generateKey = true needs sops.age.keyFile, the file the key is made in (for example sops.age.keyFile = "/var/lib/sops-nix/key.txt";)`,
    ],
  )
  assert.deepEqual(failed([ageModule, `{ age.secrets.x.file = "/x.age"; }`]), [
    "age.identityPaths is empty: enable services.openssh (its host keys are the default) or list the keys to decrypt with",
  ])
  // sshd's host keys are the default key sources, as in sops-nix and agenix
  const defaults = evalModules(
    [allModules, `{ services.openssh.enable = true; }`],
    "r: { sops = r.config.sops.age.sshKeyPaths; gpg = r.config.sops.gnupg.sshKeyPaths; age = r.config.age.identityPaths; }",
  )
  assert.deepEqual(defaults, {
    sops: ["/etc/ssh/ssh_host_ed25519_key"],
    gpg: ["/etc/ssh/ssh_host_rsa_key"],
    age: ["/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_ed25519_key"],
  })
})

test("the Tailscale unit: what the module's build step makes with the real coffer units", (t) => {
  if (!requireNix(t) || !requireTool(t, "bash", "bash")) return
  const dir = tmpTree(t, {})
  const store = join(dir, "store")
  mkdirSync(store)
  for (const [example, key, manifestName] of [
    [sopsDao, "tailscale_authkey", "manifest.json"],
    [agenixDao, "tailscale-authkey", "agenix-manifest.json"],
  ] as const) {
    const got = evalModules(
      [
        allModules,
        example,
        `{ services.coffer.package = { type = "derivation"; name = "coffer"; outPath = "${root}"; };
           services.coffer.tailscale = { enable = true; authKeySecret = "${key}"; hostname = "dao";
             advertiseTags = [ "tag:server" ]; loginServer = "https://headscale.example.net"; }; }`,
      ],
      `r: { inherit (r) manifests; build = (builtins.head r.config.systemd.packages).buildCommand; }`,
      { storeDir: store },
    ) as { manifests: { sops: unknown; age: unknown }; build: string }
    const manifestPath = join(store, `00000000000000000000000000000000-${manifestName}`)
    writeFileSync(
      manifestPath,
      JSON.stringify(manifestName === "manifest.json" ? got.manifests.sops : got.manifests.age),
    )
    // the derivation's builder: coffer units on the manifest, then the unit into $out
    const out = join(dir, `out-${key}`)
    const r = spawnSync("bash", ["-e", "-c", got.build], {
      cwd: mkdtempSync(join(dir, "build-")),
      env: { ...process.env, out },
      encoding: "utf8",
    })
    assert.equal(r.status, 0, r.stderr)
    const unit = readFileSync(
      join(out, "lib", "systemd", "system", "coffer-tailscale.service"),
      "utf8",
    )
    assert.match(
      unit,
      new RegExp(`^ExecStart=${root}/bin/coffer tailscale up --manifest ${manifestPath}$`, "m"),
    )
    // the unit it requires is the one the module provides under that name
    assert.match(unit, /^Requires=coffer-install-secrets\.service$/m)
    assert.match(unit, /^After=tailscaled\.service coffer-install-secrets\.service$/m)
  }
})
