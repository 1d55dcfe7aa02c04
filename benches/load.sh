#!/usr/bin/env bash
# Load benchmark, bounded in time (about a minute): in one run, on this machine,
#   1. direct     wrk → fast upstream (nginx `return 200`, plain HTTP)
#   2. nginx      wrk → nginx proxy_pass (TLS, upstream keep-alive) → fast upstream
#   3. auth off   wrk → Borderless (TLS, app with auth = "none") → fast upstream
#   4. session    wrk → Borderless (TLS, valid session cookie, identity headers) → fast upstream
# The session comes from a real sign-in at oidc-provider, driven with curl.
# Usage: bash benches/load.sh [duration=10s] [connections=32] [rounds=3]
# Scenarios are interleaved round by round and the median round is reported, because on a
# small machine wrk, nginx and the gateway share the cores and single runs are noisy.
# Prints a Markdown table; docs/benchmarks.md holds the latest results.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-10s}"
CONN="${2:-32}"
ROUNDS="${3:-3}"
THREADS=2
P_UP=18081 P_NGINX=18443 P_GW=18444 P_IDP=18400

for tool in wrk nginx curl openssl node; do
  command -v "$tool" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light curl openssl >/dev/null; break; }
done
BORDERLESS_NEED_BROWSER=0 bash .ci/prereqs
cargo build --release --locked --bin borderless 2>&1 | tail -1

work="$(mktemp -d)"
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  [[ -f "$work/nginx.pid" ]] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
bash certs/make-dev-certs.sh "$work/certs" >/dev/null 2>&1

# nginx: the fast upstream and the proxy_pass peer, 2 workers like the gateway's 2 threads.
cat > "$work/nginx.conf" <<NGINX
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  upstream fast { server 127.0.0.1:$P_UP; keepalive 128; }
  server { listen 127.0.0.1:$P_UP; location / { return 200 "ok\n"; } }
  server {
    listen 127.0.0.1:$P_NGINX ssl http2;
    ssl_certificate $work/certs/gateway.crt;
    ssl_certificate_key $work/certs/gateway.key;
    location / {
      proxy_pass http://fast;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$remote_addr;
    }
  }
}
NGINX
nginx -c "$work/nginx.conf" -p "$work"

node tests/support/node/oidc-provider.mjs "{
  \"port\": $P_IDP, \"keepAlive\": true,
  \"clients\": [{ \"client_id\": \"bench\", \"client_secret\": \"bench-secret\",
    \"redirect_uris\": [\"https://localhost:$P_GW/.borderless/callback/bench\"],
    \"grant_types\": [\"authorization_code\"], \"response_types\": [\"code\"] }],
  \"accounts\": { \"bench\": { \"email\": \"bench@partner.test\", \"email_verified\": true, \"name\": \"Bench User\", \"groups\": [\"a\", \"b\"] } }
}" >/dev/null 2>&1 &
pids+=($!)

cat > "$work/gateway.toml" <<TOML
version = 1
[gateway]
public_url = "https://localhost:$P_GW"
database_url = "sqlite://$work/bench.db"
[[listener]]
bind = "127.0.0.1:$P_GW"
tls_cert = "$work/certs/gateway.crt"
tls_key = "$work/certs/gateway.key"
[assertion]
signing_key_file = "$work/assertion.pem"
[[idp]]
id = "bench"
kind = "oidc"
issuer = "http://127.0.0.1:$P_IDP"
client_id = "bench"
client_secret = "bench-secret"
members = true
[[app]]
id = "open"
host = "open.localhost:$P_GW"
upstream = "http://127.0.0.1:$P_UP"
auth = "none"
[[app]]
id = "secure"
host = "localhost:$P_GW"
upstream = "http://127.0.0.1:$P_UP"
[app.headers]
X-Remote-User = "email"
X-Remote-Name = "name"
X-Remote-Groups = "groups"
TOML
BORDERLESS_LOG=warn ./target/release/borderless serve --config "$work/gateway.toml" >"$work/gateway.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -sk -o /dev/null "https://localhost:$P_GW/.borderless/health" && curl -s -o /dev/null "http://127.0.0.1:$P_IDP/.well-known/openid-configuration" && break
  sleep 0.1
done

