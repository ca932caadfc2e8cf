#!/usr/bin/env node
// Validates the chart's rendered manifests offline: every document against the Kubernetes
// OpenAPI schemas (kubernetes-models; ServiceMonitor against the Prometheus Operator CRD
// schema), then the chart's own invariants (probes, security context, labels, secrets).
//
// Usage: node validate.js [options] rendered.yaml
//   --kinds K1,K2,...   the exact multiset of kinds expected (sorted comparison)
//   --tls off|tls|mtls  the expected TLS mode (probes: native gRPC when off, exec otherwise)
//   --tls-probe exec|tcp  the expected probe type with TLS (default exec)
//   --replicas N        the Deployment must set replicas N (HPA off); "none" = unset (HPA on)
//   --forbid STRING     STRING (e.g. the API key) must not appear anywhere in the output
//   --secret created|existing  whether the chart creates the API key Secret
// Exit status: 0 when everything holds, 1 otherwise (every problem is printed).
import { readFileSync } from "node:fs";
import yaml from "js-yaml";

const args = process.argv.slice(2);
const opts = {};
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i].startsWith("--")) opts[args[i].slice(2)] = args[++i];
  else files.push(args[i]);
}
if (files.length !== 1) {
  console.error("usage: node validate.js [options] rendered.yaml");
  process.exit(2);
}

const text = readFileSync(files[0], "utf8");
const docs = yaml.loadAll(text).filter((d) => d !== null && d !== undefined);
const problems = [];
const fail = (where, msg) => problems.push(`${where}: ${msg}`);

// apiVersion/kind -> module exporting the class whose validate() checks the OpenAPI schema.
function modulePath(apiVersion, kind) {
  if (apiVersion === "monitoring.coreos.com/v1") {
    return `@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/${kind}`;
  }
  return `kubernetes-models/${apiVersion}/${kind}`;
}

// Kubernetes' OpenAPI does not forbid unknown fields, so typos would pass the schema check;
// these are the fields the chart may write at the top of each object and in a container.
const knownTop = new Set(["apiVersion", "kind", "metadata", "spec", "data", "stringData", "type",
  "automountServiceAccountToken", "imagePullSecrets", "secrets", "immutable", "binaryData"]);
const knownContainer = new Set(["name", "image", "imagePullPolicy", "command", "args", "ports",
  "env", "envFrom", "resources", "securityContext", "volumeMounts", "startupProbe",
  "livenessProbe", "readinessProbe", "lifecycle", "workingDir"]);

const durationSeconds = (d) => {
  const m = /^([0-9]+)(ms|s|m|h)$/.exec(d || "");
  if (!m) return NaN;
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2]];
};

function checkSecurity(where, podSpec, containers) {
  const psc = podSpec.securityContext || {};
  if (psc.runAsNonRoot !== true) fail(where, "pod securityContext.runAsNonRoot must be true");
  if (psc.runAsUser !== 65532) fail(where, `pod runAsUser is ${psc.runAsUser}, want 65532`);
  if (psc.seccompProfile?.type !== "RuntimeDefault") fail(where, "pod seccompProfile must be RuntimeDefault");
  if (podSpec.automountServiceAccountToken !== false) fail(where, "automountServiceAccountToken must be false");
  for (const c of containers) {
    const sc = c.securityContext || {};
    const w = `${where} container ${c.name}`;
    if (sc.allowPrivilegeEscalation !== false) fail(w, "allowPrivilegeEscalation must be false");
    if (sc.readOnlyRootFilesystem !== true) fail(w, "readOnlyRootFilesystem must be true");
    if (sc.runAsNonRoot !== true) fail(w, "runAsNonRoot must be true");
    if (JSON.stringify(sc.capabilities?.drop) !== '["ALL"]') fail(w, "capabilities.drop must be [ALL]");
    if (sc.capabilities?.add?.length) fail(w, "no capabilities may be added");
    if (sc.seccompProfile && sc.seccompProfile.type !== "RuntimeDefault") fail(w, "seccompProfile must be RuntimeDefault");
    if (!c.resources?.requests) fail(w, "resources.requests missing");
    for (const k of Object.keys(c)) if (!knownContainer.has(k)) fail(w, `unknown container field ${k}`);
  }
}

