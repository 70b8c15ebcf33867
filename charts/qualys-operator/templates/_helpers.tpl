{{/*
Chart name, 63 characters at most.
*/}}
{{- define "qualys-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the prefix of every resource name. The release name alone when it
already contains the chart name (`helm install qualys-operator ...`).
*/}}
{{- define "qualys-operator.fullname" -}}
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

{{- define "qualys-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every resource.
*/}}
{{- define "qualys-operator.labels" -}}
helm.sh/chart: {{ include "qualys-operator.chart" . }}
{{ include "qualys-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: qualys-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Labels that select the operator's pods; never change them (Deployment selectors are immutable).
*/}}
{{- define "qualys-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "qualys-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "qualys-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "qualys-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image reference: repository[:tag][@digest].
*/}}
{{- define "qualys-operator.image" -}}
{{- $repo := required "image.repository is required" .Values.image.repository }}
{{- $tag := .Values.image.tag | default .Chart.AppVersion }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" $repo $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo $tag }}
{{- end }}
{{- end }}

{{- define "qualys-operator.leaseName" -}}
{{- default (include "qualys-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/*
Namespace and name of the default QualysAccount, "" when there is none.
*/}}
{{- define "qualys-operator.defaultAccountNamespace" -}}
{{- default .Release.Namespace .Values.defaultAccount.namespace }}
{{- end }}

{{- define "qualys-operator.defaultAccountName" -}}
{{- if .Values.defaultAccount.create }}
{{- default "default" .Values.defaultAccount.name }}
{{- else }}
{{- .Values.defaultAccount.name }}
{{- end }}
{{- end }}

{{- define "qualys-operator.defaultAccount" -}}
{{- $name := include "qualys-operator.defaultAccountName" . }}
{{- if $name }}
{{- printf "%s/%s" (include "qualys-operator.defaultAccountNamespace" .) $name }}
{{- end }}
{{- end }}

{{/*
Checks across values that the JSON schema cannot express; included by the
Deployment so a bad combination fails `helm install` / `helm template`.
*/}}
{{- define "qualys-operator.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail (printf "replicaCount is %d but leaderElection.enabled is false: replicas without leader election would all reconcile the same objects. Set leaderElection.enabled=true or replicaCount=1." (int .Values.replicaCount)) }}
{{- end }}
{{- if .Values.defaultAccount.create }}
{{- if not .Values.defaultAccount.existingSecret }}
{{- fail "defaultAccount.create is true but defaultAccount.existingSecret is empty: create a Secret with the Qualys API user's credentials (keys defaultAccount.usernameKey and defaultAccount.passwordKey) and name it there." }}
{{- end }}
{{- if not (or .Values.defaultAccount.platform (and .Values.defaultAccount.apiUrl .Values.defaultAccount.gatewayUrl)) }}
{{- fail "defaultAccount.create is true: set defaultAccount.platform (e.g. US1), or both defaultAccount.apiUrl and defaultAccount.gatewayUrl." }}
{{- end }}
{{- end }}
{{- $account := include "qualys-operator.defaultAccountName" . }}
{{- $accountNs := include "qualys-operator.defaultAccountNamespace" . }}
{{- if and $account .Values.watchNamespaces (not (has $accountNs .Values.watchNamespaces)) }}
{{- fail (printf "the default QualysAccount is in namespace %q, which is not in watchNamespaces %v: the operator could not read it. Add %q to watchNamespaces or set defaultAccount.namespace to a watched namespace." $accountNs .Values.watchNamespaces $accountNs) }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.service.enabled: the ServiceMonitor scrapes the metrics Service." }}
{{- end }}
{{- if ne (len .Values.watchNamespaces) (len (uniq .Values.watchNamespaces)) }}
{{- fail (printf "watchNamespaces lists a namespace twice: %v" .Values.watchNamespaces) }}
{{- end }}
{{- end }}

{{/*
The resource names (plurals) of our kinds.
*/}}
{{- define "qualys-operator.kinds" -}}
- qualysaccounts
- awsconnectors
- azureconnectors
- gcpconnectors
- ociconnectors
- azureorgconnectors
- connectorgroups
- userscopes
- snapshotscanregistrations
- cloudviewreports
- globalscanconfigurations
{{- end }}

{{/*
What the operator needs where it watches (docs/rbac.md says why).
*/}}
{{- define "qualys-operator.rules" -}}
{{- $kinds := include "qualys-operator.kinds" . | fromYamlArray -}}
# Watch our objects; patch/update for the create markers and finalizers in metadata.
- apiGroups: ["qualys-operator.io"]
  resources:
    {{- toYaml $kinds | nindent 4 }}
  verbs: ["get", "list", "watch", "patch", "update"]
# Report what Qualys says.
- apiGroups: ["qualys-operator.io"]
  resources:
    {{- range $kinds }}
    - {{ . }}/status
    {{- end }}
  verbs: ["get", "update", "patch"]
# Add and remove the qualys-operator.io/cleanup finalizer (OwnerReferencesPermissionEnforcement).
- apiGroups: ["qualys-operator.io"]
  resources:
    {{- range $kinds }}
    - {{ . }}/finalizers
    {{- end }}
  verbs: ["update"]
# Qualys credentials and cloud secrets referenced by the objects; watched so a rotation is pushed.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
# Events on our objects (patch: repeated events are aggregated).
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}
