{{/* Defines of the chart's own templates (the shared name/label helpers are in _helpers.tpl). */}}

{{/* repository:tag, or repository@digest when a digest pins it; tag defaults to appVersion. */}}
{{- define "sidecar-monitor.imageRef" -}}
{{- $repo := .image.repository -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $repo .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .appVersion .image.tag) -}}
{{- end -}}
{{- end }}

{{- define "sidecar-monitor.image" -}}
{{- include "sidecar-monitor.imageRef" (dict "image" .Values.image "appVersion" .Chart.AppVersion) -}}
{{- end }}

{{/* The injected exporter: its own image when set, else the operator's. */}}
{{- define "sidecar-monitor.exporterImage" -}}
{{- if .Values.exporter.image.repository -}}
{{- include "sidecar-monitor.imageRef" (dict "image" .Values.exporter.image "appVersion" .Chart.AppVersion) -}}
{{- else -}}
{{- include "sidecar-monitor.image" . -}}
{{- end -}}
{{- end }}

{{/* Annotations of an object as YAML (empty when none): extraAnnotations plus the given ones. */}}
{{- define "sidecar-monitor.annotations" -}}
{{- $all := merge (dict) (.extra | default dict) (.root.Values.extraAnnotations | default dict) -}}
{{- with $all }}{{ toYaml . }}{{ end -}}
{{- end }}

{{/* Checks across values that the JSON schema cannot express. */}}
{{- define "sidecar-monitor.validate" -}}
{{- $le := .Values.leaderElection -}}
{{- if ge (int $le.renewDeadline) (int $le.leaseDuration) -}}
{{- fail "leaderElection.renewDeadline must be shorter than leaderElection.leaseDuration" -}}
{{- end -}}
{{- if ge (int $le.retryPeriod) (int $le.renewDeadline) -}}
{{- fail "leaderElection.retryPeriod must be shorter than leaderElection.renewDeadline" -}}
{{- end -}}
{{- if and (gt (int .Values.replicaCount) 1) (ge (int .Values.podDisruptionBudget.minAvailable) (int .Values.replicaCount)) -}}
{{- fail "podDisruptionBudget.minAvailable must be below replicaCount, or no node could ever be drained" -}}
{{- end -}}
{{- end }}

{{/* key=value, key=value: labels on one line (NOTES.txt). */}}
{{- define "sidecar-monitor.inlineLabels" -}}
{{- $pairs := list -}}
{{- range $k, $v := . -}}
{{- $pairs = append $pairs (printf "%s=%s" $k $v) -}}
{{- end -}}
{{- join ", " $pairs -}}
{{- end }}