function checkProbes(where, c, tls, grpcPort) {
  const want = { startupProbe: "liveness", livenessProbe: "liveness", readinessProbe: "readiness" };
  for (const [probe, service] of Object.entries(want)) {
    const p = c[probe];
    if (!p) { fail(where, `${probe} missing`); continue; }
    if (tls === "off") {
      if (!p.grpc) fail(where, `${probe} must be a native grpc probe`);
      else {
        if (p.grpc.port !== grpcPort) fail(where, `${probe} port ${p.grpc.port}, want ${grpcPort}`);
        if (p.grpc.service !== service) fail(where, `${probe} service ${p.grpc.service}, want ${service}`);
      }
      if (p.exec) fail(where, `${probe} must not be exec without TLS`);
    } else if (opts["tls-probe"] === "tcp") {
      if (p.tcpSocket?.port !== grpcPort) fail(where, `${probe} must be a tcpSocket probe on ${grpcPort}`);
      if (p.grpc || p.exec) fail(where, `${probe} must be only a tcpSocket probe`);
    } else {
      const cmd = p.exec?.command || [];
      if (!cmd.length) { fail(where, `${probe} must be an exec probe with TLS`); continue; }
      if (p.grpc) fail(where, `${probe}: kubelet gRPC probes cannot speak TLS`);
      for (const flag of ["health", `--gateway=127.0.0.1:${grpcPort}`]) {
        if (!cmd.includes(flag)) fail(where, `${probe} command lacks ${flag}`);
      }
      if (cmd[cmd.length - 1] !== service) fail(where, `${probe} must check service ${service}`);
      if (!cmd.includes("--tls-no-verify") && !cmd.some((a) => a.startsWith("--tls-ca="))) {
        fail(where, `${probe} must speak TLS (--tls-ca or --tls-no-verify)`);
      }
      const hasClientCert = cmd.some((a) => a.startsWith("--tls-cert="));
      if ((tls === "mtls") !== hasClientCert) fail(where, `${probe}: client certificate flags do not match mode ${tls}`);
    }
  }
}

const kinds = [];
const byKind = {};
for (const [n, doc] of docs.entries()) {
  const name = `${doc.kind}/${doc.metadata?.name} (document ${n + 1})`;
  kinds.push(doc.kind);
  (byKind[doc.kind] ||= []).push(doc);
  for (const k of Object.keys(doc)) if (!knownTop.has(k)) fail(name, `unknown top-level field ${k}`);
  let mod;
  try {
    mod = await import(modulePath(doc.apiVersion, doc.kind));
  } catch {
    fail(name, `no schema for ${doc.apiVersion} ${doc.kind}`);
    continue;
  }
  const Cls = mod[doc.kind] || mod.default;
  try {
    new Cls(doc).validate();
  } catch (e) {
    fail(name, `schema: ${e.message}`);
  }
  const labels = doc.metadata?.labels || {};
  for (const l of ["app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by", "helm.sh/chart"]) {
    if (!labels[l]) fail(name, `label ${l} missing`);
  }
}

// The API key must never appear in the output (the created Secret holds it base64-encoded).
if (opts.forbid && text.includes(opts.forbid)) fail("output", "the API key value appears in the rendered manifests");

