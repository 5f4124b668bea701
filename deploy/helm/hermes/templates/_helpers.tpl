{{- define "hermes.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hermes.fullname" -}}
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

{{- define "hermes.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hermes.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "hermes.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "hermes.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hermes
{{- end -}}

{{- define "hermes.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "hermes.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "hermes.secretName" -}}
{{- default (include "hermes.fullname" .) .Values.existingSecret.name -}}
{{- end -}}

{{- define "hermes.components" -}}
gateway planner guard executor
{{- end -}}

{{/* Checks that make a wrong values file fail with a clear message instead of a surprise. */}}
{{- define "hermes.validate" -}}
{{- if hasKey .Values "replicaCount" -}}
{{- fail "replicaCount is set per component in Hermes: use gateway.replicaCount, planner.replicaCount, guard.replicaCount or executor.replicaCount (the executor is the one that scales)" -}}
{{- end -}}
{{- if not (or .Values.gateway.enabled .Values.planner.enabled .Values.guard.enabled .Values.executor.enabled) -}}
{{- fail "every component is disabled: enable at least one of gateway, planner, guard, executor" -}}
{{- end -}}
{{- if not .Values.securityContext.readOnlyRootFilesystem -}}
{{- fail "securityContext.readOnlyRootFilesystem must stay true: Hermes writes only to /tmp and /var/lib/hermes" -}}
{{- end -}}
{{- end -}}
