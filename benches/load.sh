#!/usr/bin/env bash
# Load benchmark: Borderless beside nginx, every scenario in one run, on this machine.
#
# Every server (the nginx upstream, nginx as the proxy peer, Borderless) runs one worker
# pinned to one core (SERVER_CPU, default 1); every load generator runs on the other
# (LOAD_CPU, default 0), so the two sides do not fight over a core. TLS 1.3 on both, the
# same ECDSA P-256 certificate, the same upstream (nginx `return 200`).
#
#   keep-alive   wrk -t1 -cN: direct to the upstream, nginx proxy_pass, Borderless with an
#                open app (auth off), Borderless with a real session (identity headers)
#   HTTP/2       h2load, 4 connections x 25 streams = 100 concurrent streams: nginx,
#                Borderless with the session
#   handshakes   openssl s_time, a new TLS connection per request, full (-new) and resumed
#                (-reuse), against a local answer on each server: server CPU per connection
#                from /proc, since the load generator's core saturates first
#   streaming    100 MB down and up through each proxy with curl: throughput and peak memory
#   idle         IDLE (10 000) keep-alive TLS connections held open after one request each
#                (benches/idle_connections.py): the server's resident memory per connection
#   cold         COLD (100 000) sessions only in the store, the gateway just restarted: the
#                latency of each session's first request (benches/cold_sessions.*), and
#                of the same requests again once cached, as the floor to compare with
#
# The session comes from a real sign-in at oidc-provider, driven with curl.
# Usage: bash benches/load.sh [duration=10s] [connections=32] [rounds=3]
#        HOLD=1 bash benches/load.sh   starts everything, signs in, prints the cookie and waits
#                                      (to run perf or a single scenario by hand)
#        INSTRUCTIONS="old new" bash benches/load.sh
#                                      instructions per request of each gateway binary under
#                                      callgrind (INSTRUCTIONS=1: this build), for A/B;
#                                      KEEP=dir keeps each callgrind profile there,
#                                      PROTOS="h1 h2 cold" picks the kinds of request
#        GATEWAY_BIN=path bash benches/load.sh   measures that gateway binary instead of this build
#        ONLY=cold bash benches/load.sh
#                                      just the cold-session scenario (PERF=file: perf record
#                                      of the gateway during its 32-connection run)
# Keep-alive and HTTP/2 scenarios are interleaved round by round and the median round is
# reported (all rounds are shown). Prints Markdown; docs/benchmarks.md holds the results.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-10s}"
CONN="${2:-32}"
ROUNDS="${3:-3}"
SECS="${DUR%s}"
SERVER_CPU="${SERVER_CPU:-1}"
LOAD_CPU="${LOAD_CPU:-0}"
P_UP=18081 P_NGINX=18443 P_GW=18444 P_APACHE=18445 P_IDP=18400

for tool in wrk nginx h2load curl openssl node taskset apache2; do
  command -v "$tool" >/dev/null && [[ -f /usr/lib/apache2/modules/mod_auth_openidc.so ]] || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light nghttp2-client \
      curl openssl util-linux apache2 libapache2-mod-auth-openidc >/dev/null
    # Debian starts the packaged site on port 80; the benchmark runs its own instance.
    { systemctl stop apache2 || apachectl stop; } >/dev/null 2>&1 || true
    break
  }
done
BORDERLESS_NEED_BROWSER=0 BORDERLESS_NEED_SAML_IDP=0 bash .ci/prereqs
cargo build --release --locked --bin borderless 2>&1 | tail -1

