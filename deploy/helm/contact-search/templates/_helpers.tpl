{{/* Names and the pieces every pod shares. */}}

{{- define "contact-search.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "contact-search.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "contact-search.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "contact-search.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ include "contact-search.tag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: contact-search
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component (api, indexer, jobs): pass (list $ "api"). */}}
{{- define "contact-search.selector" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ $root.Chart.Name }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "contact-search.tag" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag | toString -}}
{{- if eq $tag "latest" -}}
{{- fail "image.tag: pin a version (the chart never installs `latest`)" -}}
{{- end -}}
{{- $tag -}}
{{- end -}}

{{- define "contact-search.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "contact-search.tag" .) -}}
{{- end -}}

{{- define "contact-search.secretsDir" -}}/var/run/secrets/contact-search{{- end -}}

{{/* Environment of every container: settings from the ConfigMap, MongoDB and Elasticsearch from Secrets. */}}
{{- define "contact-search.env" -}}
- name: MONGO_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "existingMongodbSecret: name the Secret holding Rocket.Chat's MongoDB URL (key mongo-uri)" .Values.existingMongodbSecret | quote }}
      key: mongo-uri
{{- with .Values.elasticsearch }}
{{- if .existingSecret }}
- name: ES_URL
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret | quote }}
      key: es-url
{{- else }}
- name: ES_URL
  value: {{ required "elasticsearch.url or elasticsearch.existingSecret" .url | quote }}
{{- end }}
{{- if eq .auth "apiKey" }}
- name: ES_API_KEY_FILE
  value: {{ include "contact-search.secretsDir" $ }}/elasticsearch/api-key
{{- else if eq .auth "basic" }}
- name: ES_USERNAME_FILE
  value: {{ include "contact-search.secretsDir" $ }}/elasticsearch/username
- name: ES_PASSWORD_FILE
  value: {{ include "contact-search.secretsDir" $ }}/elasticsearch/password
{{- else if ne .auth "none" }}
{{- fail "elasticsearch.auth: none, apiKey or basic" }}
{{- end }}
{{- if or .ca.secret .ca.configMap }}
- name: ES_CA_CERTS
  value: {{ include "contact-search.secretsDir" $ }}/elasticsearch-ca/{{ .ca.key }}
{{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "contact-search.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if and .Values.elasticsearch.existingSecret (ne .Values.elasticsearch.auth "none") }}
- name: elasticsearch-credentials
  mountPath: {{ include "contact-search.secretsDir" . }}/elasticsearch
  readOnly: true
{{- end }}
{{- if or .Values.elasticsearch.ca.secret .Values.elasticsearch.ca.configMap }}
- name: elasticsearch-ca
  mountPath: {{ include "contact-search.secretsDir" . }}/elasticsearch-ca
  readOnly: true
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "contact-search.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- with .Values.elasticsearch }}
{{- if ne .auth "none" }}
- name: elasticsearch-credentials
  secret:
    secretName: {{ required "elasticsearch.existingSecret: the credentials of elasticsearch.auth come from it" .existingSecret | quote }}
    # Readable by the pods' group only (fsGroup 10001).
    defaultMode: 0440
    items:
{{- if eq .auth "apiKey" }}
      - key: api-key
        path: api-key
{{- else }}
      - key: username
        path: username
      - key: password
        path: password
{{- end }}
{{- end }}
{{- if .ca.secret }}
- name: elasticsearch-ca
  secret:
    secretName: {{ .ca.secret | quote }}
    items:
      - key: {{ .ca.key | quote }}
        path: {{ .ca.key | quote }}
{{- else if .ca.configMap }}
- name: elasticsearch-ca
  configMap:
    name: {{ .ca.configMap | quote }}
    items:
      - key: {{ .ca.key | quote }}
        path: {{ .ca.key | quote }}
{{- end }}
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The pod-level fields every workload shares: identity, security, scheduling, volumes. */}}
{{- define "contact-search.podSecurity" -}}
serviceAccountName: {{ include "contact-search.serviceAccountName" . }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{ toYaml . }}
{{- end }}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  fsGroup: 10001
  seccompProfile:
    type: RuntimeDefault
{{- with .Values.nodeSelector }}
nodeSelector:
{{ toYaml . | indent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
{{ toYaml . }}
{{- end }}
{{- with .Values.affinity }}
affinity:
{{ toYaml . | indent 2 }}
{{- end }}
volumes:
{{ include "contact-search.volumes" . }}
{{- end -}}

{{- define "contact-search.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop:
    - ALL
{{- end -}}

{{/* Checksums that roll the pods when their settings change. */}}
{{- define "contact-search.podAnnotations" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}
