/**
 * What the NixOS modules write, run for real: the manifests and activation snippets that
 * nix/modules produce for the sops-nix example and the agenix example of host dao
 * (test/nix/examples/) are run, in NixOS's activation order, by bash inside a booted
 * systemd container (test/support/container.ts) with the real `coffer install`, against
 * sops files and age files made for the container's host key (Debian's `age`, as agenix
 * users make them). Checked: every secret lands where sops-nix or agenix would put it, with
 * the declared owner, group and mode, links for custom paths, a template rendered, the
 * users' secrets before users exist, and agenix's two steps (a secret whose owner does not
 * exist yet is installed once the users snippet has made it).
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { execFileSync } from "node:child_process"
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { encryptFile } from "../../src/sops/index.js"
import { sshPublicKeyToAge } from "../../src/keys/ssh-to-age.js"
import { bootContainer } from "../support/container.js"
import { tmpTree } from "../support/tmp.js"
import { requireRoot, requireTool } from "../support/tools.js"
import { evalModules, repoPath, requireNix, root } from "./nix.js"

const share = "/opt/share"
/** Where the evaluation puts the manifests (a stand-in store directory inside share). */
const store = `${share}/store`

interface Evaluated {
  manifests: { sops: unknown; sopsUsers: unknown; age: unknown }
  snippets: Record<string, { deps: string[]; text: string }>
}

