{{/* Names: <release>-rerank-gateway, unless the release name already says it; 63 characters at most. */}}
{{- define "rerank.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "rerank.gatewayName" -}}{{ include "rerank.fullname" . | trunc 55 | trimSuffix "-" }}{{- end -}}
{{- define "rerank.tritonName" -}}{{ printf "%s-triton" (include "rerank.fullname" . | trunc 56 | trimSuffix "-") }}{{- end -}}

{{/* Selector labels of one component ("gateway" or "triton"): stable across upgrades. */}}
{{- define "rerank.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "rerank.labels" -}}
{{ include "rerank.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{/* repository:tag, or repository@digest when a digest is pinned. */}}
{{- define "rerank.image" -}}
{{- if .digest -}}
{{ .repository }}@{{ .digest }}
{{- else -}}
{{ .repository }}:{{ .tag | default .appVersion }}
{{- end -}}
{{- end -}}

{{/* Pod and container security settings both Deployments share: non-root, read-only root, no capabilities. */}}
{{- define "rerank.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .runAsUser }}
runAsGroup: {{ .runAsUser }}
fsGroup: {{ .runAsUser }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "rerank.containerSecurityContext" -}}
runAsNonRoot: true
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/*
  Where a component's pods run (spec: its values): pull secrets, placement, and a spread over zones and nodes
  that is best effort, so that a small cluster still schedules them.
*/}}
{{- define "rerank.podPlacement" -}}
{{- with .spec.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
topologySpreadConstraints:
{{- range $key := list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
  - maxSkew: 1
    topologyKey: {{ $key }}
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "rerank.selectorLabels" $ | nindent 8 }}
{{- end }}
{{- range $field := list "nodeSelector" "tolerations" "affinity" }}
{{- with get $.spec $field }}
{{ $field }}:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Scrape annotations for Prometheus' pod discovery (when on), then the component's own. */}}
{{- define "rerank.podAnnotations" -}}
{{- if .root.Values.metrics.scrapeAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .spec.ports.metrics | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- with .spec.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The Secret names the gateway mounts: an existing Secret's, or the one this chart creates. */}}
{{- define "rerank.secretName" -}}
{{- .spec.existingSecret | default (printf "%s-%s" (include "rerank.gatewayName" .root) .suffix) -}}
{{- end -}}

{{/* Triton's gRPC address as the gateway dials it: every ready pod of the headless Service, round robin. */}}
{{- define "rerank.tritonGrpcUrl" -}}
{{- if .Values.gateway.tritonGrpcUrl -}}
{{ .Values.gateway.tritonGrpcUrl }}
{{- else -}}
dns:///{{ include "rerank.tritonName" . }}.{{ .Release.Namespace }}.svc.{{ .Values.clusterDomain }}:{{ .Values.triton.ports.grpc }}
{{- end -}}
{{- end -}}
