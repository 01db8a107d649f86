/**
 * nix/lib: the modules' logic as plain functions of builtins, evaluated with Debian's
 * `nix-instantiate --eval --strict --json` and compared with the manifests, unit settings
 * and messages they must give. The activation snippets they write are run with bash
 * against a stand-in `coffer` that records its command line and environment.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { createHash } from "node:crypto"
import { spawnSync, type SpawnSyncReturns } from "node:child_process"
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { parseManifest } from "../../src/host/manifest.js"
import { planUnits } from "../../src/host/units.js"
import { binPath } from "../support/cli.js"
import { tmpTree } from "../support/tmp.js"
import { requireTool } from "../support/tools.js"
import { cofferLib, nixEval, NixEvalError, requireNix } from "./nix.js"

/** A sops-nix `cfg` as the module system leaves it: every default filled in. */
const sopsCfg = `{
  keepGenerations = 1;
  gnupg = { home = null; sshKeyPaths = [ ]; };
  age = { keyFile = null; sshKeyPaths = [ "/etc/ssh/ssh_host_ed25519_key" ]; };
  useTmpfs = false;
  log = [ "keyImport" "secretChanges" ];
  placeholder = { };
  validateSopsFiles = false;
  templates = { };
  secrets = {
    tailscale_authkey = {
      name = "tailscale_authkey"; key = "tailscale_authkey"; path = "/run/secrets/tailscale_authkey";
      format = "yaml"; mode = "0400"; owner = null; uid = 0; group = null; gid = 0;
      sopsFile = "/var/lib/secrets/dao.yaml"; sopsFileHash = ""; restartUnits = [ "tailscaled-autoconnect.service" ];
      reloadUnits = [ ]; neededForUsers = false;
    };
    alice-password = {
      name = "alice-password"; key = "alice-password"; path = "/run/secrets-for-users/alice-password";
      format = "yaml"; mode = "0400"; owner = null; uid = 0; group = null; gid = 0;
      sopsFile = "/var/lib/secrets/dao.yaml"; sopsFileHash = ""; restartUnits = [ ];
      reloadUnits = [ ]; neededForUsers = true;
    };
  };
}`

const secretEntry = {
  name: "tailscale_authkey",
  key: "tailscale_authkey",
  path: "/run/secrets/tailscale_authkey",
  format: "yaml",
  mode: "0400",
  owner: null,
  uid: 0,
  group: null,
  gid: 0,
  sopsFile: "/var/lib/secrets/dao.yaml",
  sopsFileHash: "",
  restartUnits: ["tailscaled-autoconnect.service"],
  reloadUnits: [],
  neededForUsers: false,
}

const commonTop = {
  templates: [],
  keepGenerations: 1,
  gnupgHome: null,
  sshKeyPaths: [],
  ageKeyFile: null,
  ageSshKeyPaths: ["/etc/ssh/ssh_host_ed25519_key"],
  useTmpfs: false,
  placeholderBySecretName: {},
  userMode: false,
  logging: { keyImport: true, secretChanges: true },
}

test("sops: the regular and the users manifest, as manifest-for.nix writes them", (t) => {
  if (!requireNix(t)) return
  const got = nixEval(`{ root }: ${cofferLib}.sops.manifests { cfg = ${sopsCfg}; }`)
  assert.deepEqual(got, {
    regular: {
      secrets: [secretEntry],
      secretsMountPoint: "/run/secrets.d",
      symlinkPath: "/run/secrets",
      ...commonTop,
    },
    users: {
      secrets: [
        {
          ...secretEntry,
          name: "alice-password",
          key: "alice-password",
          path: "/run/secrets-for-users/alice-password",
          restartUnits: [],
          neededForUsers: true,
        },
      ],
      secretsMountPoint: "/run/secrets-for-users.d",
      symlinkPath: "/run/secrets-for-users",
      ...commonTop,
    },
  })
  // coffer reads both as they are: the users one is a users phase of its own
  const both = got as { regular: unknown; users: unknown }
  assert.equal(parseManifest(JSON.stringify(both.regular), "regular").secrets.length, 1)
  assert.equal(parseManifest(JSON.stringify(both.users), "users").secrets[0]?.neededForUsers, true)
})