test("in a booted systemd: the modules' manifests and snippets install sops-nix's and agenix's secrets", async (t) => {
  if (
    !requireRoot(t, "boots a container with systemd-nspawn") ||
    !requireNix(t) ||
    !requireTool(t, "systemd-nspawn", "systemd-container") ||
    !requireTool(t, "ssh-keygen", "openssh-client") ||
    !requireTool(t, "age", "age") ||
    !requireTool(t, "unshare", "util-linux")
  ) {
    return
  }
  const dir = tmpTree(t, {})
  chmodSync(dir, 0o755)
  const shareDir = join(dir, "share")
  mkdirSync(join(shareDir, "store"), { recursive: true })
  const hostKey = join(shareDir, "ssh_host_ed25519_key")
  execFileSync("ssh-keygen", ["-t", "ed25519", "-N", "", "-q", "-f", hostKey])
  const rsaKey = join(shareDir, "ssh_host_rsa_key")
  execFileSync("ssh-keygen", ["-t", "rsa", "-b", "2048", "-N", "", "-q", "-f", rsaKey])
  const recipient = sshPublicKeyToAge(readFileSync(`${hostKey}.pub`, "utf8"))

  // sops files, encrypted to the host key's ssh-to-age recipient (as sops-nix users do)
  const sops = async (
    name: string,
    text: string,
    format: "yaml" | "binary" | "dotenv",
  ): Promise<void> => {
    writeFileSync(
      join(shareDir, name),
      await encryptFile(text, format, { keyGroups: [{ age: [recipient], pgp: [] }] }),
    )
  }
  await sops(
    "dao.yaml",
    "tailscale_authkey: tskey-auth-dao\ndb:\n  password: pg-secret\nsmtp:\n  token: smtp-secret\nalice-password: $6$hash\n",
    "yaml",
  )
  await sops("wg.bin", "wg-private-key\n", "binary")
  await sops("api.env", "API_TOKEN=api-secret\n", "dotenv")
  // age files, encrypted with Debian's age to the SSH public key (as agenix users do)
  const plaintexts: Record<string, string> = {
    "tailscale-authkey": "tskey-auth-agenix",
    "nginx-htpasswd": "admin:$apr1$x",
    "app-token": "app-token-1",
    monitrc: "set daemon 30",
    "api-env": "API=1",
    "passwordfile-alice": "$6$alice",
  }
  const ageFile = (name: string, text: string): void => {
    execFileSync("age", ["-R", `${hostKey}.pub`, "-o", join(shareDir, `${name}.age`)], {
      input: text,
    })
  }
  for (const [name, text] of Object.entries(plaintexts)) ageFile(name, text)
  // and an age identity file in identityPaths (agenix hands it to age -i as it does SSH keys)
  const keyFile = join(shareDir, "agenix-key.txt")
  execFileSync("age-keygen", ["-o", keyFile], { stdio: "ignore" })
  const keyRecipient = /^# public key: (age1\S+)$/m.exec(readFileSync(keyFile, "utf8"))?.[1]
  assert.ok(keyRecipient !== undefined)
  execFileSync("age", ["-r", keyRecipient, "-o", join(shareDir, "from-key-file.age")], {
    input: "opened-with-the-key-file",
  })

  // what the modules write for the two examples, with coffer at /opt/coffer
  const evaluated = evalModules(
    [
      repoPath("nix/modules/sops.nix"),
      repoPath("nix/modules/age.nix"),
      repoPath("test/nix/examples/sops-dao.nix"),
      repoPath("test/nix/examples/agenix-dao.nix"),
      `{ services.coffer.package = { type = "derivation"; name = "coffer"; outPath = "/opt/coffer"; }; }`,
      `{ age.identityPaths = [ "${share}/agenix-key.txt" ];
         age.secrets.from-key-file.file = "${share}/from-key-file.age"; }`,
    ],
    "r: { inherit (r) manifests; snippets = r.config.system.activationScripts; }",
    { storeDir: store },
  ) as Evaluated
  // the manifest installed here is the one sops-nix writes for the example
  assert.deepStrictEqual(
    evaluated.manifests.sops,
    JSON.parse(
      readFileSync(join(root, "test", "vectors", "nix", "sops-dao.manifest.json"), "utf8"),
    ),
  )
  const fake = "00000000000000000000000000000000"
  writeFileSync(
    join(shareDir, "store", `${fake}-manifest.json`),
    JSON.stringify(evaluated.manifests.sops),
  )
  writeFileSync(
    join(shareDir, "store", `${fake}-manifest-for-users.json`),
    JSON.stringify(evaluated.manifests.sopsUsers),
  )
  writeFileSync(
    join(shareDir, "store", `${fake}-agenix-manifest.json`),
    JSON.stringify(evaluated.manifests.age),
  )

  // NixOS's activation script: the snippets in dependency order, one bash, an ERR trap;
  // the `users` and `groups` snippets are stood in for by systemd-sysusers
  const snippet = (name: string): string => {
    const s = evaluated.snippets[name]
    assert.ok(s !== undefined, `snippet ${name}`)
    return `# ${name}\n${s.text}`
  }
  const users = ["postgres", "app", "nginx", "systemd-network"].map((u) => `'u ${u} -'`).join(" ")
  const activation = [
    "_status=0",
    "trap '_status=1; echo \"failed: $BASH_COMMAND\" >&2' ERR",
    snippet("setupSecretsForUsers"),
    snippet("agenixNewGeneration"),
    snippet("agenixInstall"),
    `# users, groups\nsystemd-sysusers --inline ${users}`,
    snippet("setupSecrets"),
    snippet("agenixChown"),
    snippet("agenix"),
    "exit $_status",
  ].join("\n")
  writeFileSync(join(shareDir, "activate.sh"), activation)

  const box = await bootContainer(t, [`${root}:/opt/coffer`, `${shareDir}:${share}`])
  const sh = (command: string): { status: number | null; stdout: string; stderr: string } =>
    box.exec(["sh", "-c", command])
  // names, or ids for owners no user or group has
  const stat = (path: string): string =>
    sh(`stat -c '%U:%G %a %F' ${path}`)
      .stdout.trim()
      .replace(/^UNKNOWN:UNKNOWN/, () => sh(`stat -c %u:%g ${path}`).stdout.trim())
  const cat = (path: string): string => box.exec(["cat", path]).stdout
  const link = (path: string): string => box.exec(["readlink", path]).stdout.trim()

  // the users from sysusers do not exist before the users snippet
  assert.notEqual(sh("getent passwd app").status, 0)
  const first = box.exec(["bash", `${share}/activate.sh`])
  assert.equal(first.status, 0, `${first.stdout}\n${first.stderr}`)
  assert.ok(!first.stderr.includes("is not a user"), first.stderr)
  assert.match(first.stdout, /installing the agenix secrets again, now that users and groups exist/)

  // sops-nix's layout: /run/secrets and /run/secrets-for-users, each a generation on a ramfs
  assert.equal(link("/run/secrets"), "/run/secrets.d/1")
  assert.equal(link("/run/secrets-for-users"), "/run/secrets-for-users.d/1")
  assert.match(
    sh("stat -f -c %T /run/secrets.d /run/secrets-for-users.d /run/agenix.d").stdout,
    /^ramfs\nramfs\nramfs\n$/,
  )
  const expected: [string, string, string][] = [
    ["/run/secrets/tailscale_authkey", "root:root 400 regular file", "tskey-auth-dao"],
    ["/run/secrets/db/password", "postgres:postgres 440 regular file", "pg-secret"],
    ["/run/secrets/smtp-token", "root:root 400 regular file", "smtp-secret"],
    [
      "/run/secrets/wireguard-key",
      "systemd-network:systemd-network 400 regular file",
      "wg-private-key\n",
    ],
    ["/run/secrets/api-env", "4242:4242 440 regular file", "API_TOKEN=api-secret\n"],
    ["/run/secrets-for-users/alice-password", "root:root 400 regular file", "$6$hash"],
    // agenix's layout, owners given as names or numbers, "440" as chmod takes it
    [
      "/run/agenix/tailscale-authkey",
      "root:root 400 regular file",
      plaintexts["tailscale-authkey"] ?? "",
    ],
    [
      "/run/agenix/nginx-htpasswd",
      "nginx:nginx 440 regular file",
      plaintexts["nginx-htpasswd"] ?? "",
    ],
    ["/run/agenix/app-token", "app:app 400 regular file", "app-token-1"],
    ["/run/agenix/monitrc", "root:root 400 regular file", plaintexts["monitrc"] ?? ""],
    ["/run/agenix/api-env", "4242:4242 440 regular file", plaintexts["api-env"] ?? ""],
    [
      "/run/agenix/passwordfile-alice",
      "root:root 400 regular file",
      plaintexts["passwordfile-alice"] ?? "",
    ],
    ["/run/agenix/from-key-file", "root:root 400 regular file", "opened-with-the-key-file"],
  ]
  for (const [path, owner, content] of expected) {
    assert.equal(stat(path), owner, path)
    assert.equal(cat(path), content, path)
  }
  // the mount units configurations order against (After=run-agenix.d.mount), made by
  // systemd for the RAM filesystems the install mounted
  assert.equal(
    sh(
      "systemctl is-active run-agenix.d.mount run-secrets.d.mount $(systemd-escape -p --suffix=mount /run/secrets-for-users.d)",
    ).stdout,
    "active\nactive\nactive\n",
  )
  // the rendered template and the links for custom paths (to the stable link, as upstream)
  assert.equal(stat("/run/secrets/rendered/app.conf"), "app:app 400 regular file")
  assert.equal(
    cat("/run/secrets/rendered/app.conf"),
    "[database]\npassword = pg-secret\n[smtp]\ntoken = smtp-secret\n",
  )
  assert.equal(link("/etc/postfix/smtp-token"), "/run/secrets/smtp-token")
  assert.equal(link("/etc/monitrc"), "/run/agenix/monitrc")
  assert.equal(cat("/etc/monitrc"), plaintexts["monitrc"])
  // agenix keeps one generation: the first attempt's generation is gone
  const generations = (): string => sh("ls /run/agenix.d").stdout.trim()
  const current = link("/run/agenix")
  assert.match(current, /^\/run\/agenix\.d\/\d+$/)
  assert.equal(generations(), current.slice("/run/agenix.d/".length))
  // nothing is readable by others, and the directories are root:keys-style 0751
  assert.equal(
    sh("find /run/secrets.d /run/secrets-for-users.d /run/agenix.d -perm /o+r -type f").stdout,
    "",
  )
  assert.match(stat("/run/agenix.d"), / 751 directory$/)

  // a switch: a changed age file, users exist now, so one install in agenixInstall
  ageFile("app-token", "app-token-2")
  const second = box.exec(["bash", `${share}/activate.sh`])
  assert.equal(second.status, 0, `${second.stdout}\n${second.stderr}`)
  assert.ok(!second.stdout.includes("installing the agenix secrets again"), second.stdout)
  assert.equal(cat("/run/agenix/app-token"), "app-token-2")
  assert.equal(stat("/run/agenix/app-token"), "app:app 400 regular file")
  assert.notEqual(link("/run/agenix"), current)
  assert.equal(generations(), link("/run/agenix").slice("/run/agenix.d/".length))
  assert.equal(link("/run/secrets"), "/run/secrets.d/2")
  assert.equal(sh("ls /run/secrets.d").stdout, "1\n2\n", "sops.keepGenerations = 2")
})
