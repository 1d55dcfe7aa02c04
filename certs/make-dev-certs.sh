#!/usr/bin/env bash
# Makes a development CA and a gateway certificate signed by it, in certs/dev/ (or $1).
# The gateway certificate covers localhost, *.localhost and 127.0.0.1, which is what the
# demo config uses. Re-running keeps an existing CA and re-issues the gateway certificate.
set -euo pipefail
out="${1:-$(cd "$(dirname "$0")" && pwd)/dev}"
mkdir -p "$out"
cd "$out"
umask 077

if [[ ! -f ca.key || ! -f ca.crt ]]; then
  openssl ecparam -name prime256v1 -genkey -noout -out ca.key
  openssl req -x509 -new -key ca.key -sha256 -days 3650 -out ca.crt \
    -subj "/CN=Borderless Dev CA" \
    -addext "basicConstraints=critical,CA:true" \
    -addext "keyUsage=critical,keyCertSign,cRLSign"
fi

openssl ecparam -name prime256v1 -genkey -noout -out gateway.key.ec
openssl pkcs8 -topk8 -nocrypt -in gateway.key.ec -out gateway.key
rm -f gateway.key.ec
openssl req -new -key gateway.key -out gateway.csr -subj "/CN=localhost"
cat > gateway.ext <<EXT
basicConstraints=CA:false
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,DNS:*.localhost,DNS:login.localhost,DNS:app.localhost,IP:127.0.0.1,IP:::1
EXT
openssl x509 -req -in gateway.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
  -out gateway.crt -days 825 -sha256 -extfile gateway.ext
rm -f gateway.csr gateway.ext ca.srl
chmod 644 ca.crt gateway.crt
echo "dev certificates in $out (trust ca.crt to avoid browser warnings)"
