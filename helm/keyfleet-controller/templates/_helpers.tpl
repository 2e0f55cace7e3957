{{/* Names, labels and the pieces the Deployment and the migrations Job share. */}}

{{- define "keyfleet-controller.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name (63 characters at most: DNS label rules). */}}
{{- define "keyfleet-controller.fullname" -}}
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

{{- define "keyfleet-controller.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The labels every object of the release has; each adds its app.kubernetes.io/component. */}}
{{- define "keyfleet-controller.commonLabels" -}}
helm.sh/chart: {{ include "keyfleet-controller.chart" . }}
app.kubernetes.io/name: {{ include "keyfleet-controller.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: keyfleet
{{- end }}

{{/* The controller's pods, and what selects them. */}}
{{- define "keyfleet-controller.selectorLabels" -}}
app.kubernetes.io/name: {{ include "keyfleet-controller.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{- define "keyfleet-controller.labels" -}}
{{ include "keyfleet-controller.commonLabels" . }}
app.kubernetes.io/component: controller
{{- end }}

{{- define "keyfleet-controller.migrationLabels" -}}
{{ include "keyfleet-controller.commonLabels" . }}
app.kubernetes.io/component: migrations
{{- end }}

{{- define "keyfleet-controller.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "keyfleet-controller.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "keyfleet-controller.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The Secrets: each is an existing one named in values, or made by the chart from the content in
values; exactly one of the two. A missing one fails with what to set.
*/}}
{{- define "keyfleet-controller.databaseSecretName" -}}
{{- if .Values.database.existingSecret }}
{{- if .Values.database.url }}
{{- fail "database: give existingSecret or url, not both" }}
{{- end }}
{{- .Values.database.existingSecret }}
{{- else }}
{{- $_ := required "database.url is required when database.existingSecret is empty: the libpq URL of the PostgreSQL database (postgresql://USER:PASSWORD@HOST:5432/DB), or name a Secret holding it in database.existingSecret" .Values.database.url }}
{{- printf "%s-db" (include "keyfleet-controller.fullname" .) }}
{{- end }}
{{- end }}

{{- define "keyfleet-controller.caSecretName" -}}
{{- if .Values.ca.existingSecret }}
{{- if or .Values.ca.crt .Values.ca.key .Values.ca.auditKey }}
{{- fail "ca: give existingSecret or crt, key and auditKey, not both" }}
{{- end }}
{{- .Values.ca.existingSecret }}
{{- else }}
{{- $how := "(make them with `keyfleet-controller init-ca --ca-dir DIR` and `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out DIR/audit.key`), or name a Secret holding ca.crt, ca.key and audit.key in ca.existingSecret" }}
{{- $_ := required (printf "ca.crt is required when ca.existingSecret is empty: the CA certificate (PEM) %s" $how) .Values.ca.crt }}
{{- $_ := required (printf "ca.key is required when ca.existingSecret is empty: the CA private key (PEM) %s" $how) .Values.ca.key }}
{{- $_ := required (printf "ca.auditKey is required when ca.existingSecret is empty: the audit signing key (PEM) %s" $how) .Values.ca.auditKey }}
{{- printf "%s-ca" (include "keyfleet-controller.fullname" .) }}
{{- end }}
{{- end }}

{{- define "keyfleet-controller.bootstrapSecretName" -}}
{{- if .Values.bootstrapToken.existingSecret }}
{{- if .Values.bootstrapToken.token }}
{{- fail "bootstrapToken: give existingSecret or token, not both" }}
{{- end }}
{{- .Values.bootstrapToken.existingSecret }}
{{- else }}
{{- $token := required "bootstrapToken.token is required when bootstrapToken.existingSecret is empty: make one with `keyfleet-controller bootstrap-token`, or name a Secret holding it in bootstrapToken.existingSecret" .Values.bootstrapToken.token }}
{{- if not (regexMatch "^kfat_[0-9a-f]{16}_[0-9a-f]{64}$" $token) }}
{{- fail "bootstrapToken.token is not an API token (kfat_ + 16 hex digits + _ + 64 hex digits): make one with `keyfleet-controller bootstrap-token`" }}
{{- end }}
{{- printf "%s-bootstrap" (include "keyfleet-controller.fullname" .) }}
{{- end }}
{{- end }}

{{/* Where the pod finds its files. */}}
{{- define "keyfleet-controller.configDir" -}}/etc/keyfleet{{- end }}
{{- define "keyfleet-controller.caDir" -}}/var/lib/keyfleet/ca{{- end }}
{{- define "keyfleet-controller.bootstrapDir" -}}/var/lib/keyfleet/bootstrap{{- end }}

{{/*
The Service that carries the dashboard port ("" when the dashboard is off): the release's own
when it is ClusterIP or dashboard.expose says so; else NAME-dashboard, a ClusterIP Service of
its own, so that an admin UI never lands on a load balancer unless someone chose to put it there.
*/}}
{{- define "keyfleet-controller.dashboardServiceName" -}}
{{- if .Values.dashboard.enabled }}
{{- $fullname := include "keyfleet-controller.fullname" . }}
{{- if or (eq .Values.service.type "ClusterIP") .Values.dashboard.expose }}
{{- $fullname }}
{{- else }}
{{- printf "%s-dashboard" $fullname }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The names in the server certificate: the Service's (and NAME-dashboard's when it exists, for
browsers and proxies inside the cluster), localhost, then tls.extraNames.
*/}}
{{- define "keyfleet-controller.tlsNames" -}}
{{- $names := list }}
{{- $services := list (include "keyfleet-controller.fullname" .) }}
{{- $dashboardService := include "keyfleet-controller.dashboardServiceName" . }}
{{- if and $dashboardService (not (has $dashboardService $services)) }}
{{- $services = append $services $dashboardService }}
{{- end }}
{{- range $service := $services }}
{{- $names = concat $names (list $service (printf "%s.%s" $service $.Release.Namespace) (printf "%s.%s.svc" $service $.Release.Namespace) (printf "%s.%s.svc.%s" $service $.Release.Namespace $.Values.clusterDomain)) }}
{{- end }}
{{- if .Values.tls.localhostNames }}
{{- $names = concat $names (list "localhost" "127.0.0.1") }}
{{- end }}
{{- range .Values.tls.extraNames }}
{{- $names = append $names (tpl . $) }}
{{- end }}
{{- toYaml (uniq $names) }}
{{- end }}

{{/*
controller.yaml: values.config with the keys the chart decides. Those keys in values.config
fail, so a setting never silently loses.
*/}}
{{- define "keyfleet-controller.config" -}}
{{- $managed := list "listen" "metrics_listen" "dashboard_listen" "migrate_on_start" "ca_dir" "tls_names" "bootstrap_token_file" "database" "insecure_dev" }}
{{- range $key := $managed }}
{{- if hasKey $.Values.config $key }}
{{- fail (printf "config.%s is set by the chart (ports: service.* and dashboard.*, names: tls.extraNames, database: database.*); remove it from config" $key) }}
{{- end }}
{{- end }}
{{- $config := deepCopy .Values.config }}
{{- $_ := set $config "listen" (printf "0.0.0.0:%d" (int .Values.service.grpcPort)) }}
{{- $_ := set $config "metrics_listen" (printf "0.0.0.0:%d" (int .Values.service.metricsPort)) }}
{{- /* Off: no dashboard_listen at all, the controller's default (no dashboard). */}}
{{- if .Values.dashboard.enabled }}
{{- $port := int .Values.dashboard.port }}
{{- if or (eq $port (int .Values.service.grpcPort)) (eq $port (int .Values.service.metricsPort)) }}
{{- fail (printf "dashboard.port %d is already the gRPC or the metrics port (service.grpcPort, service.metricsPort): give the dashboard a port of its own" $port) }}
{{- end }}
{{- $_ := set $config "dashboard_listen" (printf "0.0.0.0:%d" $port) }}
{{- end }}
{{- $_ := set $config "migrate_on_start" false }}
{{- $_ := set $config "ca_dir" (include "keyfleet-controller.caDir" .) }}
{{- $_ := set $config "bootstrap_token_file" (printf "%s/bootstrap.token" (include "keyfleet-controller.bootstrapDir" .)) }}
{{- $_ := set $config "tls_names" (include "keyfleet-controller.tlsNames" . | fromYamlArray) }}
{{- toYaml $config }}
{{- end }}

{{/* The pod's security context: non-root, the image's user, RuntimeDefault seccomp. */}}
{{- define "keyfleet-controller.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ int .Values.securityContext.runAsUser }}
runAsGroup: {{ int .Values.securityContext.runAsGroup }}
fsGroup: {{ int .Values.securityContext.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The container's: nothing to escalate to, no capabilities, a read-only root filesystem. */}}
{{- define "keyfleet-controller.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ int .Values.securityContext.runAsUser }}
runAsGroup: {{ int .Values.securityContext.runAsGroup }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* HTTPS with the controller's certificate: the web dashboard and its JSON API. */}}
{{- define "keyfleet-controller.dashboardServicePort" -}}
- name: dashboard
  port: {{ int .Values.dashboard.port }}
  targetPort: dashboard
  protocol: TCP
  appProtocol: https
{{- end }}

{{/* Plain HTTP: /metrics for Prometheus (/healthz and /readyz are for the kubelet). */}}
{{- define "keyfleet-controller.metricsServicePort" -}}
- name: metrics
  port: {{ int .Values.service.metricsPort }}
  targetPort: metrics
  protocol: TCP
  appProtocol: http
{{- end }}
