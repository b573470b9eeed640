#!/usr/bin/env bash
# Whole-process cost of one `get`, the request a host tool makes on every
# docker pull or git fetch, on real secure stores started here:
#
#   bench/get.sh [RUNS]
#
# Compares, on each backend, the helper under its docker name with the
# library floor (bench/keyringfloor: one 99designs/keyring Get) and with
# docker's own helpers (docker-credential-pass, docker-credential-secretservice,
# built from the docker-credential-helpers version in go.mod), plus the
# process floor (`true`). Prints a Markdown table of medians. Everything it
# starts it stops by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200}

./scripts/test-deps
for p in libsecret-1-dev pkg-config; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >/dev/null
done

state=$(mktemp -d /tmp/albench.XXXXXX)
pids=()
cleanup() {
  # The kernel keyring outlives this script: take back what it stored there.
  if [ -n "${server:-}" ]; then
    printf '%s' "$server" | ACTIVELOOP_CREDENTIAL_BACKEND=keyctl "$bin/docker-credential-activeloop" erase || true
  fi
  keyctl unlink %keyring:keyringfloor @u >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$state"
}
trap cleanup EXIT

bin=$state/bin; mkdir -p "$bin"
# Built as releases are (goreleaser.yaml): no cgo, no man-page writer.
CGO_ENABLED=0 go build -trimpath -tags urfave_cli_no_docs -ldflags="-s -w" -o "$bin/activeloop-credential-helper" ./cmd/activeloop-credential-helper
ln -s activeloop-credential-helper "$bin/docker-credential-activeloop"
go build -o "$bin/keyringfloor" ./bench/keyringfloor
go build -o "$bin/execbench" ./bench/execbench
go build -o "$bin/docker-credential-pass" github.com/docker/docker-credential-helpers/pass/cmd
go build -o "$bin/docker-credential-secretservice" github.com/docker/docker-credential-helpers/secretservice/cmd
export PATH="$bin:$PATH"
export ACTIVELOOP_CREDENTIAL_HELPER_CONFIG=$state/none.toml HOME=$state
: > "$ACTIVELOOP_CREDENTIAL_HELPER_CONFIG"

# pass with a throwaway key (GNUPGHOME short: gpg-agent's socket path limit).
export GNUPGHOME=$state/g PASSWORD_STORE_DIR=$state/ps
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --pinentry-mode loopback --passphrase '' \
  --quick-generate-key 'bench <bench@example.invalid>' future-default default never 2>/dev/null
fpr=$(gpg --batch --list-secret-keys --with-colons bench@example.invalid | awk -F: '/^fpr/{print $10; exit}')
pass init "$fpr" >/dev/null 2>&1
pids+=("$(gpg-connect-agent 'getinfo pid' /bye | awk '/^D/{print $2}')")

# gnome-keyring on a private session bus.
mkdir -p "$state/run" "$state/data"
dbus-daemon --session --fork --nosyslog --address="unix:path=$state/bus" --print-pid > "$state/dbus.pid"
pids+=("$(cat "$state/dbus.pid")")
export DBUS_SESSION_BUS_ADDRESS=unix:path=$state/bus XDG_RUNTIME_DIR=$state/run XDG_DATA_HOME=$state/data
printf 'bench' | gnome-keyring-daemon --foreground --unlock --components=secrets >/dev/null 2>&1 &
pids+=("$!")
until dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
  org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'; do sleep 0.05; done

server=https://bench.example
token=eyJhbGciOiJIUzI1NiJ9.eyJpZCI6ImJlbmNoIn0.c2lnbmF0dXJlLWJ5dGVz
creds=$(printf '{"ServerURL":"%s","Username":"bench","Secret":"%s"}' "$server" "$token")

rows=()
measure() { # NAME CMD...
  rows+=("$(execbench -n "$runs" -stdin "$server" "$@")")
}
for backend in secret-service pass keyctl; do
  export ACTIVELOOP_CREDENTIAL_BACKEND=$backend
  printf '%s' "$creds" | docker-credential-activeloop store
  keyringfloor "$backend" "+bench=$token" >/dev/null
  measure "activeloop ($backend)" -- docker-credential-activeloop get
  measure "keyring floor ($backend)" -- keyringfloor "$backend" bench
  case $backend in
    pass)           printf '%s' "$creds" | docker-credential-pass store
                    measure "docker-credential-pass" -- docker-credential-pass get ;;
    secret-service) printf '%s' "$creds" | docker-credential-secretservice store
                    measure "docker-credential-secretservice" -- docker-credential-secretservice get ;;
  esac
done
measure "true (process floor)" -- true

printf '| command | median ms | p10 ms | p90 ms | peak RSS MiB |\n|---|---:|---:|---:|---:|\n'
for r in "${rows[@]}"; do
  IFS=$'\t' read -r name med p10 p90 rss <<<"$r"
  printf '| %s | %s | %s | %s | %.1f |\n' "$name" "$med" "$p10" "$p90" "$(awk -v r="$rss" 'BEGIN{print r/1024}')"
done
printf '\nbinary: %s KiB (stripped)\n' "$(( $(stat -c %s "$bin/activeloop-credential-helper") / 1024 ))"
