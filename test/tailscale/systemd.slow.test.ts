/**
 * `coffer-tailscale.service` under a real systemd (issue 10 "In the booted systemd
 * container"): the container (test/support/container.ts) runs the install unit, a real
 * headscale and a real tailscaled as units on its private loopback, and the join unit exactly
 * as `coffer units` writes it (plus a drop-in putting the peers on PATH, as a host whose
 * tailscale lives elsewhere would add).
 *
 * Checked: the join starts only after the install unit has finished and tailscaled is up, and
 * the node is Running and listed by headscale; a rotated key secret restarts the join unit
 * (coffer install does it), which changes nothing and leaves one node; a broken key on a node
 * that must log in shows as a failed unit (not restarted: exit 5), listed by `systemctl
 * --failed`, while another service keeps running; no key reaches the journal.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { execFileSync } from "node:child_process"
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  realpathSync,
  symlinkSync,
  writeFileSync,
} from "node:fs"
import { join } from "node:path"
import { encryptFile } from "../../src/sops/index.js"
import { sshPublicKeyToAge } from "../../src/keys/ssh-to-age.js"
import { parseManifest } from "../../src/host/manifest.js"
import { installUnitName, planUnits } from "../../src/host/units.js"
import { repoRoot } from "../support/cli.js"
import { bootContainer, waitFor } from "../support/container.js"
import { startHeadscale } from "../support/headscale.js"
import { peersDir, requirePeer } from "../support/peers.js"
import { tmpTree } from "../support/tmp.js"
import { requireRoot, requireTool } from "../support/tools.js"

const share = "/opt/share"
const peers = "/opt/peers"
const coffer = "/opt/coffer/bin/coffer"
const joinUnit = "coffer-tailscale.service"

const headscaleConfig = `server_url: http://127.0.0.1:8080
listen_addr: 127.0.0.1:8080
metrics_listen_addr: ""
grpc_listen_addr: 127.0.0.1:50443
noise: {private_key_path: /var/lib/hs/noise_private.key}
prefixes: {v4: 100.64.0.0/10, v6: "fd7a:115c:a1e0::/48"}
derp:
  server: {enabled: true, region_id: 999, region_code: local, region_name: local,
           stun_listen_addr: "127.0.0.1:3478", private_key_path: /var/lib/hs/derp_private.key,
           automatically_add_embedded_derp_region: true, ipv4: 127.0.0.1}
  urls: []
  paths: []
  auto_update_enabled: false
database: {type: sqlite, sqlite: {path: /var/lib/hs/db.sqlite}}
unix_socket: /var/lib/hs/headscale.sock
unix_socket_permission: "0700"
dns: {magic_dns: false, override_local_dns: false}
disable_check_updates: true
`

test("under a real systemd: the join unit follows the secrets and tailscaled, restarts on a new key, fails visibly on a broken one", async (t) => {
  if (
    !requireRoot(t, "boots a container with systemd-nspawn") ||
    !requireTool(t, "systemd-nspawn", "systemd-container") ||
    !requireTool(t, "ssh-keygen", "openssh-client") ||
    !requireTool(t, "unshare", "util-linux")
  ) {
    return
  }
  const headscaleBin = requirePeer(t, "headscale")
  if (
    headscaleBin === null ||
    requirePeer(t, "tailscaled") === null ||
    requirePeer(t, "tailscale") === null
  )
    return

  // headscale's state with a user and keys, made on the host, then copied into the box
  const hs = await startHeadscale(headscaleBin, (fn) => {
    t.after(fn)
  })
  const user = hs.createUser("box")
  const key1 = hs.createKey({ user, expiration: "2h" })
  const key2 = hs.createKey({ user, expiration: "2h" })
  const broken = `hskey-auth-${"B".repeat(12)}-${"x".repeat(64)}`
  await hs.stop()

  const dir = tmpTree(t, {})
  chmodSync(dir, 0o755)
  const shareDir = join(dir, "share")
  const unitsDir = join(dir, "units")
  mkdirSync(join(shareDir, "hs"), { recursive: true })
  mkdirSync(unitsDir)
  for (const f of ["db.sqlite", "noise_private.key", "derp_private.key"]) {
    try {
      copyFileSync(join(hs.dir, f), join(shareDir, "hs", f))
    } catch {
      // derp_private.key is made on first start if missing
    }
  }
  writeFileSync(join(shareDir, "hs", "config.yaml"), headscaleConfig)
  execFileSync("ssh-keygen", ["-t", "ed25519", "-N", "", "-q", "-f", join(shareDir, "host_key")])
  const recipient = sshPublicKeyToAge(
    execFileSync("ssh-keygen", ["-y", "-f", join(shareDir, "host_key")], { encoding: "utf8" }),
  )
  const writeKey = async (key: string): Promise<void> => {
    writeFileSync(
      join(shareDir, "tailscale.yaml"),
      await encryptFile(`tailscale_authkey: ${key}\n`, "yaml", {
        keyGroups: [{ age: [recipient], pgp: [] }],
      }),
    )
  }
  await writeKey(key1)
  const manifest = JSON.stringify({
    secrets: [
      {
        name: "tailscale_authkey",
        key: "tailscale_authkey",
        sopsFile: `${share}/tailscale.yaml`,
        format: "yaml",
        mode: "0400",
      },
    ],
    ageSshKeyPaths: [`${share}/host_key`],
    tailscale: {
      authKeySecret: "tailscale_authkey",
      loginServer: "http://127.0.0.1:8080",
      hostname: "box",
      acceptDns: false,
      timeout: "45s",
    },
  })
  writeFileSync(join(shareDir, "manifest.json"), manifest)

  const plan = planUnits(parseManifest(manifest, "manifest.json"), {
    cofferPath: coffer,
    manifestPath: `${share}/manifest.json`,
  })
  for (const file of plan.files) {
    mkdirSync(join(unitsDir, file.path, ".."), { recursive: true })
    writeFileSync(join(unitsDir, file.path), file.text)
  }
  mkdirSync(join(unitsDir, `${joinUnit}.d`))
  writeFileSync(
    join(unitsDir, `${joinUnit}.d`, "path.conf"),
    `[Service]\nEnvironment=PATH=${peers}:/usr/local/bin:/usr/bin:/bin\n`,
  )
  writeFileSync(
    join(unitsDir, "headscale.service"),
    `[Unit]\nDescription=headscale\n[Service]\nExecStartPre=/bin/sh -c 'mkdir -p /var/lib/hs && cp -n ${share}/hs/* /var/lib/hs/'\nExecStart=${peers}/headscale -c /var/lib/hs/config.yaml serve\n[Install]\nWantedBy=multi-user.target\n`,
  )
  // tailscaled pauses its control client while no interface but loopback is up, which is
  // all a private network has: a veth pair inside the box (its packets go nowhere) makes it "online"
  writeFileSync(
    join(unitsDir, "box-net.service"),
    "[Unit]\nDescription=a private veth pair\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh -c 'ip link add boxv0 type veth peer name boxv1 && ip addr add 10.254.0.1/24 dev boxv0 && ip link set boxv1 up && ip link set boxv0 up && ip route add default dev boxv0'\n",
  )
  // tailscaled as its upstream unit runs it (Type=notify), on loopback, after headscale
  writeFileSync(
    join(unitsDir, "tailscaled.service"),
    `[Unit]\nDescription=tailscaled\nAfter=headscale.service box-net.service\nRequires=box-net.service\n[Service]\nType=notify\nEnvironment=TS_DEBUG_USE_DERP_HTTP=1\nExecStart=${peers}/tailscaled --tun=userspace-networking --socket=/run/tailscale/tailscaled.sock --statedir=/var/lib/tailscale --port=0 --no-logs-no-support\nRuntimeDirectory=tailscale\n[Install]\nWantedBy=multi-user.target\n`,
  )
  writeFileSync(
    join(unitsDir, "other.service"),
    "[Unit]\nDescription=an unrelated service\n[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n",
  )
  for (const [target, unit] of [
    ["sysinit.target.wants", installUnitName],
    ["multi-user.target.wants", joinUnit],
    ["multi-user.target.wants", "tailscaled.service"],
    ["multi-user.target.wants", "headscale.service"],
    ["multi-user.target.wants", "other.service"],
  ] as const) {
    mkdirSync(join(unitsDir, target), { recursive: true })
    symlinkSync(`../${unit}`, join(unitsDir, target, unit))
  }

  const box = await bootContainer(t, [
    `${repoRoot.replace(/\/$/, "")}:/opt/coffer`,
    `${realpathSync(peersDir())}:${peers}`,
    `${shareDir}:${share}`,
    `${unitsDir}:/etc/systemd/system`,
  ])
  const show = (unit: string, property: string): string =>
    box.exec(["systemctl", "show", "-P", property, unit]).stdout.trim()
  const journal = (): string =>
    box.exec(["journalctl", "-u", joinUnit, "--no-pager", "-o", "cat"]).stdout
  const nodes = (): { name: string }[] =>
    JSON.parse(
      box.exec([
        `${peers}/headscale`,
        "-c",
        "/var/lib/hs/config.yaml",
        "nodes",
        "list",
        "-o",
        "json",
      ]).stdout || "[]",
    ) as { name: string }[]
  const keys = [key1, key2, broken]

  // 1. boot: the join waited for the installer and tailscaled, and joined
  await waitFor(
    "the join unit to finish",
    () => ["active", "failed"].includes(show(joinUnit, "ActiveState")),
    90_000,
  ).catch((err: unknown) => {
    const units = ["tailscaled.service", "headscale.service", installUnitName, joinUnit]
    const states = units.map((u) => `${u}: ${show(u, "ActiveState")}`).join(", ")
    const logs = box.exec([
      "journalctl",
      "--no-pager",
      "-o",
      "cat",
      ...units.flatMap((u) => ["-u", u]),
    ]).stdout
    throw new Error(`${String(err)}; ${states}\n${logs.split("\n").slice(-40).join("\n")}`)
  })
  assert.equal(show(joinUnit, "ActiveState"), "active", journal())
  assert.equal(show(joinUnit, "Result"), "success")
  const joinStart = Number(show(joinUnit, "ExecMainStartTimestampMonotonic"))
  const installDone = Number(show(installUnitName, "ExecMainExitTimestampMonotonic"))
  const tailscaledUp = Number(show("tailscaled.service", "ActiveEnterTimestampMonotonic"))
  assert.ok(installDone > 0 && joinStart > installDone, "after the install unit finished")
  assert.ok(tailscaledUp > 0 && joinStart > tailscaledUp, "after tailscaled was up")
  const status = JSON.parse(
    box.exec([`${peers}/tailscale`, "--socket=/run/tailscale/tailscaled.sock", "status", "--json"])
      .stdout,
  ) as { BackendState: string; Self: { HostName: string } }
  assert.equal(status.BackendState, "Running")
  assert.deepEqual(
    nodes().map((n) => n.name),
    ["box"],
  )
  assert.match(journal(), /tailscale: "box" joined http:\/\/127\.0\.0\.1:8080/)

  // 2. a rotated key: coffer install restarts the join unit, which changes nothing
  const reinstall = (): ReturnType<typeof box.exec> =>
    box.exec([
      "systemd-run",
      "--wait",
      "--pipe",
      "--quiet",
      "-E",
      "SOPS_RESTART_UNITS_VIA_SYSTEMCTL=1",
      "-E",
      "HOME=/var/empty",
      coffer,
      "install",
      `${share}/manifest.json`,
    ])
  const firstInvocation = show(joinUnit, "InvocationID")
  await writeKey(key2)
  const rotated = reinstall()
  assert.equal(rotated.status, 0, rotated.stderr)
  assert.match(rotated.stdout, /restarting: .*coffer-tailscale\.service/)
  await waitFor(
    "the join unit to run again",
    () =>
      show(joinUnit, "InvocationID") !== firstInvocation &&
      show(joinUnit, "ActiveState") === "active",
    60_000,
  )
  assert.match(journal(), /as declared .*nothing to do/)
  assert.deepEqual(
    nodes().map((n) => n.name),
    ["box"],
    "still one node",
  )

  // 3. a broken key on a node that must log in: a failed unit, the rest keeps running
  const logout = box.exec([
    `${peers}/tailscale`,
    "--socket=/run/tailscale/tailscaled.sock",
    "logout",
  ])
  assert.equal(logout.status, 0, logout.stderr)
  await writeKey(broken)
  const secondInvocation = show(joinUnit, "InvocationID")
  reinstall()
  await waitFor(
    "the join unit to fail",
    () =>
      show(joinUnit, "InvocationID") !== secondInvocation &&
      show(joinUnit, "ActiveState") === "failed",
    60_000,
  )
  assert.equal(show(joinUnit, "ExecMainStatus"), "5")
  assert.match(
    box.exec(["systemctl", "--failed", "--plain", "--no-legend"]).stdout,
    /coffer-tailscale\.service/,
  )
  assert.equal(show("other.service", "ActiveState"), "active")
  assert.equal(show("tailscaled.service", "ActiveState"), "active")
  const text = journal()
  assert.match(text, /refused the auth key from file "\/run\/secrets\/tailscale_authkey"/)
  for (const key of keys) assert.ok(!text.includes(key), "no key in the journal")
})
