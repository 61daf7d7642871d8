{{/* Names and labels. */}}
{{- define "tuskq.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tuskq.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* tuskq.component: the name of one component ("worker", "monitor", "api"). */}}
{{- define "tuskq.component" -}}
{{- printf "%s-%s" (include "tuskq.fullname" .root | trunc 55 | trimSuffix "-") .component }}
{{- end }}

{{- define "tuskq.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "tuskq.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* tuskq.selectorLabels: dict root, component. */}}
{{- define "tuskq.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tuskq.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "tuskq.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tuskq.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "tuskq.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
tuskq.validate refuses values that would put a secret in clear into the
release (and so into the ConfigMap, the manifests and Helm's release
record) or that cannot work. Every message names the value and the fix;
none prints a secret.
*/}}
{{- define "tuskq.validate" -}}
{{- if not .Values.existingSecret }}
{{- fail "existingSecret is required: create a Secret holding the Redis password, the worker metrics token, the monitor users and the API tokens (see docs/operations.md, \"Kubernetes\") and set existingSecret to its name" }}
{{- end }}
{{- if not .Values.secretKeys.metricsToken }}
{{- fail "secretKeys.metricsToken is required: the workers listen beyond loopback for their probes, which tuskq allows only with worker.metrics_token; put a token of at least 16 characters in the Secret and name its key here" }}
{{- end }}
{{- $secret := dict
  "redis.password" "secretKeys.redisPassword"
  "redis.sentinel_password" "secretKeys.sentinelPassword"
  "worker.metrics_token" "secretKeys.metricsToken"
  "monitor.auth.users" "secretKeys.monitorUsers"
  "monitor.auth.tokens" "secretKeys.monitorTokens"
  "api.tokens" "secretKeys.apiTokens" }}
{{- range $path, $key := $secret }}
{{- $parts := splitList "." $path }}
{{- $node := $.Values.config }}
{{- range $parts }}
{{- if kindIs "map" $node }}{{ $node = get $node . }}{{ else }}{{ $node = "" }}{{ end }}
{{- end }}
{{- if $node }}
{{- fail (printf "config.%s holds a secret in clear in the chart's values: remove it and put it in the Secret named by existingSecret, under the key named by %s" $path $key) }}
{{- end }}
{{- end }}
{{- $envSecret := list "TUSKQ_REDIS_PASSWORD" "TUSKQ_REDIS_SENTINEL_PASSWORD" "TUSKQ_WORKER_METRICS_TOKEN" "TUSKQ_MONITOR_AUTH_USERS" "TUSKQ_MONITOR_AUTH_TOKENS" "TUSKQ_API_TOKENS" }}
{{- range $c := list "worker" "monitor" "api" }}
{{- range (index $.Values $c).extraEnv }}
{{- if and (has .name $envSecret) (hasKey . "value") }}
{{- fail (printf "%s.extraEnv sets %s with a value in clear: put it in the Secret named by existingSecret (secretKeys) instead" $c .name) }}
{{- end }}
{{- if not (hasPrefix "TUSKQ_" .name) }}
{{- fail (printf "%s.extraEnv sets %s: only TUSKQ_* variables configure tuskq (docs/configuration.md)" $c .name) }}
{{- end }}
{{- if eq .name "TUSKQ_WORKER_SHUTDOWN_TIMEOUT" }}
{{- fail (printf "%s.extraEnv sets TUSKQ_WORKER_SHUTDOWN_TIMEOUT: set config.worker.shutdown_timeout instead, from which the chart derives terminationGracePeriodSeconds" $c) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and .Values.autoscaling.keda.enabled .Values.autoscaling.hpa.enabled }}
{{- fail "autoscaling.keda.enabled and autoscaling.hpa.enabled are both true: KEDA creates its own HorizontalPodAutoscaler; enable one of them" }}
{{- end }}
{{- if and .Values.autoscaling.keda.enabled (not .Values.autoscaling.keda.serverAddress) }}
{{- fail "autoscaling.keda.serverAddress is required with autoscaling.keda.enabled: the address of the Prometheus that scrapes the monitor, such as http://prometheus-operated.monitoring:9090" }}
{{- end }}
{{- if and .Values.autoscaling.keda.enabled (not .Values.monitor.enabled) }}
{{- fail "autoscaling.keda.enabled needs monitor.enabled: KEDA scales on the monitor's queue metrics" }}
{{- end }}
{{- if and (eq (int .Values.autoscaling.hpa.minReplicas) 0) .Values.autoscaling.hpa.enabled }}
{{- fail "autoscaling.hpa.minReplicas is 0: a HorizontalPodAutoscaler cannot scale to zero without the HPAScaleToZero feature gate; use KEDA (autoscaling.keda) to scale to zero" }}
{{- end }}
{{- if not (has .Values.plugins.source (list "" "volume" "image" "initContainer")) }}
{{- fail (printf "plugins.source is %q: want \"\" (no plugins), volume, image or initContainer" .Values.plugins.source) }}
{{- end }}
{{- if and (eq .Values.plugins.source "volume") (not .Values.plugins.volume) }}
{{- fail "plugins.source is volume but plugins.volume is empty: give a volume source, such as {persistentVolumeClaim: {claimName: tuskq-plugins, readOnly: true}}" }}
{{- end }}
{{- if and (has .Values.plugins.source (list "image" "initContainer")) (not .Values.plugins.image.repository) }}
{{- fail (printf "plugins.source is %s but plugins.image.repository is empty: name the image that holds the plugins" .Values.plugins.source) }}
{{- end }}
{{- end }}

{{/*
tuskq.seconds parses a Go duration ("25s", "1m30s", "500ms") into whole
seconds, rounded up.
*/}}
{{- define "tuskq.seconds" -}}
{{- $d := toString . }}
{{- $total := 0.0 }}
{{- if not (regexMatch "^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$" $d) }}
{{- if ne $d "0" }}
{{- fail (printf "config.worker.shutdown_timeout is %q: want a duration such as 25s or 1m" $d) }}
{{- end }}
{{- end }}
{{- range regexFindAll "[0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h)" $d -1 }}
{{- $n := float64 (regexFind "^[0-9]+(\\.[0-9]+)?" .) }}
{{- $unit := regexReplaceAll "^[0-9]+(\\.[0-9]+)?" . "" }}
{{- $scale := get (dict "ns" 0.000000001 "us" 0.000001 "µs" 0.000001 "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0) $unit }}
{{- $total = addf $total (mulf $n $scale) }}
{{- end }}
{{- ceil $total | int }}
{{- end }}

{{/* The worker pods' terminationGracePeriodSeconds. */}}
{{- define "tuskq.workerGrace" -}}
{{- $timeout := "8s" }}
{{- $w := .Values.config.worker | default dict }}
{{- if and (hasKey $w "shutdown_timeout") (not (kindIs "invalid" $w.shutdown_timeout)) }}
{{- $timeout = $w.shutdown_timeout }}
{{- end }}
{{- add (include "tuskq.seconds" $timeout | int) .Values.worker.terminationGraceMarginSeconds }}
{{- end }}

{{/*
tuskq.env: the environment of a container: the config file and the
secrets of the component, from existingSecret. dict root, secrets (list of
{env, key, optional}).
*/}}
{{- define "tuskq.env" -}}
- name: TUSKQ_CONFIG
  value: /etc/tuskq/tuskq.yaml
{{- $root := .root }}
{{- range .secrets }}
{{- $key := get $root.Values.secretKeys .key }}
{{- if $key }}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.existingSecret }}
      key: {{ $key }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end }}
{{- end }}
{{- with .extra }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Volumes and mounts every container has: the config and /tmp. */}}
{{- define "tuskq.configVolume" -}}
- name: config
  configMap:
    name: {{ include "tuskq.fullname" . }}
    defaultMode: 0444
{{- end }}

{{- define "tuskq.configMount" -}}
- name: config
  mountPath: /etc/tuskq
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- end }}