work="$(mktemp -d)"
pids=()
cleanup() {
  if [[ -n "${gw_pid:-}" ]] && ! kill -0 "$gw_pid" 2>/dev/null; then
    echo "the gateway exited during the benchmark; its log ends:" >&2
    tail -20 "$work/gateway.log" >&2
  fi
  kill "${pids[@]}" 2>/dev/null || true
  for p in "$work"/*.pid; do [[ -f "$p" ]] && kill "$(cat "$p")" 2>/dev/null; done
  sleep 0.5 # Apache removes its pid file and shared memory as it stops
  rm -rf "$work" "${dav:-}"
}
trap cleanup EXIT
bash certs/make-dev-certs.sh "$work/certs" >/dev/null 2>&1
server() { taskset -c "$SERVER_CPU" "$@"; }
load() { taskset -c "$LOAD_CPU" "$@"; }

# Two nginx processes, so that the proxy's CPU can be measured apart from the upstream's.
nginx_conf() { # name, the http block's servers → $work/name.conf
  cat >"$work/$1.conf" <<NGINX
worker_processes 1;
pid $work/$1.pid;
error_log $work/$1-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  # nginx closes a keep-alive connection after 1000 requests by default; the gateway does
  # not, and a benchmark of reconnects would measure handshakes instead.
  keepalive_requests 10000000;
$2
}
NGINX
}
# /big is a 100 MB file to download; a PUT to /upload/* is received whole and stored (the
# DAV module answers only then; `return 200` answers before the body and stalls a proxy
# that streams it).
# The stored uploads go to memory (/dev/shm): on this VM's disk the same 100 MB write took
# anywhere from 0.1 to 0.2 s, which swung both proxies' upload figures by a third between
# identical runs (nginx 516 to 896 MB/s); in memory they repeat within a few per cent.
dav=$(mktemp -d -p /dev/shm borderless-bench.XXXXXX)
head -c $((100 * 1024 * 1024)) /dev/urandom >"$work/big.bin"
mkdir -p "$dav/root/upload" "$dav/tmp"
# nginx's workers run as another user.
chmod 755 "$work" "$dav" && chmod 644 "$work/big.bin" && chmod 777 "$dav/root/upload" "$dav/tmp"
nginx_conf upstream "  server {
    listen 127.0.0.1:$P_UP;
    client_max_body_size 200m;
    location / { return 200 \"ok\\n\"; }
    location = /big { alias $work/big.bin; }
    location /upload/ { dav_methods PUT; root $dav/root; client_body_temp_path $dav/tmp; }
  }"
nginx_conf proxy "
  upstream fast { server 127.0.0.1:$P_UP; keepalive 128; keepalive_requests 10000000; }
  server {
    listen 127.0.0.1:$P_NGINX ssl http2;
    # Debian's nginx 1.22 offers only TLS 1.2 unless told; compare the same handshake.
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate $work/certs/gateway.crt;
    ssl_certificate_key $work/certs/gateway.key;
    http2_max_concurrent_streams 128;
    client_max_body_size 200m;
    # Stream request bodies through, as the gateway does, instead of spooling them first.
    proxy_request_buffering off;
    location = /.borderless/health { return 200 \"ok\\n\"; }
    location / {
      proxy_pass http://fast;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
      proxy_set_header X-Forwarded-For \$remote_addr;
    }
  }"
server nginx -c "$work/upstream.conf" -p "$work"
server nginx -c "$work/proxy.conf" -p "$work"

# Apache + mod_auth_openidc, the identity-aware peer: one process (mpm_event, threads), TLS
# 1.2 + 1.3 with the same certificate, sessions in shared memory, claims passed as headers
# to the same upstream over a keep-alive pool.
mkdir -p "$work/apache-run"
cat >"$work/apache.conf" <<APACHE
ServerRoot /etc/apache2
ServerName localhost
PidFile $work/apache.pid
ErrorLog $work/apache-error.log
LogLevel warn
DefaultRuntimeDir $work/apache-run
Mutex file:$work/apache-run default
User www-data
Group www-data
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule authz_user_module /usr/lib/apache2/modules/mod_authz_user.so
LoadModule authn_core_module /usr/lib/apache2/modules/mod_authn_core.so
LoadModule socache_shmcb_module /usr/lib/apache2/modules/mod_socache_shmcb.so
LoadModule ssl_module /usr/lib/apache2/modules/mod_ssl.so
LoadModule proxy_module /usr/lib/apache2/modules/mod_proxy.so
LoadModule proxy_http_module /usr/lib/apache2/modules/mod_proxy_http.so
LoadModule auth_openidc_module /usr/lib/apache2/modules/mod_auth_openidc.so
StartServers 1
ServerLimit 1
ThreadsPerChild 64
MaxRequestWorkers 64
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 60
Listen 127.0.0.1:$P_APACHE
SSLSessionCache shmcb:$work/apache-run/ssl_scache(512000)
<VirtualHost 127.0.0.1:$P_APACHE>
  SSLEngine on
  SSLProtocol -all +TLSv1.2 +TLSv1.3
  SSLCertificateFile $work/certs/gateway.crt
  SSLCertificateKeyFile $work/certs/gateway.key
  OIDCProviderMetadataURL http://127.0.0.1:$P_IDP/.well-known/openid-configuration
  OIDCClientID apache
  OIDCClientSecret apache-secret
  OIDCRedirectURI https://localhost:$P_APACHE/redirect_uri
  OIDCCryptoPassphrase bench-passphrase
  OIDCScope "openid email profile"
  OIDCPKCEMethod S256
  OIDCRemoteUserClaim email
  OIDCPassClaimsAs headers
  OIDCSessionInactivityTimeout 3600
  <Location />
    AuthType openid-connect
    Require valid-user
  </Location>
  ProxyPass /redirect_uri !
  ProxyPass / http://127.0.0.1:$P_UP/ keepalive=On
</VirtualHost>
APACHE
chown www-data "$work/apache-run"

taskset -c "$LOAD_CPU" node tests/support/node/oidc-provider.mjs "{
  \"port\": $P_IDP, \"keepAlive\": true,
  \"clients\": [{ \"client_id\": \"bench\", \"client_secret\": \"bench-secret\",
    \"redirect_uris\": [\"https://localhost:$P_GW/.borderless/callback/bench\"],
    \"grant_types\": [\"authorization_code\"], \"response_types\": [\"code\"] },
    { \"client_id\": \"apache\", \"client_secret\": \"apache-secret\",
    \"redirect_uris\": [\"https://localhost:$P_APACHE/redirect_uri\"],
    \"grant_types\": [\"authorization_code\"], \"response_types\": [\"code\"] }],
  \"accounts\": { \"bench\": { \"email\": \"bench@partner.test\", \"email_verified\": true, \"name\": \"Bench User\", \"groups\": [\"a\", \"b\"] } }
}" >/dev/null 2>&1 &
pids+=($!)

cat >"$work/gateway.toml" <<TOML
version = 1
[gateway]
public_url = "https://localhost:$P_GW"
database_url = "sqlite://$work/bench.db"
workers = 1
[limits]
max_connections = 20000
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
max_body_bytes = 209715200
[app.headers]
X-Remote-User = "email"
X-Remote-Name = "name"
X-Remote-Groups = "groups"
TOML
start_gateway() { # [command running a binary] → starts the gateway (its cache empty), waits until it answers
  # Not through `server`: a function run in the background is a subshell, and $! must be
  # the gateway itself, to read its CPU time and to stop it (the same for the IdP above).
  local run=("$@")
  [[ ${#run[@]} -gt 0 ]] || run=(taskset -c "$SERVER_CPU" "${GATEWAY_BIN:-./target/release/borderless}")
  BORDERLESS_LOG=warn "${run[@]}" serve --config "$work/gateway.toml" >>"$work/gateway.log" 2>&1 &
  gw_pid=$!
  pids+=("$gw_pid")
  for _ in $(seq 600); do # up to a minute: under callgrind the start takes seconds
    curl -sk -o /dev/null "https://localhost:$P_GW/.borderless/health" && break
    sleep 0.1
  done
}
start_gateway
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$P_IDP/.well-known/openid-configuration" && break
  sleep 0.1
done

server apache2 -f "$work/apache.conf" -k start
for _ in $(seq 100); do
  [[ -s "$work/apache.pid" ]] && break
  sleep 0.1
done

# A real sign-in at each identity-aware front: its page → oidc-provider login form → consent
# → back at the front with its session cookie.
idp="http://127.0.0.1:$P_IDP"
form_action() { # absolute URL of the first form's action on an oidc-provider page
  local a
  a=$(grep -o 'action="[^"]*"' <<<"$1" | head -1 | cut -d'"' -f2)
  [[ "$a" == http* ]] && echo "$a" || echo "$idp$a"
}
sign_in() { # front URL, cookie name → that cookie's value after a sign-in as "bench"
  local jar="$work/jar-$2" page
  page=$(curl -sk -c "$jar" -b "$jar" -L "$1")
  page=$(curl -sk -c "$jar" -b "$jar" -L "$(form_action "$page")" -d prompt=login -d login=bench -d password=x)
  curl -sk -c "$jar" -b "$jar" -L -o /dev/null "$(form_action "$page")" -d prompt=consent
  awk -v n="$2" '$6 == n { print $7 }' "$jar" | head -1
}
expect_200() { # URL, cookie header → fails the benchmark unless the front lets the session in
  local code
  code=$(curl -sk -o /dev/null -w '%{http_code}' -H "$2" "$1")
  [[ "$code" == 200 ]] || { echo "session check at $1 returned $code" >&2; exit 1; }
}
cookie=$(sign_in "https://localhost:$P_GW/" __Host-borderless_session)
[[ -n "$cookie" ]] || { echo "sign-in at the gateway failed" >&2; exit 1; }
session_cookie="Cookie: __Host-borderless_session=$cookie"
expect_200 "https://localhost:$P_GW/" "$session_cookie"
apache_cookie=$(sign_in "https://localhost:$P_APACHE/" mod_auth_openidc_session)
[[ -n "$apache_cookie" ]] || { echo "sign-in at Apache failed; its log ends:" >&2; tail -5 "$work/apache-error.log" >&2; exit 1; }
apache_cookie="Cookie: mod_auth_openidc_session=$apache_cookie"
expect_200 "https://localhost:$P_APACHE/" "$apache_cookie"

if [[ -n "${INSTRUCTIONS:-}" ]]; then # instructions per request, for A/B of code changes
  # Wall-clock A/B on this VM moves by ±8 % between identical runs; callgrind's counts repeat
  # to the instruction. Each binary listed (default: this build) runs under callgrind; after
  # a warm-up the counters are zeroed, N keep-alive requests are sent (HTTP/1.1, then
  # HTTP/2, then the first requests of N sessions only in the store), and the user-space
  # instructions per request are printed with the top functions.
  # The measured requests open 4 new connections: their handshakes are in the figure (about
  # 900 instructions per request at the default N=2000), the same for every binary.
  command -v valgrind >/dev/null || { apt-get install -y -qq valgrind >/dev/null; }
  n=${N:-2000}
  for bin in ${INSTRUCTIONS/#1/./target/release/borderless}; do
    for proto in ${PROTOS:-h1 h2 cold}; do
      kill "$gw_pid" 2>/dev/null; wait "$gw_pid" 2>/dev/null || true
      rm -f "$work"/callgrind.*
      # cold: N sessions only in the store, each asked for once (HTTP/1.1, 4 connections)
      [[ $proto == cold ]] && python3 benches/cold_sessions.py "$work/bench.db" "$n" "$work/cold.txt" >/dev/null
      start_gateway valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.%p" "$bin"
      flags=(-c4 -m25)
      [[ $proto != h2 ]] && flags=(--h1 -c4 -m1)
      h2load "${flags[@]}" -n 400 -H "$session_cookie" "https://localhost:$P_GW/" >/dev/null
      callgrind_control -z "$gw_pid" >/dev/null
      if [[ $proto == cold ]]; then
        # wrk runs for its whole -d even after the script stops it: long enough for N first
        # requests at 100 a second under callgrind (it serves some 2 000 a second).
        ok=$(wrk -t1 -c4 -d"$((n / 100 + 10))s" -s benches/cold_sessions.lua "https://127.0.0.1:$P_GW/" -- "$work/cold.txt" "localhost:$P_GW" |
          awk '/requests in/ { n = $1 } /Non-2xx/ { n -= $5 } END { print n }')
      else
        ok=$(h2load "${flags[@]}" -n "$n" -H "$session_cookie" "https://localhost:$P_GW/" | awk '/^status codes:/ { print $3 }')
      fi
      callgrind_control -d "$gw_pid" >/dev/null
      sleep 1
      echo "## $bin, $proto, $n requests ($ok answered 2xx)"
      profile=$(ls -t "$work"/callgrind.*.1 | head -1)
      python3 benches/callgrind_top.py "$profile" "$n" "${TOP:-15}"
      # KEEP=dir keeps each profile, for callgrind_top.py --callers and --callees
      if [[ -n "${KEEP:-}" ]]; then cp "$profile" "$KEEP/callgrind.$(basename "$bin").$proto"; fi
    done
  done
  exit 0
fi

cold_sessions() { # the cold scenario below; ONLY=cold runs just it
  # Session cache misses: COLD sessions only in the store (copies of the real one, so one
  # user), the gateway restarted with an empty cache, then each session's first request.
  COLD="${COLD:-100000}"
  python3 benches/cold_sessions.py "$work/bench.db" "$COLD" "$work/cookies.txt" >/dev/null
  kill "$gw_pid" && wait "$gw_pid" 2>/dev/null || true
  start_gateway
  echo
  echo "First request of each of $COLD sessions only in the store (SQLite), gateway just restarted (wrk -t1 -s benches/cold_sessions.lua):"
  echo
  echo "| connections | first requests | p50 | p90 | p99 | non-2xx |"
  echo "|---:|---:|---:|---:|---:|---:|"
  # wrk runs for its whole -d even after the script stopped it: long enough for half the
  # cookies at 4 000 requests/s or more.
  half=$((COLD / 2))
  head -n "$half" "$work/cookies.txt" >"$work/cookies-a.txt"
  tail -n +"$((half + 1))" "$work/cookies.txt" >"$work/cookies-b.txt"
  # The last row sends the first half's cookies again: every session is cached by then, so
  # it is the same script's latency without store reads, the floor for the first row.
  for run in "32 a" "4 b" "32 a again"; do
    read -r conns part again <<<"$run"
    # PERF=file samples the gateway during the 32-connection run (perf record, cpu-clock)
    [[ -n "${PERF:-}" && $conns == 32 && -z $again ]] && { perf record -q -e cpu-clock -F 4999 -g -o "$PERF" -p "$gw_pid" 2>/dev/null & }
    out=$(load wrk -t1 -c"$conns" -d"$((half / 4000 + 2))s" --latency -s benches/cold_sessions.lua "https://127.0.0.1:$P_GW/" -- "$work/cookies-$part.txt" "localhost:$P_GW")
    printf '| %s | %s | %s | %s | %s | %s |\n' "$conns${again:+ (the same sessions again, cached)}" "$(awk '/requests in/ { print $1 }' <<<"$out")" \
      "$(awk '$1 == "50%" { print $2 }' <<<"$out")" "$(awk '$1 == "90%" { print $2 }' <<<"$out")" \
      "$(awk '$1 == "99%" { print $2 }' <<<"$out")" "$(awk '/Non-2xx/ { print $5 }' <<<"$out" | grep . || echo 0)"
    if [[ -n "${PERF:-}" && $conns == 32 && -z $again ]]; then pkill -INT -f "perf record -q -e cpu-clock" || true; sleep 1; fi
  done
}
if [[ "${ONLY:-}" == cold ]]; then
  cold_sessions
  exit 0
fi

if [[ "${HOLD:-0}" == 1 ]]; then # keep everything running, to profile by hand
  echo "gateway pid $gw_pid on https://127.0.0.1:$P_GW (Host: localhost:$P_GW), nginx on $P_NGINX, upstream on $P_UP"
  echo "Apache + mod_auth_openidc on https://localhost:$P_APACHE, $apache_cookie"
  echo "$session_cookie"
  sleep infinity
  exit 0
fi

# CPU seconds (user + system) a process has used so far, from /proc.
tck=$(getconf CLK_TCK)
cpu_of() { awk -v t="$tck" '{ printf "%.3f\n", ($14 + $15) / t }' "/proc/$1/stat"; }
nginx_proxy_worker=$(pgrep -P "$(cat "$work/proxy.pid")" | head -1)

front() { # nginx | borderless → port and pid of that server (the gateway may restart)
  case $1 in
    nginx) port=$P_NGINX pid=$nginx_proxy_worker ;;
    borderless) port=$P_GW pid=$gw_pid ;;
  esac
}
wrk_run() { # wrk args... → "rps|p50|p99|non2xx"
  local out
  out=$(load wrk -t1 -c"$CONN" -d"$DUR" --latency "$@")
  printf '%s|%s|%s|%s\n' "$(awk '/Requests\/sec/ { print $2 }' <<<"$out")" \
    "$(awk '$1 == "50%" { print $2 }' <<<"$out")" "$(awk '$1 == "99%" { print $2 }' <<<"$out")" \
    "$(awk '/Non-2xx/ { print $5 }' <<<"$out" | grep . || echo 0)"
}
h2_run() { # h2load args... → "rps|-|-|failed"
  local out
  out=$(load h2load -c4 -m25 -t1 -D "$SECS" --warm-up-time=1 "$@" 2>&1)
  # errors: failed or errored requests, and answers other than 2xx
  printf '%s|-|-|%s\n' "$(awk '/^finished in/ { print $4 }' <<<"$out")" \
    "$(awk '/^requests:/ { e += $10 + $12 } /^status codes:/ { e += $5 + $7 + $9 } END { print e + 0 }' <<<"$out")"
}

names=(
  "keep-alive: direct to upstream (http)"
  "keep-alive: nginx proxy_pass (TLS 1.3)"
  "keep-alive: borderless, auth off"
  "keep-alive: borderless, valid session"
  "keep-alive: Apache + mod_auth_openidc, valid session"
  "HTTP/2 100 streams: nginx proxy_pass"
  "HTTP/2 100 streams: borderless, valid session"
)
scenario() { # index → one run's result
  case "$1" in
    0) wrk_run "http://127.0.0.1:$P_UP/" ;;
    1) wrk_run "https://127.0.0.1:$P_NGINX/" ;;
    2) wrk_run -H "Host: open.localhost:$P_GW" "https://127.0.0.1:$P_GW/" ;;
    3) wrk_run -H "Host: localhost:$P_GW" -H "$session_cookie" "https://127.0.0.1:$P_GW/" ;;
    4) wrk_run -H "Host: localhost:$P_APACHE" -H "$apache_cookie" "https://127.0.0.1:$P_APACHE/" ;;
    5) h2_run "https://127.0.0.1:$P_NGINX/" ;;
    6) h2_run -H ":authority: localhost:$P_GW" -H "cookie: __Host-borderless_session=$cookie" "https://127.0.0.1:$P_GW/" ;;
  esac
}
all="$work/rounds.txt"
: >"$all"
for i in 0 1 2 3 4; do # warm-up: pools, caches, Apache's threads
  DUR=2s scenario "$i" >/dev/null
done
for round in $(seq "$ROUNDS"); do
  for i in "${!names[@]}"; do
    echo "$round|$i|$(scenario "$i")" >>"$all"
  done
done

median_row() { # scenario index → the row of its median-throughput round
  awk -F'|' -v i="$1" '$2 == i { print $3 "|" $0 }' "$all" | sort -t'|' -k1,1g |
    awk -v n="$ROUNDS" 'NR == int((n + 1) / 2)' | cut -d'|' -f4-
}
rps_of() { median_row "$1" | cut -d'|' -f1; }

echo
echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r). Servers on CPU $SERVER_CPU (one worker each), load generators on CPU $LOAD_CPU. $ROUNDS interleaved rounds of $DUR, median shown."
echo
echo "| scenario | requests/s | vs nginx | p50 | p99 | errors | all rounds (req/s) |"
echo "|---|---:|---:|---:|---:|---:|---|"
for i in "${!names[@]}"; do
  IFS='|' read -r rps p50 p99 bad <<<"$(median_row "$i")"
  peer=$(rps_of 1)
  ((i >= 5)) && peer=$(rps_of 5)
  ratio=$(awk -v a="$rps" -v b="$peer" 'BEGIN { printf "%.2f", a / b }')
  ((i == 0)) && ratio="-"
  rounds=$(awk -F'|' -v i="$i" '$2 == i { printf "%s%.0f", sep, $3; sep = ", " }' "$all")
  echo "| ${names[$i]} | $rps | $ratio | $p50 | $p99 | $bad | $rounds |"
done

# A new TLS connection per request, one at a time: s_time saturates its own core, so the
# figure that compares the servers is their CPU per connection.
echo
echo "New TLS 1.3 connection per request (openssl s_time -www /.borderless/health, $DUR each; both answer locally):"
echo
echo "| server | handshake | connections/s | server CPU per connection |"
echo "|---|---|---:|---:|"
for mode in new reuse; do
  for target in nginx borderless; do
    front "$target"
    before=$(cpu_of "$pid")
    t0=$(date +%s.%N)
    out=$(load openssl s_time -connect "127.0.0.1:$port" -www /.borderless/health -"$mode" -time "$SECS" 2>&1 || true)
    real=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
    after=$(cpu_of "$pid")
    # s_time's own "real seconds" are whole seconds; the wall clock above is finer.
    conns=$(awk '/connections in .* real seconds/ { print $1; exit }' <<<"$out")
    [[ -n "$conns" && "$conns" -gt 0 ]] || { echo "| $target | $mode | s_time failed | - |"; continue; }
    awk -v c="$conns" -v r="$real" -v b="$before" -v a="$after" -v t="$target" -v m="$mode" 'BEGIN {
      printf "| %s | %s | %.0f | %.0f µs |\n", t, (m == "new" ? "full" : "resumed"), c / r, (a - b) * 1e6 / c }'
  done
done

# Streaming: 100 MB each way through each proxy, one transfer at a time. The servers' peak
# memory shows whether a body was held whole.
echo
echo "Streaming 100 MB through the proxy (curl, best of 3; peak RSS of the proxy process):"
echo
echo "| server | download MB/s | upload MB/s | vs nginx (down / up) | peak RSS before → after |"
echo "|---|---:|---:|---:|---|"
peak_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
declare -A down up
for target in nginx borderless; do
  case $target in
    nginx) base="https://127.0.0.1:$P_NGINX" pid=$nginx_proxy_worker hdr=() ;;
    borderless) base="https://127.0.0.1:$P_GW" pid=$gw_pid hdr=(-H "Host: localhost:$P_GW" -H "$session_cookie") ;;
  esac
  hwm_before=$(peak_kb "$pid")
  best_down=0 best_up=0
  for _ in 1 2 3; do
    d=$(load curl -sk "${hdr[@]}" -o /dev/null -w '%{http_code} %{size_download} %{speed_download}' "$base/big" || true)
    [[ "$d" == "200 104857600 "* ]] || { echo "download through $target failed: $d" >&2; exit 1; }
    u=$(load curl -sk "${hdr[@]}" -o /dev/null -w '%{http_code} %{size_upload} %{speed_upload}' -T "$work/big.bin" "$base/upload/big" || true)
    [[ "$u" == 20[14]" 104857600 "* ]] || { echo "upload through $target failed: $u" >&2; exit 1; }
    best_down=$(awk -v a="$best_down" -v b="${d##* }" 'BEGIN { print (b > a ? b : a) }')
    best_up=$(awk -v a="$best_up" -v b="${u##* }" 'BEGIN { print (b > a ? b : a) }')
  done
  down[$target]=$best_down up[$target]=$best_up
  hwm_after=$(peak_kb "$pid")
  awk -v d="$best_down" -v u="$best_up" -v nd="${down[nginx]}" -v nu="${up[nginx]}" -v t="$target" \
    -v b="$hwm_before" -v a="$hwm_after" 'BEGIN {
    printf "| %s | %.0f | %.0f | %.2f / %.2f | %.1f MB → %.1f MB |\n", t, d / 1048576, u / 1048576, d / nd, u / nu, b / 1024, a / 1024 }'
done

# Idle keep-alive connections: what each costs the server in resident memory.
IDLE="${IDLE:-10000}"
echo
echo "$IDLE idle keep-alive TLS connections, each after one request (benches/idle_connections.py):"
echo
echo "| server | RSS before | RSS with the connections | per connection |"
echo "|---|---:|---:|---:|"
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
for target in nginx borderless; do
  front "$target"
  before=$(rss_kb "$pid")
  load python3 benches/idle_connections.py "$port" "$IDLE" 60 >"$work/idle.out" 2>&1 &
  holder=$!
  for _ in $(seq 600); do grep -q '^ready' "$work/idle.out" && break; sleep 0.1; done
  sleep 1 # let the server settle after the last request
  after=$(rss_kb "$pid")
  opened=$(awk '/^ready/ { print $2 }' "$work/idle.out")
  kill "$holder" 2>/dev/null || true
  wait "$holder" 2>/dev/null || true
  [[ -n "$opened" && "$opened" -gt 0 ]] || { echo "| $target | connections failed: $(head -c 200 "$work/idle.out") | | |"; continue; }
  awk -v b="$before" -v a="$after" -v n="$opened" -v t="$target" 'BEGIN {
    printf "| %s | %.1f MB | %.1f MB (%d open) | %.1f KB |\n", t, b / 1024, a / 1024, n, (a - b) / n }'
  sleep 2 # the closed connections drain before the next server is measured
done


cold_sessions
