#!/usr/bin/env bash
# Makes the TLS test certificates of tests/server/gateway/tls_test.cc (run
# once; the files are committed). Two CAs, each with a server certificate for
# 127.0.0.1 / localhost and a client certificate; valid for 100 years.
set -euo pipefail
cd "$(dirname "$0")"
days=36500
for ca in ca other-ca; do
  openssl req -x509 -newkey rsa:2048 -nodes -days $days -subj "/CN=triverse test $ca" \
    -keyout $ca.key -out $ca.pem 2>/dev/null
done
issue() {  # NAME CA CN EXT
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$3" -keyout "$1.key" -out "$1.csr" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial \
    -days $days -extfile <(printf '%s\n' "$4") -out "$1.pem" 2>/dev/null
  rm -f "$1.csr"
}
server_ext="subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
client_ext="extendedKeyUsage=clientAuth"
issue server ca localhost "$server_ext"
issue client ca "test client" "$client_ext"
issue other-server other-ca localhost "$server_ext"
issue other-client other-ca "other client" "$client_ext"
rm -f ./*.srl
