#!/usr/bin/env bash
# Whole-process cost of one `get`, the request a host tool makes on every
# docker pull or git fetch, on every Linux store, started here:
#
#   bench/run.sh [RUNS]     (RUNS per command, default 200; about 3 minutes)
#   bench/run.sh RUNS BACKEND...   (only those backends' rows, e.g. kwallet
#                                   or file; prints the table, writes nothing)
#
# On each backend (secret-service with gnome-keyring and kwallet with
# kwalletd5 on a private session bus, pass, keyctl, file warm and cold) it
# measures the helper under its docker name, built as releases are, next to
# the library floor (bench/keyringfloor: one 99designs/keyring Get, built
# alike) and docker's own helpers (docker-credential-pass and
# docker-credential-secretservice, from the docker-credential-helpers version
# in go.mod); then `git credential-store get` (plaintext) and `true` (the
# process floor). It writes docs/PERFORMANCE.md: medians, ratios, peak RSS
# and the binary size. Everything it starts it stops by PID, and it takes
# back what it stored in the kernel keyring. Too slow and noisy for CI.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200}
command_line="bench/run.sh${1:+ $1}"
only=("${@:2}")

./scripts/test-deps
for p in libsecret-1-dev pkg-config; do # docker-credential-secretservice links libsecret
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >/dev/null
done

state=$(mktemp -d /tmp/albench.XXXXXX)
bin=$state/bin
pids=()
cleanup() {
  # The kernel keyring outlives this script: take back what it stored there.
  if [ -n "${server:-}" ] && [ -x "$bin/docker-credential-activeloop" ]; then
    printf '%s' "$server" | ACTIVELOOP_CREDENTIAL_BACKEND=keyctl "$bin/docker-credential-activeloop" erase || true
    ACTIVELOOP_CREDENTIAL_BACKEND=file "$bin/activeloop-credential-helper" lock >/dev/null 2>&1 || true
  fi
  keyctl unlink %keyring:keyringfloor @u >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$state"
}
trap cleanup EXIT

mkdir -p "$bin"
# Built as goreleaser.yaml builds the Linux release, and the floor likewise.
release=(-trimpath -tags urfave_cli_no_docs -ldflags='-s -w')
CGO_ENABLED=0 go build "${release[@]}" -o "$bin/activeloop-credential-helper" ./cmd/activeloop-credential-helper
ln -s activeloop-credential-helper "$bin/docker-credential-activeloop"
CGO_ENABLED=0 go build "${release[@]}" -o "$bin/keyringfloor" ./bench/keyringfloor
go build -o "$bin/execbench" ./bench/execbench
go build -o "$bin/docker-credential-pass" github.com/docker/docker-credential-helpers/pass/cmd
go build -o "$bin/docker-credential-secretservice" github.com/docker/docker-credential-helpers/secretservice/cmd
export PATH="$bin:$PATH" HOME=$state
export ACTIVELOOP_CREDENTIAL_HELPER_CONFIG=$state/none.toml
: > "$ACTIVELOOP_CREDENTIAL_HELPER_CONFIG"

# pass with a throwaway key (GNUPGHOME short: gpg-agent's socket path limit).
export GNUPGHOME=$state/g PASSWORD_STORE_DIR=$state/ps
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --pinentry-mode loopback --passphrase '' \
  --quick-generate-key 'bench <bench@example.invalid>' future-default default never 2>/dev/null
fpr=$(gpg --batch --list-secret-keys --with-colons bench@example.invalid | awk -F: '/^fpr/{print $10; exit}')
pass init "$fpr" >/dev/null 2>&1
pids+=("$(gpg-connect-agent 'getinfo pid' /bye | awk '/^D/{print $2}')")