test("sops: log, key paths given as Nix paths (kept as strings), extra fields", (t) => {
  if (!requireNix(t)) return
  const got = nixEval(
    `{ root }: ${cofferLib}.sops.manifest {
      cfg = ${sopsCfg} // { log = [ "secretChanges" ]; age = { keyFile = /var/lib/sops-nix/key.txt; sshKeyPaths = [ /etc/ssh/ssh_host_ed25519_key ]; }; };
      secrets = { }; templates = { }; extra = { tailscale = { unit = "x.service"; }; };
    }`,
  ) as Record<string, unknown>
  assert.deepEqual(got["logging"], { keyImport: false, secretChanges: true })
  // a Nix path would be copied into the store by builtins.toJSON: a private key, readable by all
  assert.equal(got["ageKeyFile"], "/var/lib/sops-nix/key.txt")
  assert.deepEqual(got["ageSshKeyPaths"], ["/etc/ssh/ssh_host_ed25519_key"])
  assert.deepEqual(got["tailscale"], { unit: "x.service" })
})

test("sops: placeholders are <SOPS:sha256(name):PLACEHOLDER>", (t) => {
  if (!requireNix(t)) return
  const got = nixEval(`{ root }: ${cofferLib}.sops.placeholders { "db/password" = { }; x = { }; }`)
  const ph = (name: string): string =>
    `<SOPS:${createHash("sha256").update(name).digest("hex")}:PLACEHOLDER>`
  assert.deepEqual(got, { "db/password": ph("db/password"), x: ph("x") })
})

test("sops: source checks name the option and the file (store first, then existence)", (t) => {
  if (!requireNix(t)) return
  const dir = tmpTree(t, { "here.yaml": "a: b\n" })
  const problems = nixEval(
    `{ root }: ${cofferLib}.sops.sourceProblems { secrets = {
      "db/password".sopsFile = "/var/lib/secrets/db.yaml";
      here.sopsFile = /. + "${dir}/here.yaml";
      gone.sopsFile = /. + "${dir}/gone.yaml";
      stored.sopsFile = "${dir}/stored.yaml";
    }; storeDir = "${dir}"; }`,
  )
  assert.deepEqual(problems, [
    `sops.secrets."db/password".sopsFile = "/var/lib/secrets/db.yaml" is not in the Nix store: use a Nix path (./secrets/x.yaml) or set sops.validateSopsFiles = false`,
    `sops.secrets.gone.sopsFile: cannot find "${dir}/gone.yaml"`,
    `sops.secrets.stored.sopsFile: cannot find "${dir}/stored.yaml"`,
  ])
  assert.throws(
    () =>
      nixEval(
        `{ root }: ${cofferLib}.sops.checkSources { validateSopsFiles = true; secrets = { x.sopsFile = "/tmp/x.yaml"; }; } 1`,
      ),
    (e: unknown) =>
      e instanceof NixEvalError &&
      /sops\.secrets\.x\.sopsFile = "\/tmp\/x.yaml" is not in the Nix store/.test(e.message),
  )
  assert.equal(
    nixEval(
      `{ root }: ${cofferLib}.sops.checkSources { validateSopsFiles = false; secrets = { x.sopsFile = "/tmp/x.yaml"; }; } 1`,
    ),
    1,
  )
})