{{/*
tuskq.metricLabels: the PromQL matchers that select this release's monitor.
*/}}
{{- define "tuskq.metricLabels" -}}
{{- if .Values.autoscaling.metricLabels }}
{{- .Values.autoscaling.metricLabels }}
{{- else }}
{{- printf "namespace=%q,job=%q" .Release.Namespace (include "tuskq.component" (dict "root" . "component" "monitor")) }}
{{- end }}
{{- end }}

{{/* tuskq.queueRegexp: the counted queues as a PromQL raw-string regexp. */}}
{{- define "tuskq.queueRegexp" -}}
{{- $queues := .Values.autoscaling.keda.queues }}
{{- if not $queues }}
{{- $configured := (.Values.config.worker | default dict).queues }}
{{- if kindIs "string" $configured }}
{{- range splitList "," $configured }}{{ $queues = append $queues (trim (first (splitList "=" .))) }}{{ end }}
{{- else }}
{{- $queues = keys (default (dict "critical" 6 "default" 3 "low" 1) $configured) | sortAlpha }}
{{- end }}
{{- end }}
{{- $quoted := list }}
{{- range $queues }}{{ $quoted = append $quoted (regexQuoteMeta .) }}{{ end }}
{{- printf "`%s`" (join "|" $quoted) }}
{{- end }}

{{/*
tuskq.backlogQuery: tasks waiting or running in the counted queues, or
nothing when the monitor is not scraped or cannot reach Redis (so that an
outage of the metrics never scales the workers to zero). dict root, states.
*/}}
{{- define "tuskq.backlogQuery" -}}
{{- $l := include "tuskq.metricLabels" .root }}
{{- printf "(sum(max by (queue, state) (asynq_tasks_enqueued_total{%s,state=~%q,queue=~%s})) or vector(0)) and on() (max(tuskq_monitor_redis_up{%s}) == 1)" $l .states (include "tuskq.queueRegexp" .root) $l }}
{{- end }}