# A private session bus on which nothing is D-Bus-activated (as
# internal/testenv's): a client that comes too early fails instead of
# starting a second, locked daemon.
mkdir -p "$state/run" "$state/data" "$state/config"
cat > "$state/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$state/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOF
dbus-daemon --config-file="$state/bus.conf" --fork --nosyslog --print-pid > "$state/dbus.pid"
pids+=("$(cat "$state/dbus.pid")")
export DBUS_SESSION_BUS_ADDRESS=unix:path=$state/bus XDG_RUNTIME_DIR=$state/run
export XDG_DATA_HOME=$state/data XDG_CONFIG_HOME=$state/config
owned() { dbus-send --session --print-reply --reply-timeout=1000 --dest=org.freedesktop.DBus /org/freedesktop/DBus \
  org.freedesktop.DBus.NameHasOwner "string:$1" 2>/dev/null | grep -q 'boolean true'; }
wait_owned() { for _ in $(seq 300); do owned "$1" && return; sleep 0.05; done; echo "$1 did not start" >&2; exit 1; }

# gnome-keyring: only the --unlock that starts the daemon unlocks `login`.
printf 'bench' | gnome-keyring-daemon --foreground --unlock --components=secrets >/dev/null 2>&1 &
pids+=("$!")
wait_owned org.freedesktop.secrets

# kwalletd5 started by hand (activation aborts without a display), no
# first-use wizard, the helper and the library's app id allowed, the wallet
# opened as pam_kwallet opens it at login.
printf '[Wallet]\nFirst Use=false\nEnabled=true\nDefault Wallet=kdewallet\n\n[Auto Allow]\nkdewallet=activeloop-credential-helper\nkeyringfloor=keyring\n\n[org.freedesktop.secrets]\napiEnabled=false\n' \
  > "$state/config/kwalletrc"
QT_QPA_PLATFORM=offscreen kwalletd5 >/dev/null 2>&1 &
pids+=("$!")
wait_owned org.kde.kwalletd5
# The library names its wallet after its service name: keyringfloor.
hash=$(head -c 56 /dev/urandom | od -An -tu1 -v | tr -s ' \n' ',' | sed 's/^,//; s/,$//')
for wallet in kdewallet keyringfloor; do
  dbus-send --session --print-reply --dest=org.kde.kwalletd5 /modules/kwalletd5 \
    org.kde.KWallet.pamOpen "string:$wallet" "array:byte:$hash" int32:0 >/dev/null
  until dbus-send --session --print-reply --reply-timeout=1000 --dest=org.kde.kwalletd5 /modules/kwalletd5 \
    org.kde.KWallet.isOpen "string:$wallet" 2>/dev/null | grep -q 'boolean true'; do sleep 0.05; done
done

# The file store, its key cached in the kernel keyring for the warm get.
export ACTIVELOOP_CREDENTIAL_FILE_DIR=$state/store ACTIVELOOP_CREDENTIAL_FILE_KEY_CACHE_TTL=15m
ACTIVELOOP_CREDENTIAL_FILE_PASSPHRASE=$(head -c 18 /dev/urandom | base64)
export ACTIVELOOP_CREDENTIAL_FILE_PASSPHRASE
export KEYRINGFLOOR_FILE_DIR=$state/keyring KEYRINGFLOOR_FILE_PASSWORD=$ACTIVELOOP_CREDENTIAL_FILE_PASSPHRASE

server=https://bench.example
token=eyJhbGciOiJIUzI1NiJ9.eyJpZCI6ImJlbmNoIn0.c2lnbmF0dXJlLWJ5dGVz
creds=$(printf '{"ServerURL":"%s","Username":"bench","Secret":"%s"}' "$server" "$token")
for backend in secret-service kwallet pass keyctl file; do
  printf '%s' "$creds" | ACTIVELOOP_CREDENTIAL_BACKEND=$backend docker-credential-activeloop store
  keyringfloor "$backend" "+bench=$token" >/dev/null
done
printf '%s' "$creds" | docker-credential-pass store
printf '%s' "$creds" | docker-credential-secretservice store
printf 'protocol=https\nhost=bench.example\nusername=bench\npassword=%s\n\n' "$token" |
  git credential-store --file "$state/git-credentials" store

