{{/* Chart name, overridable. */}}
{{- define "itsm.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-scoped base name of every object; service objects append "-<service>". */}}
{{- define "itsm.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "itsm.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "itsm.labels" -}}
helm.sh/chart: {{ include "itsm.chart" . }}
{{ include "itsm.selectorLabels" . }}
app.kubernetes.io/version: {{ (default .Chart.AppVersion .Values.image.tag) | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: itsm
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels shared by every pod of the release (the NetworkPolicies allow traffic among them). */}}
{{- define "itsm.selectorLabels" -}}
app.kubernetes.io/name: {{ include "itsm.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Name of the ServiceAccount the services run as. */}}
{{- define "itsm.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "itsm.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Name of the ServiceAccount of the migrations Job (a hook: the release's own does not exist yet on install). */}}
{{- define "itsm.migrationsServiceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- printf "%s-migrations" (include "itsm.fullname" .) -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "itsm.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* Secret holding the services' URLs and keys (database, AMQP per service, Redis, key-set seal). */}}
{{- define "itsm.secretName" -}}
{{- default (include "itsm.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* Key of a service's RabbitMQ URL in the Secret: (list $root $service). */}}
{{- define "itsm.amqpUrlKey" -}}
{{- $root := index . 0 -}}
{{- printf "%s%s" $root.Values.secrets.keys.amqpUrlPrefix (index . 1) -}}
{{- end -}}

{{/* Secret holding the migration URLs (owner and application role). */}}
{{- define "itsm.migrationSecretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- default .Values.secrets.existingSecret .Values.secrets.existingMigrationSecret -}}
{{- else -}}
{{- printf "%s-migrations" (include "itsm.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* Externally visible base URL: config.publicUrl, else derived from the first ingress host. */}}
{{- define "itsm.publicUrl" -}}
{{- if .Values.config.publicUrl -}}
{{- .Values.config.publicUrl | trimSuffix "/" -}}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts -}}
{{- printf "%s://%s" (ternary "https" "http" (gt (len .Values.ingress.tls) 0)) (first .Values.ingress.hosts) -}}
{{- end -}}
{{- end -}}

{{/* JWKS URL for the services that verify tokens issued by identity. */}}
{{- define "itsm.jwksUrl" -}}
{{- if .Values.config.authJwksUrl -}}
{{- .Values.config.authJwksUrl -}}
{{- else -}}
{{- $services := include "itsm.services" . | fromYaml -}}
{{- if hasKey $services "identity" -}}
{{- printf "http://%s-identity.%s.svc:%v/.well-known/jwks.json" (include "itsm.fullname" .) .Release.Namespace $services.identity.service.port -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Deep merge of two maps into the first (mutated): maps merge key by key, anything else
(including false, 0, "" and lists) replaces. Sprig's merge/mergeOverwrite would treat false
and 0 as "unset", so a service could not turn off a default.
*/}}
{{- define "itsm.mergeInto" -}}
{{- $dst := index . 0 -}}
{{- $src := index . 1 -}}
{{- range $k, $v := $src -}}
{{- $cur := get $dst $k -}}
{{- if and (kindIs "map" $v) (kindIs "map" $cur) -}}
{{- include "itsm.mergeInto" (list $cur $v) -}}
{{- else -}}
{{- $_ := set $dst $k $v -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The enabled services as YAML: name -> serviceDefaults deep-merged with services.<name>. */}}
{{- define "itsm.services" -}}
{{- $out := dict -}}
{{- range $name, $svc := .Values.services -}}
{{- if and $svc $svc.enabled -}}
{{- $merged := deepCopy $.Values.serviceDefaults -}}
{{- include "itsm.mergeInto" (list $merged $svc) -}}
{{- $_ := set $out $name $merged -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* Checks that fail the render with a message instead of producing a broken release. */}}
{{- define "itsm.validate" -}}
{{- $services := include "itsm.services" . | fromYaml -}}
{{- if not $services -}}
{{- fail "services: enable at least one service (services.<name>.enabled: true)" -}}
{{- end -}}
{{- if not .Values.secrets.existingSecret -}}
{{- if not .Values.secrets.databaseUrl -}}
{{- fail "secrets.databaseUrl (application role) is required unless secrets.existingSecret is set" -}}
{{- end -}}
{{- range $name, $_ := $services -}}
{{- $url := get $.Values.secrets.amqpUrls $name -}}
{{- if not $url -}}
{{- fail (printf "secrets.amqpUrls.%s (a RabbitMQ URL as user itsm-%s) is required unless secrets.existingSecret is set" $name $name) -}}
{{- end -}}
{{- if not (regexMatch (printf "^amqps?://itsm-%s(:[^@]*)?@" $name) $url) -}}
{{- fail (printf "secrets.amqpUrls.%s must log in as itsm-%s (amqp[s]://itsm-%s:<password>@host…): consumers accept %s's events only from that user" $name $name $name $name) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.migrations.enabled (not .Values.secrets.migrationDatabaseUrl) -}}
{{- fail "secrets.migrationDatabaseUrl (owner role) is required for the migrations Job unless secrets.existingSecret is set" -}}
{{- end -}}
{{- if and .Values.redis.enabled (not .Values.secrets.redisUrl) -}}
{{- fail "secrets.redisUrl is required when redis.enabled is true and secrets.existingSecret is not set" -}}
{{- end -}}
{{- if and .Values.redis.enabled (lt (len .Values.secrets.authJwksSharedKey) 32) -}}
{{- fail "secrets.authJwksSharedKey (at least 32 bytes) is required when redis.enabled is true and secrets.existingSecret is not set" -}}
{{- end -}}
{{- end -}}
{{- range $name, $svc := $services -}}
{{- if and (ne $name "identity") (not (include "itsm.jwksUrl" $)) -}}
{{- fail (printf "services.%s verifies tokens issued by identity: enable services.identity or set config.authJwksUrl" $name) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.ingress.enabled (not .Values.ingress.hosts) .Values.ingress.tls -}}
{{- fail "ingress.tls needs ingress.hosts" -}}
{{- end -}}
{{- end -}}
