{{/* Names and labels */}}
{{- define "execx.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "execx.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "execx.selectorLabels" -}}
app.kubernetes.io/name: {{ include "execx.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "execx.labels" -}}
{{ include "execx.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/*
execx.container: the execx container, for this chart's Deployment and for other charts' pods.
Arguments (a dict):
  values   the execx values (this chart's .Values, or a parent chart's .Values.execx)
  appVersion  the image tag when values.image.tag is empty
  sidecar  true: listen on 127.0.0.1 only (the strategy in the same pod talks over localhost), probes run
           `execx health` inside the container (kubelet's gRPC probes dial the pod IP, which execx does not
           listen on then)
  native   with sidecar: a native sidecar (an init container with restartPolicy Always, Kubernetes >= 1.29),
           started and ready (startupProbe) before the strategy's containers, stopped after them
Secrets: the API key from values.auth.existingSecret (secretKeyRef), never a value.
*/}}
{{- define "execx.container" -}}
{{- $v := .values -}}
{{- $host := ternary "127.0.0.1" "0.0.0.0" (default false .sidecar) -}}
name: execx
image: {{ printf "%s:%s" $v.image.repository (default .appVersion $v.image.tag) | quote }}
imagePullPolicy: {{ $v.image.pullPolicy }}
{{- if and .sidecar .native }}
restartPolicy: Always
{{- end }}
{{- with $v.args }}
args:
  {{- toYaml . | nindent 2 }}
{{- end }}
env:
  - name: EXECX_KEY
    valueFrom:
      secretKeyRef:
        name: {{ $v.auth.existingSecret }}
        key: {{ $v.auth.secretKey }}
  - name: EXECX_HOST
    value: {{ $host | quote }}
  - name: EXECX_PORT
    value: {{ $v.ports.rest | quote }}
  - name: EXECX_GRPC_PORT
    value: {{ $v.ports.grpc | quote }}
  - name: EXECX_PROM_PORT
    value: {{ $v.ports.metrics | quote }}
  - name: EXECX_DATA_DIR
    value: /var/lib/execx
  {{- if $v.tls.existingSecret }}
  - name: EXECX_TLS_CERT
    value: /etc/execx/tls/tls.crt
  - name: EXECX_TLS_KEY
    value: /etc/execx/tls/tls.key
  {{- if $v.tls.clientAuth }}
  - name: EXECX_TLS_CLIENT_CA
    value: /etc/execx/tls/ca.crt
  {{- end }}
  {{- else if and $v.insecure (not .sidecar) }}
  - name: EXECX_INSECURE
    value: "1"
  {{- end }}
  {{- if $v.keys.existingSecret }}
  - name: EXECX_KEYS_FILE
    value: {{ printf "/etc/execx/keys/%s" $v.keys.secretKey | quote }}
  {{- end }}
  {{- if $v.credentials.existingSecret }}
  - name: EXECX_CREDENTIALS_FILE
    value: {{ printf "/etc/execx/credentials/%s" $v.credentials.secretKey | quote }}
  {{- if $v.credentials.noInline }}
  - name: EXECX_NO_INLINE_CREDENTIALS
    value: "1"
  {{- end }}
  {{- end }}
  {{- with $v.fleet }}
  {{- if or .redis.url .redis.existingSecret }}
  - name: EXECX_REDIS
    {{- if .redis.existingSecret }}
    valueFrom:
      secretKeyRef:
        name: {{ .redis.existingSecret }}
        key: {{ .redis.secretKey }}
    {{- else }}
    value: {{ .redis.url | quote }}
    {{- end }}
  - name: EXECX_FLEET_NODE
    valueFrom:
      fieldRef:
        fieldPath: metadata.name
  - name: EXECX_FLEET_EXPECTED_SIZE
    value: {{ .expectedSize | quote }}
  {{- end }}
  {{- if or .nats.url .nats.existingSecret }}
  - name: EXECX_NATS
    {{- if .nats.existingSecret }}
    valueFrom:
      secretKeyRef:
        name: {{ .nats.existingSecret }}
        key: {{ .nats.secretKey }}
    {{- else }}
    value: {{ .nats.url | quote }}
    {{- end }}
  {{- end }}
  {{- end }}
  {{- range $name, $value := $v.env }}
  - name: {{ $name }}
    value: {{ $value | quote }}
  {{- end }}
ports:
  - name: rest
    containerPort: {{ $v.ports.rest }}
  - name: grpc
    containerPort: {{ $v.ports.grpc }}
  - name: metrics
    containerPort: {{ $v.ports.metrics }}
{{- if .sidecar }}
{{- $check := dict "exec" (dict "command" (list "execx" "health" "--grpc" (printf "127.0.0.1:%v" $v.ports.grpc))) }}
startupProbe:
  {{- toYaml $check | nindent 2 }}
  periodSeconds: 1
  failureThreshold: 60
livenessProbe:
  {{- toYaml $check | nindent 2 }}
  periodSeconds: {{ $v.probes.periodSeconds }}
  failureThreshold: {{ $v.probes.failureThreshold }}
readinessProbe:
  {{- toYaml $check | nindent 2 }}
  periodSeconds: {{ $v.probes.periodSeconds }}
{{- else if $v.tls.existingSecret }}
{{- $health := list "execx" "health" "--grpc" (printf "127.0.0.1:%v" $v.ports.grpc) "--cacert" "/etc/execx/tls/ca.crt" }}
{{- if $v.tls.clientAuth }}
{{- $health = concat $health (list "--cert" "/etc/execx/tls/tls.crt" "--key" "/etc/execx/tls/tls.key") }}
{{- end }}
{{- $check := dict "exec" (dict "command" $health) }}
livenessProbe:
  {{- toYaml $check | nindent 2 }}
  initialDelaySeconds: {{ $v.probes.initialDelaySeconds }}
  periodSeconds: {{ $v.probes.periodSeconds }}
  failureThreshold: {{ $v.probes.failureThreshold }}
readinessProbe:
  {{- toYaml $check | nindent 2 }}
  initialDelaySeconds: {{ $v.probes.initialDelaySeconds }}
  periodSeconds: {{ $v.probes.periodSeconds }}
{{- else }}
livenessProbe:
  grpc:
    port: {{ $v.ports.grpc }}
  initialDelaySeconds: {{ $v.probes.initialDelaySeconds }}
  periodSeconds: {{ $v.probes.periodSeconds }}
  failureThreshold: {{ $v.probes.failureThreshold }}
readinessProbe:
  grpc:
    port: {{ $v.ports.grpc }}
  initialDelaySeconds: {{ $v.probes.initialDelaySeconds }}
  periodSeconds: {{ $v.probes.periodSeconds }}
{{- end }}
resources:
  {{- toYaml $v.resources | nindent 2 }}
securityContext:
  {{- toYaml $v.securityContext | nindent 2 }}
volumeMounts:
  - name: execx-journal
    mountPath: /var/lib/execx
  - name: execx-tmp
    mountPath: /tmp
  {{- if $v.tls.existingSecret }}
  - name: execx-tls
    mountPath: /etc/execx/tls
    readOnly: true
  {{- end }}
  {{- if $v.keys.existingSecret }}
  - name: execx-keys
    mountPath: /etc/execx/keys
    readOnly: true
  {{- end }}
  {{- if $v.credentials.existingSecret }}
  - name: execx-credentials
    mountPath: /etc/execx/credentials
    readOnly: true
  {{- end }}
{{- end -}}

{{/*
execx.sidecarContainer: execx as the sidecar of a strategy pod; arguments: values (execx values), appVersion,
native (default true). Put it under initContainers when native, else under containers. Pair it with
execx.volumes.
*/}}
{{- define "execx.sidecarContainer" -}}
{{- include "execx.container" (dict "values" .values "appVersion" .appVersion "sidecar" true "native" (ternary .native true (hasKey . "native"))) -}}
{{- end -}}

{{/* execx.volumes: the journal and /tmp volumes execx.container mounts; arguments: values, claimName */}}
{{- define "execx.volumes" -}}
- name: execx-journal
{{- if eq .values.journal.type "persistentVolumeClaim" }}
  persistentVolumeClaim:
    claimName: {{ default .claimName .values.journal.existingClaim }}
{{- else }}
  emptyDir: {}
{{- end }}
- name: execx-tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if .values.tls.existingSecret }}
- name: execx-tls
  secret:
    secretName: {{ .values.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- if .values.keys.existingSecret }}
- name: execx-keys
  secret:
    secretName: {{ .values.keys.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- if .values.credentials.existingSecret }}
- name: execx-credentials
  secret:
    secretName: {{ .values.credentials.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- end -}}
