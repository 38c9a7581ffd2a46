{{/*
Names and labels as kube-prometheus-stack's templates/_helpers.tpl makes them, with the chart's
name fixed to "kube-prometheus-stack" (this chart is not called that, the objects are).
*/}}
{{- define "kube-prometheus-stack.name" -}}kube-prometheus-stack{{- end -}}

{{- define "kube-prometheus-stack.fullname" -}}
{{- $name := include "kube-prometheus-stack.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 26 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 26 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kube-prometheus-stack.namespace" -}}{{ .Release.Namespace }}{{- end -}}

{{- define "kube-prometheus-stack.labels" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: "{{ replace "+" "_" .Chart.Version }}"
app.kubernetes.io/part-of: {{ include "kube-prometheus-stack.name" . }}
chart: {{ .Chart.Name }}-{{ .Chart.Version | replace "+" "_" }}
release: {{ $.Release.Name | quote }}
heritage: {{ $.Release.Service | quote }}
{{- end }}
