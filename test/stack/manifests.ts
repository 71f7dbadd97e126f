// The monitoring stack as a user of kube-prometheus-stack has it, reduced to what matters
// for us: prometheus-operator (its RBAC, one replica) and one `Prometheus` that selects
// every PodMonitor, ServiceMonitor and PrometheusRule in every namespace, with the images
// built locally (test/stack/images.ts) and never pulled. Pure: objects in, nothing applied.
import type { KubeObject } from '../cluster/rest.ts';
import { STACK_IMAGES } from './images.ts';
import { PROMETHEUS_VERSION } from './binaries.ts';

export const STACK_NAMESPACE = 'monitoring';
export const PROMETHEUS_NAME = 'k8s';
/** The pod prometheus-operator's StatefulSet creates for PROMETHEUS_NAME. */
export const PROMETHEUS_POD = `prometheus-${PROMETHEUS_NAME}-0`;
export const OPERATOR_NAME = 'prometheus-operator';

const restricted = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
};
const podSecurity = {
  runAsNonRoot: true,
  runAsUser: 65534,
  runAsGroup: 65534,
  fsGroup: 65534,
  seccompProfile: { type: 'RuntimeDefault' },
};

export interface StackOptions {
  /** Prometheus's global scrape interval (PodMonitors without their own interval use it). */
  readonly scrapeInterval: string;
  readonly evaluationInterval: string;
  /** Also select every ScrapeConfig (plain static targets, e.g. a test's relay). */
  readonly scrapeConfigs?: boolean;
}

export function operatorObjects(namespace = STACK_NAMESPACE): KubeObject[] {
  const labels = { 'app.kubernetes.io/name': OPERATOR_NAME };
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: OPERATOR_NAME, namespace } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: OPERATOR_NAME },
      rules: [
        { apiGroups: ['monitoring.coreos.com'], resources: ['*'], verbs: ['*'] },
        { apiGroups: ['apps'], resources: ['statefulsets'], verbs: ['*'] },
        { apiGroups: [''], resources: ['configmaps', 'secrets'], verbs: ['*'] },
        { apiGroups: [''], resources: ['pods'], verbs: ['list', 'delete'] },
        {
          apiGroups: [''],
          resources: ['services', 'services/finalizers', 'endpoints'],
          verbs: ['get', 'create', 'update', 'delete'],
        },
        { apiGroups: [''], resources: ['nodes'], verbs: ['list', 'watch'] },
        { apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [''], resources: ['events'], verbs: ['patch', 'create'] },
        { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['patch', 'create'] },
        {
          apiGroups: ['networking.k8s.io'],
          resources: ['ingresses'],
          verbs: ['get', 'list', 'watch'],
        },
        { apiGroups: ['storage.k8s.io'], resources: ['storageclasses'], verbs: ['get'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: OPERATOR_NAME },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: OPERATOR_NAME },
      subjects: [{ kind: 'ServiceAccount', name: OPERATOR_NAME, namespace }],
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: OPERATOR_NAME, namespace, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: OPERATOR_NAME,
            securityContext: podSecurity,
            terminationGracePeriodSeconds: 5,
            containers: [
              {
                name: OPERATOR_NAME,
                image: STACK_IMAGES.operator,
                imagePullPolicy: 'Never',
                args: [
                  `--prometheus-default-base-image=${STACK_IMAGES.prometheusBase}`,
                  `--prometheus-config-reloader=${STACK_IMAGES.configReloader}`,
                  '--log-level=info',
                ],
                env: [{ name: 'GOGC', value: '30' }],
                ports: [{ name: 'http', containerPort: 8080 }],
                resources: {
                  requests: { cpu: '50m', memory: '64Mi' },
                  limits: { memory: '256Mi' },
                },
                securityContext: restricted,
              },
            ],
          },
        },
      },
    },
  ];
}

export function prometheusObjects(
  options: StackOptions,
  namespace = STACK_NAMESPACE,
): KubeObject[] {
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'prometheus', namespace } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'prometheus' },
      rules: [
        {
          apiGroups: [''],
          resources: ['nodes', 'nodes/metrics', 'services', 'endpoints', 'pods'],
          verbs: ['get', 'list', 'watch'],
        },
        { apiGroups: [''], resources: ['configmaps'], verbs: ['get'] },
        {
          apiGroups: ['discovery.k8s.io'],
          resources: ['endpointslices'],
          verbs: ['get', 'list', 'watch'],
        },
        { nonResourceURLs: ['/metrics'], verbs: ['get'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'prometheus' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'prometheus' },
      subjects: [{ kind: 'ServiceAccount', name: 'prometheus', namespace }],
    },
    {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'Prometheus',
      metadata: { name: PROMETHEUS_NAME, namespace },
      spec: {
        version: `v${PROMETHEUS_VERSION}`,
        imagePullPolicy: 'Never',
        replicas: 1,
        serviceAccountName: 'prometheus',
        scrapeInterval: options.scrapeInterval,
        evaluationInterval: options.evaluationInterval,
        // Everything in every namespace, as kube-prometheus-stack does with
        // *SelectorNilUsesHelmValues=false.
        podMonitorSelector: {},
        podMonitorNamespaceSelector: {},
        serviceMonitorSelector: {},
        serviceMonitorNamespaceSelector: {},
        ruleSelector: {},
        ruleNamespaceSelector: {},
        ...(options.scrapeConfigs === true
          ? { scrapeConfigSelector: {}, scrapeConfigNamespaceSelector: {} }
          : {}),
        securityContext: podSecurity,
        resources: { requests: { cpu: '100m', memory: '256Mi' } },
        retention: '2h',
      },
    },
  ];
}
