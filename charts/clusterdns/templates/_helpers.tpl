{{/* The objects' name: coredns as the cluster's DNS, else the release's. */}}
{{- define "clusterdns.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if .Values.isClusterService -}}
coredns
{{- else -}}
{{- printf "%s-clusterdns" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "clusterdns.serviceName" -}}
{{- if .Values.service.name -}}
{{- .Values.service.name -}}
{{- else if .Values.isClusterService -}}
kube-dns
{{- else -}}
{{- include "clusterdns.fullname" . -}}
{{- end -}}
{{- end -}}

{{- define "clusterdns.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "clusterdns.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "clusterdns.configMapName" -}}
{{- default (include "clusterdns.fullname" .) .Values.existingConfigMap -}}
{{- end -}}

{{/* Pods are selected as kube-dns's are, so the Service and dashboards find them. */}}
{{- define "clusterdns.selectorLabels" -}}
{{- if .Values.isClusterService -}}
k8s-app: kube-dns
{{- else -}}
app.kubernetes.io/name: clusterdns
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
{{- end -}}

{{- define "clusterdns.labels" -}}
{{ include "clusterdns.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- if .Values.isClusterService }}
kubernetes.io/name: CoreDNS
{{- end }}
{{- end -}}

{{- define "clusterdns.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* A server block's address: its zones, each with its scheme, and the port. */}}
{{- define "clusterdns.serverAddress" -}}
{{- $zones := list -}}
{{- range .zones -}}
{{- $zones = append $zones (printf "%s%s" (default "" .scheme) (default "." .zone)) -}}
{{- end -}}
{{- printf "%s:%v" (join " " $zones) .port -}}
{{- end -}}

{{/* The Corefile from .Values.servers, laid out as CoreDNS's docs write it. */}}
{{- define "clusterdns.corefile" -}}
{{- range $index, $server := .Values.servers }}
{{- if $index }}
{{ end }}
{{- include "clusterdns.serverAddress" $server }} {
{{- range $server.plugins }}
    {{ .name }}{{ with .parameters }} {{ . }}{{ end }}{{ with .configBlock }} {
{{ . | indent 6 }}
    }{{ end }}
{{- end }}
}
{{- end }}
{{- end -}}

{{/* The ports the server blocks listen on, for the container and Service. */}}
{{- define "clusterdns.dnsPorts" -}}
{{- $ports := dict -}}
{{- range .Values.servers -}}
{{- $_ := set $ports (toString .port) true -}}
{{- end -}}
{{- keys $ports | sortAlpha | join "," -}}
{{- end -}}
