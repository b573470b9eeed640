#!/usr/bin/env bash
# Whole-process cost of one `get` from the encrypted file backend, the
# request a host tool makes on every docker pull or git fetch:
#
#   bench/file.sh [RUNS]
#
# Measures the helper under its docker name cold (file_key_cache_ttl 0: the
# Argon2id KDF runs in every process) and warm (the key cached in the kernel
# keyring by an earlier call), next to 99designs/keyring's file backend
# (bench/keyringfloor: PBKDF2 with 8192 iterations in every process),
# `git credential-store get` (plaintext) and the process floors: the helper's
# `version`, which opens no store, and `true`. The helper is built as the
# Linux release is. Prints a Markdown table of medians. It drops the key it
# cached and removes everything it made.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200}
cold_runs=$(( runs / 5 > 20 ? runs / 5 : 20 ))

state=$(mktemp -d /tmp/alfilebench.XXXXXX)
bin=$state/bin
cleanup() {
  if [ -x "$bin/activeloop-credential-helper" ]; then
    "$bin/activeloop-credential-helper" lock >/dev/null 2>&1 || true
  fi
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
export PATH="$bin:$PATH" HOME=$state DBUS_SESSION_BUS_ADDRESS=disabled:
export ACTIVELOOP_CREDENTIAL_HELPER_CONFIG=$state/none.toml
: > "$ACTIVELOOP_CREDENTIAL_HELPER_CONFIG"
export ACTIVELOOP_CREDENTIAL_BACKEND=file ACTIVELOOP_CREDENTIAL_FILE_DIR=$state/store
export ACTIVELOOP_CREDENTIAL_FILE_KEY_CACHE_TTL=15m
ACTIVELOOP_CREDENTIAL_FILE_PASSPHRASE=$(head -c 18 /dev/urandom | base64)
export ACTIVELOOP_CREDENTIAL_FILE_PASSPHRASE
export KEYRINGFLOOR_FILE_DIR=$state/keyring KEYRINGFLOOR_FILE_PASSWORD=$ACTIVELOOP_CREDENTIAL_FILE_PASSPHRASE

server=https://bench.example
token=eyJhbGciOiJIUzI1NiJ9.eyJpZCI6ImJlbmNoIn0.c2lnbmF0dXJlLWJ5dGVz
printf '{"ServerURL":"%s","Username":"bench","Secret":"%s"}' "$server" "$token" | docker-credential-activeloop store
keyringfloor file "+bench=$token" >/dev/null
printf 'protocol=https\nhost=bench.example\nusername=bench\npassword=%s\n\n' "$token" |
  git credential-store --file "$state/git-credentials" store

# Rounds interleave the commands, so that a machine busy with something
# else for a while weighs on all of them alike; each figure is the median of
# the rounds' medians, and the ratio is taken within each round.
rounds=5
per=$(( runs / rounds > 10 ? runs / rounds : 10 ))
cold_per=$(( cold_runs / rounds > 4 ? cold_runs / rounds : 4 ))
names=(
  "activeloop file, cold (Argon2id in every process)"
  "activeloop file, warm (key cached in the kernel keyring)"
  "99designs/keyring file (PBKDF2 8192 in every process)"
  "git credential-store get (plaintext)"
  "activeloop version (the binary, no store)"
  "true (process floor)"
)
out=$state/results.tsv
: > "$out"
for round in $(seq "$rounds"); do
  ACTIVELOOP_CREDENTIAL_FILE_KEY_CACHE_TTL=0 \
  execbench -n "$cold_per" -warmup 1 -stdin "$server" "${names[0]}" -- docker-credential-activeloop get >>"$out"
  execbench -n "$per" -stdin "$server" "${names[1]}" -- docker-credential-activeloop get >>"$out"
  execbench -n "$per" "${names[2]}" -- keyringfloor file bench >>"$out"
  execbench -n "$per" -stdin $'protocol=https\nhost=bench.example\n\n' "${names[3]}" -- git credential-store --file "$state/git-credentials" get >>"$out"
  execbench -n "$per" "${names[4]}" -- docker-credential-activeloop version >>"$out"
  execbench -n "$per" "${names[5]}" -- true >>"$out"
done

median() { sort -n | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
printf '%d rounds; %d runs of each command per round (%d cold)\n\n' "$rounds" "$per" "$cold_per"
printf '| command | median ms | p10 ms | p90 ms | peak RSS MiB |\n|---|---:|---:|---:|---:|\n'
for name in "${names[@]}"; do
  awk -F'\t' -v n="$name" '$1 == n' "$out" > "$state/one.tsv"
  printf '| %s | %s | %s | %s | %.1f |\n' "$name" \
    "$(cut -f2 "$state/one.tsv" | median)" "$(cut -f3 "$state/one.tsv" | median)" "$(cut -f4 "$state/one.tsv" | median)" \
    "$(cut -f5 "$state/one.tsv" | sort -n | tail -1 | awk '{print $1/1024}')"
done
ratio() { # NAME_A NAME_B: median over rounds of A's median / B's median
  paste <(awk -F'\t' -v n="$1" '$1 == n {print $2}' "$out") <(awk -F'\t' -v n="$2" '$1 == n {print $2}' "$out") |
    awk '{printf "%.2f\n", $1/$2}' | median
}
printf '\nwarm / git credential-store: %s×; warm / the binary'"'"'s own floor (version): %s×\n' \
  "$(ratio "${names[1]}" "${names[3]}")" "$(ratio "${names[1]}" "${names[4]}")"