# Each row: backend | command | id of its keyring floor | id of docker's
# helper on its backend | environment | how to run it.
rows=(
  "secret-service|activeloop|kf-ss|dk-ss|ACTIVELOOP_CREDENTIAL_BACKEND=secret-service|docker-credential-activeloop get"
  "secret-service|keyring floor||||keyringfloor secret-service bench"
  "secret-service|docker-credential-secretservice||||docker-credential-secretservice get"
  "kwallet|activeloop|kf-kw||ACTIVELOOP_CREDENTIAL_BACKEND=kwallet|docker-credential-activeloop get"
  "kwallet|keyring floor||||keyringfloor kwallet bench"
  "pass|activeloop|kf-pass|dk-pass|ACTIVELOOP_CREDENTIAL_BACKEND=pass|docker-credential-activeloop get"
  "pass|keyring floor||||keyringfloor pass bench"
  "pass|docker-credential-pass||||docker-credential-pass get"
  "keyctl|activeloop|kf-kc||ACTIVELOOP_CREDENTIAL_BACKEND=keyctl|docker-credential-activeloop get"
  "keyctl|keyring floor||||keyringfloor keyctl bench"
  "file, warm (key cached in the kernel keyring)|activeloop|kf-file||ACTIVELOOP_CREDENTIAL_BACKEND=file|docker-credential-activeloop get"
  "file, cold (Argon2id in every process)|activeloop|kf-file||ACTIVELOOP_CREDENTIAL_BACKEND=file ACTIVELOOP_CREDENTIAL_FILE_KEY_CACHE_TTL=0|docker-credential-activeloop get"
  "file (PBKDF2 8192 in every process)|keyring floor||||keyringfloor file bench"
  "plaintext|git credential-store get||||git credential-store --file $state/git-credentials get"
  "—|true (process floor)||||true"
)
if [ ${#only[@]} -gt 0 ]; then
  keep=()
  for r in "${rows[@]}"; do
    for b in "${only[@]}"; do [[ ${r%%|*} == "$b"* ]] && keep+=("$r") && break; done
  done
  rows=("${keep[@]}")
fi
# Short ids for the rows the ratios refer to.
id() { case "$1" in
  "secret-service|keyring floor") echo kf-ss ;; "secret-service|docker-credential-secretservice") echo dk-ss ;;
  "kwallet|keyring floor") echo kf-kw ;; "pass|keyring floor") echo kf-pass ;;
  "pass|docker-credential-pass") echo dk-pass ;; "keyctl|keyring floor") echo kf-kc ;;
  "file (PBKDF2 8192 in every process)|keyring floor") echo kf-file ;; *) echo "$1" ;;
esac; }

# Rounds interleave the commands, so that a machine busy with something else
# for a while weighs on all of them alike; each figure is the median of the
# rounds' medians, and a ratio is taken within each round.
rounds=5
per=$(( runs / rounds > 10 ? runs / rounds : 10 ))
out=$state/results.tsv
: > "$out"
for round in $(seq "$rounds"); do
  for r in "${rows[@]}"; do
    IFS='|' read -r backend what _ _ envs cmd <<<"$r"
    n=$per warm=10
    case $backend in file,\ cold*) n=$(( per / 4 > 4 ? per / 4 : 4 )) warm=1 ;; esac
    stdin=$server
    [ "$what" = "git credential-store get" ] && stdin=$'protocol=https\nhost=bench.example\n\n'
    # shellcheck disable=SC2086 # envs and cmd are word lists
    env $envs execbench -n "$n" -warmup "$warm" -stdin "$stdin" "$(id "$backend|$what")" -- $cmd >>"$out"
  done
done

