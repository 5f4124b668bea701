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

{{/* Every NATS user (hermes.permissions.NATS_USERS) and Redis ACL user (REDIS_USERS). */}}
{{- define "hermes.natsUsers" -}}
gateway planner guard executor bootstrap admin integration
{{- end -}}
{{- define "hermes.redisUsers" -}}
gateway planner guard executor admin
{{- end -}}

{{/* The token the Ankra CLI emulator (the executor image's default `ankra`) accepts: public, not a secret
(ankra_emulator.state.DEFAULT_TOKEN; tests/deploy/test_helm_chart.py checks they agree). */}}
{{- define "hermes.emulatorToken" -}}
ankra_emulator_3f2c557c6e898b45b3db07ac1acbae33cda0d264
{{- end -}}

{{- define "hermes.trustedKeysConfigMap" -}}
{{- if .Values.trustedKeys.json -}}
{{- printf "%s-trusted-keys" (include "hermes.fullname" .) -}}
{{- else -}}
{{- .Values.trustedKeys.existingConfigMap -}}
{{- end -}}
{{- end -}}

{{/* "true" when the gateway connects to chat platform $p: gateway.chat.<p>, or its token set under config
(the chart's own Secret). Called with (dict "root" $ "platform" "slack"). */}}
{{- define "hermes.chatOn" -}}
{{- $v := .root.Values -}}
{{- $token := dict "slack" $v.config.slackBotToken "discord" $v.config.discordToken "telegram" $v.config.telegramToken -}}
{{- if or (index $v.gateway.chat .platform) (and (not $v.existingSecret.name) (index $token .platform)) -}}
true
{{- end -}}
{{- end -}}

{{/* "true" when the planner mounts a model key. */}}
{{- define "hermes.modelKeyOn" -}}
{{- if .Values.existingSecret.name -}}
{{- if .Values.existingSecret.anthropicApiKeyKey }}true{{ end -}}
{{- else if .Values.config.anthropicApiKey -}}
true
{{- end -}}
{{- end -}}

{{/* "true" when the executor mounts an Ankra token (always with the chart's own Secret: the emulator's). */}}
{{- define "hermes.ankraTokenOn" -}}
{{- if or (not .Values.existingSecret.name) .Values.existingSecret.ankraApiTokenKey -}}
true
{{- end -}}
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
{{- $keysHelp := "make the keys with `hermes keys DIR`, then --set-file serviceKeys.<component>=DIR/<component>.key and --set-file trustedKeys.json=DIR/public-keys.json (docs/deploy.md)" -}}
{{- if and (not .Values.trustedKeys.json) (not .Values.trustedKeys.existingConfigMap) -}}
{{- fail (printf "trustedKeys: every component needs the services' public keys: %s, or name a ConfigMap in trustedKeys.existingConfigMap" $keysHelp) -}}
{{- end -}}
{{- if .Values.trustedKeys.json -}}
{{- $trusted := fromJson .Values.trustedKeys.json -}}
{{- if hasKey $trusted "Error" -}}
{{- fail (printf "trustedKeys.json is not JSON (%s): give public-keys.json of `hermes keys`" (get $trusted "Error")) -}}
{{- end -}}
{{- range $c := splitList " " (include "hermes.components" .) -}}
{{- if not (get $trusted $c) -}}
{{- fail (printf "trustedKeys.json has no public key for %s: give public-keys.json of `hermes keys`" $c) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if not .Values.existingSecret.name -}}
{{- range $c := splitList " " (include "hermes.components" .) -}}
{{- if (index $.Values $c).enabled -}}
{{- $key := index $.Values.serviceKeys $c | default "" | trim -}}
{{- if not $key -}}
{{- fail (printf "serviceKeys.%s is empty: the %s signs with its own key; %s" $c $c $keysHelp) -}}
{{- end -}}
{{- if ne (len (b64dec $key)) 32 -}}
{{- fail (printf "serviceKeys.%s is not a key of `hermes keys` (32 bytes, base64)" $c) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
