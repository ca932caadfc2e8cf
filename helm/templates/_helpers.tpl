{{/* Names. */}}
{{- define "gw.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gw.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "gw.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Standard labels. */}}
{{- define "gw.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gw.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The gateway pods (not the helm test Pod, which shares name and instance). */}}
{{- define "gw.podSelectorLabels" -}}
{{ include "gw.selectorLabels" . }}
app.kubernetes.io/component: gateway
{{- end -}}

{{- define "gw.labels" -}}
helm.sh/chart: {{ include "gw.chart" . }}
{{ include "gw.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: triverse
{{- end -}}

{{- define "gw.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "gw.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "gw.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The API key Secret: an existing one or the one the chart creates. */}}
{{- define "gw.apiKeySecretName" -}}
{{- if .Values.apiKey.existingSecret -}}
{{- .Values.apiKey.existingSecret -}}
{{- else -}}
{{- printf "%s-api-key" (include "gw.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* Secret names for TLS. */}}
{{- define "gw.tlsClientCaSecretName" -}}
{{- default .Values.tls.secretName .Values.tls.clientCaSecretName -}}
{{- end -}}
{{- define "gw.probeClientSecretName" -}}
{{- default .Values.tls.secretName .Values.probes.tlsExec.clientSecretName -}}
{{- end -}}

{{/* Validation that the schema cannot express; fails the render with a clear message. */}}
{{- define "gw.validate" -}}
{{- if and .Values.apiKey.existingSecret .Values.apiKey.value -}}
{{- fail "apiKey: set either apiKey.existingSecret or apiKey.value, not both" -}}
{{- end -}}
{{- if not (or .Values.apiKey.existingSecret .Values.apiKey.value) -}}
{{- fail "apiKey: set apiKey.existingSecret (an existing Secret) or apiKey.value (the chart creates a Secret)" -}}
{{- end -}}
{{- if and .Values.tls.enabled (not .Values.tls.secretName) -}}
{{- fail "tls.enabled requires tls.secretName (a Secret with tls.crt and tls.key)" -}}
{{- end -}}
{{- if and .Values.tls.clientAuth (not .Values.tls.enabled) -}}
{{- fail "tls.clientAuth (mutual TLS) requires tls.enabled" -}}
{{- end -}}
{{- $grace := include "gw.durationSeconds" .Values.config.shutdownGrace | int -}}
{{- if ge $grace (int .Values.terminationGracePeriodSeconds) -}}
{{- fail (printf "config.shutdownGrace (%s) must be below terminationGracePeriodSeconds (%d)" .Values.config.shutdownGrace (int .Values.terminationGracePeriodSeconds)) -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) -}}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" -}}
{{- end -}}
{{- if eq (int .Values.ports.grpc) (int .Values.ports.metrics) -}}
{{- fail "ports.grpc and ports.metrics must differ" -}}
{{- end -}}
{{- end -}}

{{/* A Go-style duration (500ms, 25s, 5m, 1h) in whole seconds, rounded up. */}}
{{- define "gw.durationSeconds" -}}
{{- $d := toString . -}}
{{- if not (regexMatch "^[0-9]+(ms|s|m|h)$" $d) -}}
{{- fail (printf "invalid duration %q (use e.g. 500ms, 25s, 5m, 1h)" $d) -}}
{{- end -}}
{{- $n := regexFind "^[0-9]+" $d | int64 -}}
{{- $unit := trimPrefix (toString $n) $d -}}
{{- if eq $unit "ms" -}}{{- div (add $n 999) 1000 -}}
{{- else if eq $unit "s" -}}{{- $n -}}
{{- else if eq $unit "m" -}}{{- mul $n 60 -}}
{{- else -}}{{- mul $n 3600 -}}
{{- end -}}
{{- end -}}

{{/*
A Kubernetes memory quantity (e.g. 1Gi, 512Mi, 1.5Gi, 2G, 1073741824) in bytes.
Prints nothing for an empty quantity; fails for one it cannot read.
*/}}
{{- define "gw.quantityBytes" -}}
{{- $q := toString . -}}
{{- if $q -}}
{{- $m := regexFindAll "^([0-9]+(\\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$" $q 1 -}}
{{- if not $m -}}
{{- fail (printf "cannot derive config.memoryQuota from resources.limits.memory %q: set config.memoryQuota (bytes)" $q) -}}
{{- end -}}
{{- $num := regexFind "^[0-9]+(\\.[0-9]+)?" $q -}}
{{- $suffix := trimPrefix $num $q -}}
{{- $mult := dict "" 1 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "P" 1000000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "Pi" 1125899906842624 -}}
{{- printf "%d" (mulf (float64 $num) (get $mult $suffix) | floor | int64) -}}
{{- end -}}
{{- end -}}

{{/* TRIVERSE_MEMORY_QUOTA: the explicit value, else a share of limits.memory, else nothing. */}}
{{- define "gw.memoryQuota" -}}
{{- if gt (int64 .Values.config.memoryQuota) 0 -}}
{{- printf "%d" (int64 .Values.config.memoryQuota) -}}
{{- else -}}
{{- $limit := "" -}}
{{- with .Values.resources.limits -}}
{{- if kindIs "float64" .memory -}}{{- $limit = printf "%.0f" .memory -}}
{{- else -}}{{- $limit = toString (default "" .memory) -}}{{- end -}}
{{- end -}}
{{- if $limit -}}
{{- $bytes := include "gw.quantityBytes" $limit | float64 -}}
{{- printf "%d" (div (mulf $bytes .Values.config.memoryQuotaPercent | floor | int64) 100) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* TLS mount paths. */}}
{{- define "gw.tlsDir" -}}/etc/triverse/tls{{- end -}}
{{- define "gw.clientCaDir" -}}/etc/triverse/client-ca{{- end -}}
{{- define "gw.probeCertDir" -}}/etc/triverse/probe-tls{{- end -}}

{{/*
One probe's handler: native gRPC in plaintext; with TLS, exec `triverse health` (tlsMode exec)
or a TCP connect (tlsMode tcp: weaker, readiness then ignores the upstream).
*/}}
{{- define "gw.probeHandler" -}}
{{- $root := .root -}}
{{- if and $root.Values.tls.enabled (eq $root.Values.probes.tlsMode "tcp") }}
tcpSocket:
  port: {{ $root.Values.ports.grpc }}
{{- else if $root.Values.tls.enabled }}
exec:
  command:
    - {{ $root.Values.probes.tlsExec.command }}
    - --gateway=127.0.0.1:{{ $root.Values.ports.grpc }}
    - --timeout=1s
    {{- if $root.Values.probes.tlsExec.serverName }}
    - --tls-server-name={{ $root.Values.probes.tlsExec.serverName }}
    - --tls-ca={{ include "gw.tlsDir" $root }}/ca.crt
    {{- else }}
    - --tls-no-verify
    {{- end }}
    {{- if $root.Values.tls.clientAuth }}
    - --tls-cert={{ include "gw.probeCertDir" $root }}/tls.crt
    - --tls-key={{ include "gw.probeCertDir" $root }}/tls.key
    {{- end }}
    - health
    - {{ .service }}
{{- else }}
grpc:
  port: {{ $root.Values.ports.grpc }}
  service: {{ .service }}
{{- end }}
{{- end -}}

{{/* The checksum of everything the pods read from the chart (config and created Secret). */}}
{{- define "gw.configChecksum" -}}
{{- $cm := include (print .Template.BasePath "/configmap.yaml") . -}}
{{- $sec := include (print .Template.BasePath "/secret.yaml") . -}}
{{- printf "%s\n%s" $cm $sec | sha256sum -}}
{{- end -}}

{{/* An IntOrString value: "50%" stays a quoted string, 1 / "1" / 1.0 become an integer. */}}
{{- define "gw.intOrPercent" -}}
{{- if hasSuffix "%" (toString .) -}}{{- toString . | quote -}}{{- else -}}{{- int64 . -}}{{- end -}}
{{- end -}}
