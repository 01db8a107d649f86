/**
 * nix/package.nix, built the way nixpkgs' buildNpmPackage builds it, without nixpkgs: only
 * the files of the package's `src` fileset are copied into an empty directory, the
 * dependencies are the ones package-lock.json pins (this checkout's `npm ci`, which is what
 * importNpmLock's config hook installs from the same lock), `npm run <npmBuildScript>`
 * builds, `npm pack --dry-run` with the package's `npmPackFlags` lists what is installed
 * (as npmInstallHook does), and the installed coffer runs with only the production
 * dependencies beside it (what `npm prune --omit=dev` leaves). What remains untested is
 * nixpkgs itself: the fetchers, the hooks' shell code, the sandbox.
 */
import { test } from "node:test"
import assert from "node:assert/strict"
import { spawnSync } from "node:child_process"
import { cpSync, mkdirSync, readFileSync, symlinkSync } from "node:fs"
import { dirname, join } from "node:path"
import { tmpTree } from "../support/tmp.js"
import { nixEval, requireNix, root } from "./nix.js"

const evaluation = `{ root }: let
  standIn = import (/. + root + "/test/nix/stand-in-lib.nix");
  lib = standIn // {
    importJSON = p: builtins.fromJSON (builtins.readFile p);
    fileset = { unions = xs: xs; toSource = { root, fileset }: map toString fileset; };
    licenses.mit = "MIT"; platforms.linux = [ ];
  };
  pkg = import (/. + root + "/nix/package.nix") {
    inherit lib;
    buildNpmPackage = attrs: attrs;
    importNpmLock = { __functor = _: args: { }; npmConfigHook = null; };
    nodejs = null;
  };
in { inherit (pkg) src npmBuildScript; npmPackFlags = pkg.npmPackFlags or [ ]; }`

interface Lock {
  packages: Record<string, { dev?: boolean }>
}

function run(
  command: string,
  args: readonly string[],
  cwd: string,
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(command, args, {
    cwd,
    encoding: "utf8",
    env: { ...process.env, npm_config_offline: "true", npm_config_update_notifier: "false" },
    maxBuffer: 64 * 1024 * 1024,
  })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

test("the package builds from its fileset alone and runs with production dependencies", (t) => {
  if (!requireNix(t)) return
  const got = nixEval(evaluation) as {
    src: string[]
    npmBuildScript: string
    npmPackFlags: string[]
  }
  const dir = tmpTree(t, {})
  const build = join(dir, "build")
  mkdirSync(build)
  for (const path of got.src) {
    assert.ok(path.startsWith(`${root}/`), path)
    cpSync(path, join(build, path.slice(root.length + 1)), { recursive: true })
  }
  symlinkSync(join(root, "node_modules"), join(build, "node_modules"))

  // buildPhase: npm run <npmBuildScript>
  const built = run("npm", ["run", got.npmBuildScript], build)
  assert.equal(built.status, 0, `${built.stdout}\n${built.stderr}`)

  // installPhase: what npm pack would put in the package, without running scripts again
  const packed = run("npm", ["pack", "--dry-run", "--json", ...got.npmPackFlags], build)
  assert.equal(packed.status, 0, packed.stderr)
  assert.ok(
    !`${packed.stdout}${packed.stderr}`.includes("> coffer@"),
    "npm pack ran the build again",
  )
  const files = (JSON.parse(packed.stdout) as { files: { path: string }[] }[])[0]?.files ?? []
  const out = join(dir, "out", "lib", "node_modules", "coffer")
  for (const { path } of files) {
    mkdirSync(dirname(join(out, path)), { recursive: true })
    cpSync(join(build, path), join(out, path))
  }
  // npm prune --omit=dev: only what the lock file does not mark as dev
  const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as Lock
  for (const [key, entry] of Object.entries(lock.packages)) {
    if (key === "" || entry.dev === true) continue
    cpSync(join(root, key), join(out, key), { recursive: true })
  }

  const coffer = join(out, "bin", "coffer")
  const version = run(coffer, ["--version"], dir)
  assert.equal(version.status, 0, version.stderr)
  assert.match(version.stdout, /^coffer \d+\.\d+\.\d+/)
  for (const bin of ["coffer-age", "coffer-age-keygen"]) {
    const r = run(join(out, "bin", bin), ["--version"], dir)
    assert.equal(r.status, 0, `${bin}: ${r.stderr}`)
  }
  // real work: a key, a file encrypted to it and opened again, the man pages
  const key = run(join(out, "bin", "coffer-age-keygen"), ["-o", join(dir, "key.txt")], dir)
  assert.equal(key.status, 0, key.stderr)
  const recipient = /^# public key: (age1\S+)$/m.exec(readFileSync(join(dir, "key.txt"), "utf8"))
  assert.ok(recipient?.[1] !== undefined)
  const enc = spawnSync(
    join(out, "bin", "coffer-age"),
    ["-r", recipient[1], "-o", join(dir, "x.age")],
    { input: "packaged", encoding: "utf8" },
  )
  assert.equal(enc.status, 0, enc.stderr)
  const dec = run(
    join(out, "bin", "coffer-age"),
    ["-d", "-i", join(dir, "key.txt"), join(dir, "x.age")],
    dir,
  )
  assert.equal(dec.stdout, "packaged", dec.stderr)
  assert.ok(
    files.some((f) => f.path === "dist/man/coffer-install.1"),
    "man pages installed",
  )
})