# A real sign-in: gateway → oidc-provider login form → consent → back with a session cookie.
jar="$work/jar"
idp="http://127.0.0.1:$P_IDP"
page=$(curl -sk -c "$jar" -b "$jar" -L "https://localhost:$P_GW/")
form_action() { # absolute URL of the first form's action on an oidc-provider page
  local a; a=$(grep -o 'action="[^"]*"' <<<"$1" | head -1 | cut -d'"' -f2)
  [[ "$a" == http* ]] && echo "$a" || echo "$idp$a"
}
page=$(curl -sk -c "$jar" -b "$jar" -L "$(form_action "$page")" -d prompt=login -d login=bench -d password=x)
curl -sk -c "$jar" -b "$jar" -L -o /dev/null "$(form_action "$page")" -d prompt=consent
cookie=$(awk '$6 == "__Host-borderless_session" { print $7 }' "$jar" | head -1)
[[ -n "$cookie" ]] || { echo "sign-in for the benchmark failed" >&2; exit 1; }
check=$(curl -sk -o /dev/null -w '%{http_code}' -H "Cookie: __Host-borderless_session=$cookie" "https://localhost:$P_GW/")
[[ "$check" == 200 ]] || { echo "session check returned $check" >&2; exit 1; }

run() { # name, wrk args... → "name|rps|p50|p99|non2xx"
  local name="$1"; shift
  local out; out=$(wrk -t"$THREADS" -c"$CONN" -d"$DUR" --latency "$@")
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ { print $2 }' <<<"$out")
  p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
  p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
  non2xx=$(awk '/Non-2xx/ { print $5 }' <<<"$out")
  printf '%s|%s|%s|%s|%s\n' "$name" "$rps" "$p50" "$p99" "${non2xx:-0}"
}

names=("direct to upstream (http)" "nginx proxy_pass (https)" "borderless, auth off (https)" "borderless, valid session (https)")
scenario() { # index → wrk arguments
  case "$1" in
    0) echo "http://127.0.0.1:$P_UP/" ;;
    1) echo "https://127.0.0.1:$P_NGINX/" ;;
    2) echo "-H|Host: open.localhost:$P_GW|https://127.0.0.1:$P_GW/" ;;
    3) echo "-H|Host: localhost:$P_GW|-H|Cookie: __Host-borderless_session=$cookie|https://127.0.0.1:$P_GW/" ;;
  esac
}
all="$work/rounds.txt"
: >"$all"
for i in 0 1 2 3; do # warm-up: pools, caches, TLS sessions
  IFS='|' read -r -a args <<<"$(scenario "$i")"
  wrk -t"$THREADS" -c"$CONN" -d2s "${args[@]}" >/dev/null 2>&1
done
for round in $(seq "$ROUNDS"); do
  for i in 0 1 2 3; do
    IFS='|' read -r -a args <<<"$(scenario "$i")"
    echo "$round|$i|$(run "${names[$i]}" "${args[@]}")" >>"$all"
  done
done

median_row() { # scenario index → the row of its median-throughput round
  awk -F'|' -v i="$1" '$2 == i { print $4 "|" $0 }' "$all" | sort -t'|' -k1,1g | awk -v n="$ROUNDS" 'NR == int((n + 1) / 2)' | cut -d'|' -f4-
}

echo
echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r); wrk -t$THREADS -c$CONN -d$DUR, $ROUNDS interleaved rounds, median round shown"
echo
echo "| scenario | requests/s | p50 | p99 | non-2xx | all rounds (req/s) |"
echo "|---|---:|---:|---:|---:|---|"
for i in 0 1 2 3; do
  IFS='|' read -r n rps p50 p99 bad <<<"$(median_row "$i")"
  rounds=$(awk -F'|' -v i="$i" '$2 == i { printf "%s%.0f", sep, $4; sep = ", " }' "$all")
  echo "| $n | $rps | $p50 | $p99 | $bad | $rounds |"
done
# Added latency without queueing: one connection, one request at a time.
echo
echo "Unsaturated latency, wrk -t1 -c1 -d5s:"
echo
echo "| scenario | requests/s | p50 | p99 |"
echo "|---|---:|---:|---:|"
for i in 0 1 3; do
  IFS='|' read -r -a args <<<"$(scenario "$i")"
  out=$(wrk -t1 -c1 -d5s --latency "${args[@]}")
  printf '| %s | %s | %s | %s |\n' "${names[$i]}" "$(awk '/Requests\/sec/ { print $2 }' <<<"$out")" \
    "$(awk '$1 == "50%" { print $2 }' <<<"$out")" "$(awk '$1 == "99%" { print $2 }' <<<"$out")"
done

IFS='|' read -r _ nginx_rps _ _ _ <<<"$(median_row 1)"
IFS='|' read -r _ off_rps _ _ _ <<<"$(median_row 2)"
IFS='|' read -r _ on_rps _ _ _ <<<"$(median_row 3)"
echo
awk -v on="$on_rps" -v off="$off_rps" -v ng="$nginx_rps" 'BEGIN {
  printf "session / auth-off throughput: %.1f %%\nsession / nginx throughput: %.2fx\n", 100*on/off, on/ng }'