const tls = opts.tls || "off";
const cm = (byKind.ConfigMap || [])[0]?.data || {};
const deployments = byKind.Deployment || [];
if (deployments.length !== 1) fail("output", `want 1 Deployment, got ${deployments.length}`);
for (const d of deployments) {
  const where = `Deployment/${d.metadata.name}`;
  const tpl = d.spec.template;
  const pod = tpl.spec;
  const c = pod.containers.find((x) => x.name === "gateway");
  if (!c) { fail(where, "no gateway container"); continue; }
  checkSecurity(where, pod, pod.containers);
  const grpcPort = c.ports?.find((p) => p.name === "grpc")?.containerPort;
  checkProbes(where, c, tls, grpcPort);
  if (!/^[0-9a-f]{64}$/.test(tpl.metadata?.annotations?.["checksum/config"] || "")) {
    fail(where, "pod annotation checksum/config missing");
  }
  // The key only as a mounted file: no env var may carry it.
  for (const e of c.env || []) {
    if (e.name === "TRIVERSE_API_KEY") fail(where, "TRIVERSE_API_KEY must not be set (use the mounted file)");
  }
  if (cm.TRIVERSE_API_KEY) fail("ConfigMap", "TRIVERSE_API_KEY must not be set");
  if (cm.TRIVERSE_API_KEY_FILE !== "/var/run/secrets/triverse/api-key") fail("ConfigMap", "TRIVERSE_API_KEY_FILE must point at the mounted key");
  const keyMount = (c.volumeMounts || []).find((m) => m.name === "api-key");
  if (keyMount?.mountPath !== "/var/run/secrets/triverse") fail(where, "the api-key volume must be mounted at /var/run/secrets/triverse");
  for (const m of c.volumeMounts || []) if (m.subPath) fail(where, `volume ${m.name} mounted with subPath (updates would not propagate)`);
  const grace = durationSeconds(cm.TRIVERSE_SHUTDOWN_GRACE);
  if (!(grace < pod.terminationGracePeriodSeconds)) {
    fail(where, `TRIVERSE_SHUTDOWN_GRACE ${cm.TRIVERSE_SHUTDOWN_GRACE} must be below terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds}`);
  }
  const tlsEnv = ["TRIVERSE_TLS_CERT_FILE", "TRIVERSE_TLS_KEY_FILE"].every((k) => cm[k]);
  if ((tls !== "off") !== tlsEnv) fail("ConfigMap", `TLS file settings do not match mode ${tls}`);
  if ((tls === "mtls") !== Boolean(cm.TRIVERSE_TLS_CLIENT_CA_FILE)) fail("ConfigMap", `TRIVERSE_TLS_CLIENT_CA_FILE does not match mode ${tls}`);
  if (opts.replicas === "none" && d.spec.replicas !== undefined) fail(where, "replicas must be unset when the HPA owns the count");
  if (opts.replicas && opts.replicas !== "none" && d.spec.replicas !== Number(opts.replicas)) {
    fail(where, `replicas ${d.spec.replicas}, want ${opts.replicas}`);
  }
}

for (const s of byKind.Service || []) {
  const grpc = s.spec.ports.find((p) => p.name === "grpc");
  if (grpc?.appProtocol !== "grpc") fail(`Service/${s.metadata.name}`, "the grpc port needs appProtocol: grpc");
  if (cm.TRIVERSE_METRICS_LISTEN && !s.spec.ports.some((p) => p.name === "metrics")) fail(`Service/${s.metadata.name}`, "metrics port missing");
}
for (const sa of byKind.ServiceAccount || []) {
  if (sa.automountServiceAccountToken !== false) fail(`ServiceAccount/${sa.metadata.name}`, "automountServiceAccountToken must be false");
}
const tests = (byKind.Pod || []).filter((p) => p.metadata.annotations?.["helm.sh/hook"] === "test");
for (const p of tests) checkSecurity(`Pod/${p.metadata.name}`, p.spec, p.spec.containers);
if ((byKind.Pod || []).length && !tests.length) fail("output", "a Pod that is not a helm test hook");
for (const h of byKind.HorizontalPodAutoscaler || []) {
  if (!h.spec.metrics?.some((m) => m.resource?.name === "cpu")) fail(`HorizontalPodAutoscaler/${h.metadata.name}`, "no CPU metric");
}
if (opts.secret === "created" && !(byKind.Secret || []).length) fail("output", "the chart should create the API key Secret");
if (opts.secret === "existing" && (byKind.Secret || []).length) fail("output", "no Secret should be created with apiKey.existingSecret");

if (opts.kinds) {
  const want = opts.kinds.split(",").sort().join(",");
  const got = [...kinds].sort().join(",");
  if (want !== got) fail("output", `kinds ${got}, want ${want}`);
}

if (problems.length) {
  for (const p of problems) console.error(`  FAIL ${p}`);
  process.exit(1);
}
console.log(`  ok: ${docs.length} documents valid (${[...kinds].sort().join(", ")})`);
