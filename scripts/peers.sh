#!/usr/bin/env bash
# Builds the real reference tools the tests run against ("peers") from pinned Go module
# versions into .peers/bin (ignored by git). They are test tools only: coffer itself
# runs on Node, with no Go at run time. Tests find them through test/support/peers.ts.
#
#   scripts/peers.sh            build what is missing or pinned at another version
#   scripts/peers.sh --list     print the pinned versions
#
# Needs Go 1.26 ($GO, else go on PATH, else /usr/local/go/bin/go) and the Go module
# proxy. Each group is rebuilt only when its pin changes (a stamp per group); the Go
# build and module caches make a rebuild quick.
#
# How: each group gets a throwaway main module under .peers/src/GROUP that requires the
# pinned version (`go get MODULE/cmd/X@VERSION`), then `go install` builds the commands
# with exactly the dependency versions of the pinned module's own go.mod (none of these
# modules has a replace directive, and nothing else is required). This is what
# `go install MODULE/cmd/X@VERSION` does, but it also works for modules whose version
# list the proxy refuses (headscale, ssh-to-age: `go install …@v` then fails while
# "loading deprecation", which needs that list). tailscale and headscale are separate
# groups so that headscale keeps the tailscale.com version it was released with.
# age-plugin-tagtest is age's own test plugin: it decrypts files encrypted to its two fixed
# tagged recipients (age1tag1…, age1tagpq1…), the only identity for those that exists
# outside hardware keys; a group of its own so that adding it rebuilt nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

# group      version   packages (one module per group)
groups=(
  "sops       v3.13.2   github.com/getsops/sops/v3/cmd/sops"
  "age        v1.3.2    filippo.io/age/cmd/age filippo.io/age/cmd/age-keygen filippo.io/age/cmd/age-plugin-batchpass filippo.io/age/cmd/age-inspect"
  "age-tagtest v1.3.2   filippo.io/age/tag/internal/age-plugin-tagtest"
  "ssh-to-age v1.3.0    github.com/Mic92/ssh-to-age/cmd/ssh-to-age"
  "tailscale  v1.102.5  tailscale.com/cmd/tailscale tailscale.com/cmd/tailscaled"
  "headscale  v0.29.2   github.com/juanfont/headscale/cmd/headscale"
  "local-kms  v0.0.0-20260228092603-2a5e92d09ab6 github.com/nsmithuk/local-kms"
)

if [[ "${1:-}" == "--list" ]]; then
  for line in "${groups[@]}"; do
    read -r group version packages <<<"$line"
    for p in $packages; do printf '%-22s %-10s %s\n' "${p##*/}" "$version" "$p"; done
  done
  exit 0
fi

GO="${GO:-}"
if [[ -z "$GO" ]]; then
  if command -v go >/dev/null 2>&1; then GO=$(command -v go); else GO=/usr/local/go/bin/go; fi
fi
if [[ ! -x "$GO" ]]; then
  echo "peers: Go not found (looked at \$GO, go on PATH, /usr/local/go/bin/go): install Go 1.26" >&2
  exit 1
fi

out="$PWD/.peers"
mkdir -p "$out/bin" "$out/stamps" "$out/src"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$out/bin" GOFLAGS=-buildvcs=false

start=$(date +%s)
built=0
for line in "${groups[@]}"; do
  read -r group version packages <<<"$line"
  want="$version $packages"
  stamp="$out/stamps/$group"
  fresh=1
  for p in $packages; do [[ -x "$out/bin/${p##*/}" ]] || fresh=0; done
  if ((fresh)) && [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then continue; fi

  echo "peers: building $group $version"
  rm -f "$stamp"
  src="$out/src/$group"
  rm -rf "$src" && mkdir -p "$src"
  (
    cd "$src"
    "$GO" mod init "coffer-peers/$group" >/dev/null 2>&1
    for p in $packages; do "$GO" get "$p@$version" >/dev/null; done
    # shellcheck disable=SC2086
    "$GO" install $packages
  )
  for p in $packages; do
    [[ -x "$out/bin/${p##*/}" ]] || { echo "peers: ${p##*/} was not built" >&2; exit 1; }
  done
  printf '%s\n' "$want" >"$stamp"
  built=$((built + 1))
done
if ((built)); then
  echo "peers: built $built group(s) in $(($(date +%s) - start))s into $out/bin"
else
  echo "peers: up to date in $out/bin"
fi