median() { sort -n | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
col() { awk -F'\t' -v n="$1" -v c="$2" '$1 == n {print $c}' "$out"; }
ratio() { # ID_A ID_B: median over rounds of A's median / B's median
  paste <(col "$1" 2) <(col "$2" 2) | awk '{printf "%.2f\n", $1/$2}' | median
}
size=$(stat -c %s "$bin/activeloop-credential-helper")
{
  printf '# Performance\n\n'
  printf 'What one `get` costs as a whole process (fork, exec, the request on stdin, the answer on\n'
  printf 'stdout, exit): the request docker and git make on every pull and fetch. Made by\n'
  printf '`%s` on %s; %s cores, %s; %s.\n\n' "$command_line" "$(date -u +%Y-%m-%d)" "$(nproc)" \
    "$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)" "$(. /etc/os-release && echo "$PRETTY_NAME")"
  printf 'Medians of %d rounds of %d runs each (cold file: %d), interleaved; a ratio is the median\n' \
    "$rounds" "$per" "$(( per / 4 > 4 ? per / 4 : 4 ))"
  printf 'of the ratios within each round. The keyring floor is the least a Go program does through\n'
  printf '99designs/keyring (open one backend, Get); docker-credential-pass and\n'
  printf 'docker-credential-secretservice are built from the docker-credential-helpers version in\n'
  printf 'go.mod. Budgets: at most 1.2× the keyring floor on every backend, at most 0.5× docker'"'"'s\n'
  printf 'helper on its backend, peak RSS at most 15 MiB.\n\n'
  printf '| backend | command | median ms | p10 ms | p90 ms | peak RSS MiB | × keyring floor | × docker'"'"'s helper |\n'
  printf '|---|---|---:|---:|---:|---:|---:|---:|\n'
  for r in "${rows[@]}"; do
    IFS='|' read -r backend what floor docker _ _ <<<"$r"
    i=$(id "$backend|$what")
    printf '| %s | %s | %s | %s | %s | %.1f | %s | %s |\n' "$backend" "$what" \
      "$(col "$i" 2 | median)" "$(col "$i" 3 | median)" "$(col "$i" 4 | median)" \
      "$(col "$i" 5 | sort -n | tail -1 | awk '{print $1/1024}')" \
      "${floor:+$(ratio "$i" "$floor")×}" "${docker:+$(ratio "$i" "$docker")×}"
  done
  cat <<'EOF'

Notes. The D-Bus backends connect with the handshake pipelined (one round trip instead of
four, Hello not waited for) and ask the bus nothing else; kwallet finds its wallet as KDE's
client library does (kwalletrc and the wallet's file) instead of asking kwalletd;
secret-service unlocks its collection only when reading or writing a secret finds it locked.
Calls to gnome-keyring go one at a time: it aborts under load when a client's calls overlap.
A pass get runs the one gpg command `pass show` would run, without the pass script around
it; what is left is gpg's own start-up and its round trip to gpg-agent. The keyring floor
connects to the session bus in its package initialisers whichever backend it opens.

Peak RSS is the kernel's maxrss of each process, which starts from the resident memory of
the program that started it (the `true` row shows that floor). Every get stays within 15 MiB
except a cold file get, which derives the store's key with Argon2id: its 64 MiB of working
memory is the KDF's strength against guessing, so it is the peak RSS, by design. It happens
once per store per `file_key_cache_ttl` (15 minutes by default); gets that miss the cache at
the same moment take turns, and only the first derives. Where the kernel keyring cannot be
reached (a container whose seccomp profile blocks keyctl), every file get derives: there,
give the token in ACTIVELOOP_TOKEN or use another backend.
EOF
  printf '\nThe helper'"'"'s binary, built as releases are (`CGO_ENABLED=0 -trimpath -tags urfave_cli_no_docs -ldflags "-s -w"`): %d KiB.\n' $(( size / 1024 ))
} > "$state/PERFORMANCE.md"
if [ ${#only[@]} -gt 0 ]; then
  cat "$state/PERFORMANCE.md"
else
  mv "$state/PERFORMANCE.md" docs/PERFORMANCE.md
  cat docs/PERFORMANCE.md
fi