test("sops: assertions as sops-nix makes them, and coffer's modes", (t) => {
  if (!requireNix(t)) return
  const failing = (cfgOverride: string, extra = ""): string[] =>
    nixEval(
      `{ root }: let l = ${cofferLib}; cfg = ${sopsCfg}; in map (a: a.message) (builtins.filter (a: !a.assertion) (l.sops.assertions ({ cfg = ${cfgOverride}; } // { ${extra} })))`,
    ) as string[]
  assert.deepEqual(failing("cfg"), [])
  assert.deepEqual(failing(`cfg // { age = { keyFile = null; sshKeyPaths = [ ]; }; }`), [
    "sops: no key to decrypt with: enable services.openssh (its ed25519 host key becomes sops.age.sshKeyPaths), or set sops.age.keyFile, sops.age.sshKeyPaths or sops.gnupg.home",
  ])
  assert.deepEqual(
    failing(`cfg // { gnupg = { home = "/root/.gnupg"; sshKeyPaths = [ "/k" ]; }; }`),
    [
      "sops.gnupg.home and sops.gnupg.sshKeyPaths exclude each other: set sops.gnupg.sshKeyPaths = [ ] to use the GnuPG home",
    ],
  )
  const secret = (attrs: string): string =>
    `cfg // { secrets = { "db/password" = cfg.secrets.tailscale_authkey // { ${attrs} }; }; }`
  assert.deepEqual(failing(secret(`owner = "postgres"; uid = 70;`)), [
    `sops.secrets."db/password": set owner or uid, not both (owner = "postgres", uid = 70)`,
  ])
  assert.deepEqual(failing(secret(`group = "postgres"; gid = 70;`)), [
    `sops.secrets."db/password": set group or gid, not both (group = "postgres", gid = 70)`,
  ])
  assert.deepEqual(failing(secret(`mode = "0644";`)), [
    `sops.secrets."db/password".mode = "0644" lets every user read or write the secret: coffer never installs that (use a group and "0440")`,
  ])
  assert.deepEqual(failing(secret(`mode = "u=r";`)), [
    `sops.secrets."db/password".mode = "u=r" is not an octal mode such as "0400" (coffer takes no symbolic modes)`,
  ])
  assert.deepEqual(failing(secret(`neededForUsers = true; owner = "alice";`)), [
    `sops.secrets."db/password": a neededForUsers secret is installed before users and groups exist, so it must be owned by root (remove owner, group, uid and gid)`,
  ])
  assert.deepEqual(
    failing(secret(`neededForUsers = true;`), `sysusers = true; mutableUsers = false;`),
    [
      "sops: neededForUsers secrets with systemd.sysusers.enable need users.mutableUsers = true (sops-nix issue #475)",
    ],
  )
  assert.deepEqual(
    failing(
      `cfg // { templates = { "app.conf" = { owner = "app"; uid = 5; group = null; gid = 0; mode = "0444"; }; }; }`,
    ),
    [
      `sops.templates."app.conf": set owner or uid, not both (owner = "app", uid = 5)`,
      `sops.templates."app.conf".mode = "0444" lets every user read or write the secret: coffer never installs that (use a group and "0440")`,
    ],
  )
})

test("modes: what coffer installs and what it refuses, in the TypeScript validator's terms", (t) => {
  if (!requireNix(t)) return
  const modes = ["0400", "440", "0751", "0", "0644", "0602", "4755", "u=r", "12345", ""]
  const got = nixEval(
    `{ root }: map (m: ${cofferLib}.modes.problem m == null) ${JSON.stringify(modes).replaceAll(",", " ")}`,
  ) as boolean[]
  // the manifest validator is the reference: the Nix check must agree with it
  const accepted = modes.map((mode) => {
    try {
      parseManifest(
        JSON.stringify({
          secrets: [{ name: "x", sopsFile: "/x.yaml", mode }],
          ageKeyFile: "/k",
        }),
        "m",
      )
      return true
    } catch {
      return false
    }
  })
  assert.deepEqual(got, accepted)
  assert.deepEqual(accepted, [true, true, true, true, false, false, false, false, false, false])
})

/** An agenix `cfg` with every default filled in. */
const ageCfg = `{
  secretsDir = "/run/agenix";
  secretsMountPoint = "/run/agenix.d";
  identityPaths = [ /etc/ssh/ssh_host_ed25519_key "/etc/ssh/ssh_host_rsa_key" ];
  secrets = {
    tailscale-authkey = { name = "tailscale-authkey"; file = "/nix/store/aaaa-tailscale-authkey.age"; path = "/run/agenix/tailscale-authkey"; mode = "0400"; owner = "0"; group = "0"; symlink = true; };
    htpasswd = { name = "htpasswd"; file = "/nix/store/bbbb-htpasswd.age"; path = "/etc/nginx/htpasswd"; mode = "440"; owner = "nginx"; group = "nginx"; symlink = true; restartUnits = [ "nginx.service" ]; };
  };
}`

