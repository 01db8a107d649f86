// The manifest's `tailscale` section (docs/manifest.md "Tailscale join").
import { test } from "node:test"
import assert from "node:assert/strict"
import { ManifestError } from "./errors.js"
import { parseManifest } from "./manifest.js"

function manifest(tailscale: unknown, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    secrets: [
      { name: "tailscale_authkey", sopsFile: "/etc/coffer/ts.yaml", restartUnits: ["x.service"] },
      { name: "ts_oauth", sopsFile: "/etc/coffer/ts.yaml", path: "/etc/ts-oauth" },
    ],
    ageSshKeyPaths: ["/etc/ssh/ssh_host_ed25519_key"],
    tailscale,
    ...extra,
  })
}

function problems(tailscale: unknown): string[] {
  try {
    parseManifest(manifest(tailscale), "m.json")
  } catch (err) {
    assert.ok(err instanceof ManifestError)
    return err.problems.map((p) => p.message)
  }
  return []
}

test("a tailscale section: defaults, the key's path, and the restart wiring", () => {
  const m = parseManifest(
    manifest({ authKeySecret: "tailscale_authkey", hostname: "dao", acceptDns: false }),
    "m.json",
  )
  assert.ok(m.tailscale !== null)
  assert.equal(m.tailscale.keyPath, "/run/secrets/tailscale_authkey")
  assert.equal(m.tailscale.unit, "coffer-tailscale.service")
  assert.equal(m.tailscale.socket, "/run/tailscale/tailscaled.sock")
  assert.equal(m.tailscale.timeoutMs, 60_000)
  assert.equal(m.tailscale.apiUrl, "https://api.tailscale.com")
  assert.equal(m.tailscale.tailnet, "-")
  assert.deepEqual(m.tailscale.settings, {
    loginServer: null,
    hostname: "dao",
    advertiseTags: [],
    advertiseRoutes: [],
    advertiseExitNode: false,
    acceptDns: false,
    acceptRoutes: null,
    ssh: false,
    extraUpFlags: [],
  })
  // the key secret restarts the join unit, as if it were in its restartUnits
  assert.deepEqual(m.secrets[0]?.restartUnits, ["x.service", "coffer-tailscale.service"])
  assert.deepEqual(m.secrets[1]?.restartUnits, [])

  const o = parseManifest(
    manifest({
      oauthClientSecret: "ts_oauth",
      advertiseTags: ["tag:server"],
      timeout: "2m",
      unit: "ts-join.service",
    }),
    "m.json",
  )
  assert.equal(o.tailscale?.keyPath, "/etc/ts-oauth")
  assert.equal(o.tailscale.timeoutMs, 120_000)
  assert.deepEqual(o.secrets[1]?.restartUnits, ["ts-join.service"])
  assert.equal(parseManifest(manifest(null), "m.json").tailscale, null)
})

test("a tailscale section that is wrong says what and where", () => {
  assert.deepEqual(problems({}), [
    "give exactly one of authKeySecret and oauthClientSecret (the name of a secret in this manifest)",
  ])
  assert.match(
    problems({ authKeySecret: "tailscale_authkey", oauthClientSecret: "ts_oauth" })[0] ?? "",
    /^give exactly one/,
  )
  assert.deepEqual(problems({ authKeySecret: "nope" }), [
    'authKeySecret names the secret "nope", which this manifest does not have',
  ])
  assert.deepEqual(problems({ oauthClientSecret: "ts_oauth" }), [
    "oauthClientSecret needs advertiseTags: keys minted by an OAuth client are always tagged",
  ])
  const bad = problems({
    authKeySecret: "tailscale_authkey",
    hostname: "not a name",
    extraUpFlags: ["--auth-key=tskey-auth-x", "--operator=alice"],
    timeout: "soon",
    unit: "join",
    loginServer: "headscale.example",
    socket: "run/ts.sock",
  })
  assert.equal(bad.length, 6, bad.join("\n"))
  assert.ok(bad.some((p) => /--auth-key would put a secret in the command line/.test(p)))
  assert.ok(!bad.some((p) => p.includes("tskey-auth-x")))
  assert.deepEqual(problems("yes"), ["tailscale is not an object"])
})
