// The prometheus-operator PodMonitor of one SidecarMonitor: it selects the pods the
// operator labelled and scrapes the exporter's named port. honorLabels keeps the
// exporter's own `container` label (prometheus-operator would otherwise rename it to
// exported_container, breaking every dashboard query).
import {
  API_VERSION,
  EXPORTER_PORT_NAME,
  KIND,
  METRICS_PATH,
  MONITOR_LABEL,
} from '../api/constants.ts';
import type { SidecarMonitor } from '../api/v1alpha1.ts';

export const PODMONITOR_PREFIX = 'sidecar-monitor-';

export function podMonitorName(monitorName: string): string {
  return `${PODMONITOR_PREFIX}${monitorName}`;
}

/** The server-side-apply body of the monitor's PodMonitor (only the fields we own). */
export function desiredPodMonitor(monitor: SidecarMonitor): Record<string, unknown> {
  const name = monitor.metadata?.name ?? '';
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PodMonitor',
    metadata: {
      name: podMonitorName(name),
      namespace: monitor.metadata?.namespace,
      labels: {
        ...(monitor.spec.prometheus?.podMonitorLabels ?? {}),
        'app.kubernetes.io/managed-by': 'sidecar-monitor',
        [MONITOR_LABEL]: name,
      },
      ownerReferences: [
        {
          apiVersion: API_VERSION,
          kind: KIND,
          name,
          uid: monitor.metadata?.uid,
          controller: true,
        },
      ],
    },
    spec: {
      selector: { matchLabels: { [MONITOR_LABEL]: name } },
      podMetricsEndpoints: [{ port: EXPORTER_PORT_NAME, path: METRICS_PATH, honorLabels: true }],
    },
  };
}