test("age: the manifest agenix's options make (format age, agenix's paths and owners)", (t) => {
  if (!requireNix(t)) return
  const got = nixEval(`{ root }: ${cofferLib}.age.manifest { cfg = ${ageCfg}; }`)
  const entry = {
    key: "",
    format: "age",
    uid: 0,
    gid: 0,
    reloadUnits: [],
    neededForUsers: false,
  }
  assert.deepEqual(got, {
    secrets: [
      {
        ...entry,
        name: "htpasswd",
        sopsFile: "/nix/store/bbbb-htpasswd.age",
        path: "/etc/nginx/htpasswd",
        mode: "440",
        owner: "nginx",
        group: "nginx",
        restartUnits: ["nginx.service"],
      },
      {
        ...entry,
        name: "tailscale-authkey",
        sopsFile: "/nix/store/aaaa-tailscale-authkey.age",
        path: "/run/agenix/tailscale-authkey",
        mode: "0400",
        owner: "0",
        group: "0",
        restartUnits: [],
      },
    ],
    templates: [],
    placeholderBySecretName: {},
    secretsMountPoint: "/run/agenix.d",
    symlinkPath: "/run/agenix",
    keepGenerations: 1,
    gnupgHome: null,
    sshKeyPaths: [],
    ageKeyFile: null,
    ageSshKeyPaths: ["/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_rsa_key"],
    useTmpfs: false,
    userMode: false,
    logging: { keyImport: true, secretChanges: true },
  })
  const [first] = parseManifest(JSON.stringify(got), "agenix").secrets
  assert.ok(first !== undefined)
  assert.equal(first.path, "/etc/nginx/htpasswd")
  assert.equal(first.defaultPath, "/run/agenix/htpasswd")
})

test("age: assertions (identities, modes, symlink = false off the RAM filesystem, mount point)", (t) => {
  if (!requireNix(t)) return
  const failing = (override: string): string[] =>
    nixEval(
      `{ root }: let cfg = ${ageCfg}; s = cfg.secrets.htpasswd; in map (a: a.message) (builtins.filter (a: !a.assertion) (${cofferLib}.age.assertions { cfg = ${override}; }))`,
    ) as string[]
  assert.deepEqual(failing("cfg"), [])
  assert.deepEqual(failing("cfg // { identityPaths = [ ]; }"), [
    "age.identityPaths is empty: enable services.openssh (its host keys are the default) or list the keys to decrypt with",
  ])
  assert.deepEqual(failing(`cfg // { secretsMountPoint = "/run/agenix.d/"; }`), [
    `age.secretsMountPoint = "/run/agenix.d/" must be an absolute path without a trailing slash`,
  ])
  // agenix hands mode to chmod: symbolic modes mean what chmod makes of them on a 0400 file
  assert.deepEqual(failing(`cfg // { secrets.htpasswd = s // { mode = "u=r,g=r"; }; }`), [])
  assert.deepEqual(failing(`cfg // { secrets.htpasswd = s // { mode = "a+r"; }; }`), [
    `age.secrets.htpasswd.mode = "a+r" (as chmod applies it: "0444" lets every user read or write the secret: coffer never installs that (use a group and "0440"))`,
  ])
  assert.deepEqual(failing(`cfg // { secrets.htpasswd = s // { mode = "u+s"; }; }`), [
    `age.secrets.htpasswd.mode = "u+s" is neither an octal mode such as "0400" nor chmod's u/g/o/a with +, - or = of r, w and x (such as "u=r,g=r")`,
  ])
  assert.deepEqual(failing(`cfg // { secrets.htpasswd = s // { mode = "0644"; }; }`), [
    `age.secrets.htpasswd.mode = "0644" lets every user read or write the secret: coffer never installs that (use a group and "0440")`,
  ])
  const modes = nixEval(
    `{ root }: map (${cofferLib}.modes.fromChmod) [ "u=r,g=r" "ug=r" "g+r" "u=rw" "u+w,go-rwx" "u+w,u=r" "u=r,g=r,o=" "0440" "440" "=r" "u+s" ]`,
  )
  assert.deepEqual(modes, [
    "0440",
    "0440",
    "0440",
    "0600",
    "0600",
    "0400",
    "0440",
    "0440",
    "440",
    "=r",
    "u+s",
  ])
  // and the manifest has the octal mode
  const manifest = nixEval(
    `{ root }: let cfg = ${ageCfg}; s = cfg.secrets.htpasswd; in (builtins.head (${cofferLib}.age.manifest { cfg = cfg // { secrets.htpasswd = s // { mode = "ug=r"; }; }; }).secrets).mode`,
  )
  assert.equal(manifest, "0440")
  const [symlinkMessage] = failing(`cfg // { secrets.htpasswd = s // { symlink = false; }; }`)
  assert.match(
    symlinkMessage ?? "",
    /^age\.secrets\.htpasswd\.symlink = false would write the plaintext to "\/etc\/nginx\/htpasswd", outside the RAM filesystem/,
  )
  // with the default path, symlink = false changes nothing: the file is on the ramfs
  assert.deepEqual(
    failing(
      `cfg // { secrets.htpasswd = s // { symlink = false; path = "/run/agenix/htpasswd"; }; }`,
    ),
    [],
  )
})

test("tailscale: the section has exactly the manifest's fields; the key is checked", (t) => {
  if (!requireNix(t)) return
  const cfg = `{
    authKeySecret = "tailscale_authkey"; oauthClientSecret = null; secretsFrom = null;
    apiUrl = "https://api.tailscale.com"; tailnet = "-"; loginServer = "https://headscale.example.net";
    hostname = "dao"; advertiseTags = [ "tag:server" ]; advertiseRoutes = [ ]; advertiseExitNode = false;
    acceptDns = null; acceptRoutes = null; ssh = false; extraUpFlags = [ ];
    socket = "/run/tailscale/tailscaled.sock"; timeout = "60s"; unit = "coffer-tailscale.service";
    enable = true; package = { };
  }`
  // the section from the team's manifest schema (docs/manifest.md), field for field
  assert.deepEqual(nixEval(`{ root }: ${cofferLib}.tailscale.section ${cfg}`), {
    authKeySecret: "tailscale_authkey",
    oauthClientSecret: null,
    apiUrl: "https://api.tailscale.com",
    tailnet: "-",
    loginServer: "https://headscale.example.net",
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
  const failing = (
    override: string,
    trees = `sopsSecrets = [ "tailscale_authkey" ]; ageSecrets = [ ];`,
    extra = "",
  ): string[] =>
    nixEval(
      `{ root }: let cfg = ${cfg}; in map (a: a.message) (builtins.filter (a: !a.assertion) (${cofferLib}.tailscale.assertions { cfg = ${override}; ${trees} ${extra} }))`,
    ) as string[]
  assert.deepEqual(failing("cfg"), [])
  assert.deepEqual(failing("cfg", `sopsSecrets = [ ]; ageSecrets = [ "tailscale_authkey" ];`), [])
  assert.deepEqual(failing(`cfg // { authKeySecret = null; }`), [
    "services.coffer.tailscale: set exactly one of authKeySecret and oauthClientSecret (the name of the secret that holds the key)",
  ])
  assert.deepEqual(
    failing(
      `cfg // { oauthClientSecret = "oauth"; }`,
      `sopsSecrets = [ "tailscale_authkey" "oauth" ]; ageSecrets = [ ];`,
    ),
    [
      "services.coffer.tailscale: set exactly one of authKeySecret and oauthClientSecret (the name of the secret that holds the key)",
    ],
  )
  assert.deepEqual(failing("cfg", `sopsSecrets = [ ]; ageSecrets = [ ];`), [
    `services.coffer.tailscale.authKeySecret = "tailscale_authkey": no such secret; declare it, for example sops.secrets.tailscale_authkey = { }; or age.secrets.tailscale_authkey.file = ./secrets/tailscale_authkey.age;`,
  ])
  assert.deepEqual(
    failing("cfg", `sopsSecrets = [ "tailscale_authkey" ]; ageSecrets = [ "tailscale_authkey" ];`),
    [
      `services.coffer.tailscale.authKeySecret = "tailscale_authkey": both sops.secrets and age.secrets have it; set services.coffer.tailscale.secretsFrom = "sops" or "age"`,
    ],
  )
  assert.deepEqual(failing(`cfg // { secretsFrom = "age"; }`), [
    `services.coffer.tailscale.authKeySecret = "tailscale_authkey": age.secrets has no such secret`,
  ])
  assert.deepEqual(
    failing(
      `cfg // { authKeySecret = null; oauthClientSecret = "oauth"; advertiseTags = [ ]; }`,
      `sopsSecrets = [ "oauth" ]; ageSecrets = [ ];`,
    ),
    [
      "services.coffer.tailscale.oauthClientSecret needs advertiseTags: keys minted with an OAuth client must be tagged",
    ],
  )
  assert.deepEqual(
    failing("cfg", undefined, `nixpkgsAuthKeyFile = "/run/secrets/tailscale_authkey";`),
    [
      "services.coffer.tailscale and services.tailscale.authKeyFile both join the tailnet: remove services.tailscale.authKeyFile",
    ],
  )
})

/** `Key=value` lines of one section of a unit file, values split on spaces. */
function unitValues(text: string, key: string): string[] {
  return text
    .split("\n")
    .filter((line) => line.startsWith(`${key}=`))
    .flatMap((line) => line.slice(key.length + 1).split(" "))
    .filter((v) => v !== "")
}

test("units: the NixOS install unit says what `coffer units --nixos` writes", (t) => {
  if (!requireNix(t)) return
  const manifestValue = {
    secrets: [{ name: "k", sopsFile: "/var/lib/secrets/dao.yaml", format: "yaml", key: "k" }],
    ageSshKeyPaths: ["/etc/ssh/ssh_host_ed25519_key"],
    ageKeyFile: "/var/lib/sops-nix/key.txt",
    sshKeyPaths: [],
    gnupgHome: null,
  }
  const settings = nixEval(
    `{ root }: ${cofferLib}.units.installService {
      coffer = "/nix/store/c-coffer"; manifest = "/nix/store/m-manifest.json";
      manifestValue = builtins.fromJSON ${JSON.stringify(JSON.stringify(manifestValue))};
      description = "d"; environment = { SOPS_GPG_EXEC = "/g"; };
    }`,
  ) as {
    after: string[]
    before: string[]
    conflicts: string[]
    wantedBy: string[]
    requiredBy: string[]
    environment: Record<string, string>
    unitConfig: { DefaultDependencies: string; RequiresMountsFor: string[] }
    serviceConfig: { Type: string; RemainAfterExit: boolean; UMask: string; ExecStart: string[] }
  }
  const [file] = planUnits(parseManifest(JSON.stringify(manifestValue), "m"), {
    cofferPath: "/nix/store/c-coffer/bin/coffer",
    manifestPath: "/nix/store/m-manifest.json",
    nixos: true,
  }).files
  const unit = file?.text ?? ""
  const sorted = (xs: readonly string[]): string[] => [...xs].sort()
  assert.deepEqual(sorted(settings.after), sorted(unitValues(unit, "After")))
  assert.deepEqual(sorted(settings.before), sorted(unitValues(unit, "Before")))
  assert.deepEqual(settings.conflicts, unitValues(unit, "Conflicts"))
  assert.deepEqual(settings.wantedBy, unitValues(unit, "WantedBy"))
  assert.deepEqual(settings.requiredBy, unitValues(unit, "RequiredBy"))
  assert.deepEqual(
    [settings.unitConfig.DefaultDependencies],
    unitValues(unit, "DefaultDependencies"),
  )
  assert.deepEqual([settings.serviceConfig.Type], unitValues(unit, "Type"))
  assert.deepEqual(
    [settings.serviceConfig.RemainAfterExit ? "yes" : "no"],
    unitValues(unit, "RemainAfterExit"),
  )
  assert.deepEqual([settings.serviceConfig.UMask], unitValues(unit, "UMask"))
  assert.deepEqual(settings.serviceConfig.ExecStart, [unitValues(unit, "ExecStart").join(" ")])
  for (const variable of unitValues(unit, "Environment")) {
    const [name, value] = variable.split("=")
    assert.equal(settings.environment[name ?? ""], value, variable)
  }
  assert.equal(settings.environment["SOPS_GPG_EXEC"], "/g")
  // coffer units also waits for the manifest itself (a store path, mounted with /nix/store)
  assert.deepEqual(
    settings.unitConfig.RequiresMountsFor,
    unitValues(unit, "RequiresMountsFor").filter((p) => p !== "/nix/store/m-manifest.json"),
  )
})

test("units: the users unit comes before sysusers and userborn and ignores passwd", (t) => {
  if (!requireNix(t)) return
  const manifestValue = {
    secrets: [{ name: "pw", sopsFile: "/s.yaml", neededForUsers: true }],
    ageSshKeyPaths: ["/k"],
    ageKeyFile: null,
    sshKeyPaths: [],
    gnupgHome: null,
  }
  const settings = nixEval(
    `{ root }: ${cofferLib}.units.usersInstallService {
      coffer = "/c"; manifest = "/m.json"; description = "d";
      manifestValue = builtins.fromJSON ${JSON.stringify(JSON.stringify(manifestValue))};
    }`,
  ) as { before: string[]; wantedBy: string[]; serviceConfig: { ExecStart: string[] } }
  const [file] = planUnits(parseManifest(JSON.stringify(manifestValue), "m"), {
    cofferPath: "/c/bin/coffer",
    manifestPath: "/m.json",
  }).files
  assert.ok(file !== undefined)
  assert.equal(file.path, "coffer-install-secrets-for-users.service")
  const unit = file.text
  assert.deepEqual([...settings.before].sort(), unitValues(unit, "Before").sort())
  assert.deepEqual([...settings.wantedBy].sort(), unitValues(unit, "WantedBy").sort())
  assert.deepEqual(settings.serviceConfig.ExecStart, [
    "/c/bin/coffer install --ignore-passwd /m.json",
  ])
})

/**
 * A stand-in for `coffer` that appends its argv, HOME and PATH to LOG and fails (status 1,
 * a message on stderr) while the file FAIL exists.
 */
function fakeCoffer(dir: string): { bin: string; log: string; fail: string } {
  const log = join(dir, "log")
  const fail = join(dir, "fail")
  const bin = join(dir, "pkg", "bin", "coffer")
  mkdirSync(join(dir, "pkg", "bin"), { recursive: true })
  writeFileSync(
    bin,
    `#!/bin/sh\necho "argv=$* HOME=$HOME PATH=$PATH X=$X Y=$Y" >> ${log}\necho "installed: report line"\nif [ -e ${fail} ]; then echo "secret \\"app-token\\": unknown owner app" >&2; exit 1; fi\n`,
  )
  chmodSync(bin, 0o755)
  return { bin, log, fail }
}

test("activation: sops-nix's snippet runs coffer install in a subshell with its environment", (t) => {
  if (!requireNix(t) || !requireTool(t, "bash", "bash")) return
  const dir = tmpTree(t, {})
  const fake = fakeCoffer(dir)
  const text = nixEval(
    `{ root }: let u = ${cofferLib}.units; in (u.activationSnippet {
      deps = [ ]; message = "setting up secrets...";
      command = u.activationCommand { coffer = "${dir}/pkg"; manifest = "/m.json"; args = [ "--ignore-passwd" ];
        environment = { X = "a $HOME b"; Y = "'\\"$(echo substituted)\\"'"; }; path = [ "/plugins" ]; };
    }).text`,
  ) as string
  const r = spawnSync(
    "bash",
    ["-c", `export HOME=/root PATH=/usr/bin:/bin\n${text}\necho "after HOME=$HOME"`],
    {
      encoding: "utf8",
    },
  )
  assert.equal(r.status, 0, r.stderr)
  assert.equal(
    readFileSync(fake.log, "utf8"),
    // values are single-quoted as they are: literal, unless they close the quotes themselves
    `argv=install --ignore-passwd /m.json HOME=/var/empty PATH=/plugins/bin:/usr/bin:/bin X=a $HOME b Y=substituted\n`,
  )
  assert.match(r.stdout, /setting up secrets\.\.\./)
  assert.match(r.stdout, /after HOME=\/root\n$/, "the environment stays inside the subshell")
  writeFileSync(fake.fail, "")
  const failed = spawnSync("bash", ["-c", `set -e\n${text}`], { encoding: "utf8" })
  assert.equal(failed.status, 1, "a failed install fails the snippet")
})

test("activation: agenix's snippets install once before users, again after them only if needed", (t) => {
  if (!requireNix(t) || !requireTool(t, "bash", "bash")) return
  const dir = tmpTree(t, {})
  const fake = fakeCoffer(dir)
  const snippets = nixEval(
    `{ root }: let u = ${cofferLib}.units; in u.agenixSnippets { command = u.activationCommand { coffer = "${dir}/pkg"; manifest = "/a.json"; }; }`,
  ) as Record<string, { deps: string[]; text: string }>
  assert.deepEqual(Object.fromEntries(Object.entries(snippets).map(([k, v]) => [k, v.deps])), {
    agenix: ["agenixChown"],
    agenixChown: ["users", "groups"],
    agenixInstall: ["agenixNewGeneration", "specialfs"],
    agenixNewGeneration: ["specialfs"],
  })
  // NixOS runs the snippets in one script, in dependency order, with an ERR trap
  const script = [
    "_status=0",
    "trap '_status=1' ERR",
    snippets["agenixNewGeneration"]?.text,
    snippets["agenixInstall"]?.text,
    'echo "-- users --"',
    snippets["agenixChown"]?.text,
    snippets["agenix"]?.text,
    "exit $_status",
  ].join("\n")
  const run = (): SpawnSyncReturns<string> =>
    spawnSync("bash", ["-c", script], { encoding: "utf8", env: { PATH: "/usr/bin:/bin" } })

  // a switch: everything installs in agenixInstall; its report shows up once, after users
  const once = run()
  assert.equal(once.status, 0, once.stderr)
  assert.equal(readFileSync(fake.log, "utf8").split("\n").filter(Boolean).length, 1)
  assert.match(once.stdout, /-- users --\ninstalled: report line\n$/)

  // first boot with a new user: the first attempt fails, the second (after users) installs
  writeFileSync(fake.log, "")
  writeFileSync(fake.fail, "")
  const script2 = script.replace('echo "-- users --"', `echo "-- users --"; rm ${fake.fail}`)
  const twice = spawnSync("bash", ["-c", script2], {
    encoding: "utf8",
    env: { PATH: "/usr/bin:/bin" },
  })
  assert.equal(twice.status, 0, twice.stderr)
  assert.equal(readFileSync(fake.log, "utf8").split("\n").filter(Boolean).length, 2)
  assert.ok(!twice.stderr.includes("unknown owner"), "the first attempt's errors are not shown")
  assert.match(twice.stdout, /installing the agenix secrets again/)

  // a failure that stays: the snippet fails (NixOS reports it), the error is shown
  writeFileSync(fake.fail, "")
  const failing = run()
  assert.equal(failing.status, 1)
  assert.match(failing.stderr, /unknown owner app/)
})

test("activation: the age key is generated once, by coffer age-keygen", (t) => {
  if (!requireNix(t) || !requireTool(t, "bash", "bash")) return
  const dir = tmpTree(t, {})
  const keyFile = join(dir, "var", "lib", "sops nix", "key.txt")
  const snippet = nixEval(
    `{ root }: ${cofferLib}.units.generateAgeKeySnippet { coffer = "${binPath().replace(/\/bin\/coffer$/, "")}"; keyFile = "${keyFile}"; }`,
  ) as { text: string }
  const first = spawnSync("bash", ["-c", snippet.text], { encoding: "utf8" })
  assert.equal(first.status, 0, first.stderr)
  const key = readFileSync(keyFile, "utf8")
  assert.match(key, /^AGE-SECRET-KEY-1/m)
  assert.equal(statSync(keyFile).mode & 0o777, 0o600)
  const second = spawnSync("bash", ["-c", snippet.text], { encoding: "utf8" })
  assert.equal(second.status, 0, second.stderr)
  assert.equal(readFileSync(keyFile, "utf8"), key, "an existing key is kept")
})

test("npm: every package of package-lock.json gets the registry URL its integrity hash is for", (t) => {
  if (!requireNix(t)) return
  const got = nixEval(
    `{ root }: let lock = ${cofferLib}.npm.withResolved (builtins.fromJSON (builtins.readFile (/. + root + "/package-lock.json"))); in lock.packages`,
  ) as Record<string, { resolved?: string; integrity?: string; version?: string }>
  const lock = JSON.parse(
    readFileSync(join(binPath(), "..", "..", "package-lock.json"), "utf8"),
  ) as {
    packages: Record<string, { version?: string }>
  }
  assert.deepEqual(Object.keys(got).sort(), Object.keys(lock.packages).sort())
  for (const [key, pkg] of Object.entries(got)) {
    if (key === "") {
      assert.equal(pkg.resolved, undefined)
      continue
    }
    const name = key.slice(key.lastIndexOf("node_modules/") + "node_modules/".length)
    const base = name.slice(name.lastIndexOf("/") + 1)
    assert.equal(
      pkg.resolved,
      `https://registry.npmjs.org/${name}/-/${base}-${pkg.version ?? ""}.tgz`,
      key,
    )
    assert.match(pkg.integrity ?? "", /^sha512-/, key)
  }
  assert.equal(
    got["node_modules/@esbuild/linux-x64"]?.resolved,
    "https://registry.npmjs.org/@esbuild/linux-x64/-/linux-x64-0.28.2.tgz",
  )
  // entries that have a URL, links and the root stay as they are
  assert.deepEqual(
    nixEval(
      `{ root }: (${cofferLib}.npm.withResolved { packages = { "" = { name = "x"; }; "node_modules/a" = { version = "1.0.0"; integrity = "sha512-x"; resolved = "https://example.org/a.tgz"; }; "node_modules/b" = { link = true; resolved = "lib/b"; }; }; }).packages`,
    ),
    {
      "": { name: "x" },
      "node_modules/a": {
        version: "1.0.0",
        integrity: "sha512-x",
        resolved: "https://example.org/a.tgz",
      },
      "node_modules/b": { link: true, resolved: "lib/b" },
    },
  )
})
