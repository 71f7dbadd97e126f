// "Workload resources": what each container of a workload uses against what its pod spec
// requests and limits, and the kernel's view of the pain (throttling, OOM kills, PSI).
import { METRICS } from '../../../exporter/metrics/catalog.ts';
import { buildDashboard, type ClassicDashboard } from './layout.ts';
import { stat, table, timeseries } from './panels.ts';
import { containerVariable, CONTAINERS, PODS, sel, workloadVariables } from './variables.ts';

const M = METRICS;
const R = '$__rate_interval';
const BY = 'pod, container';
const LEGEND = '{{pod}} / {{container}}';

/** `sum by (pod, container) (rate(metric{selected containers}[$__rate_interval]))` */
function rate(metric: (typeof M)[keyof typeof M], ...extra: string[]): string {
  return `sum by (${BY}) (rate(${sel(metric, CONTAINERS, ...extra)}[${R}]))`;
}

/** `max by (pod, container) (metric{selected containers})` for gauges. */
function gauge(metric: (typeof M)[keyof typeof M], ...extra: string[]): string {
  return `max by (${BY}) (${sel(metric, CONTAINERS, ...extra)})`;
}

const REFERENCE = '.* (request|limit)$';

export function workloadResources(): ClassicDashboard {
  return buildDashboard({
    uid: 'sidecar-monitor-workload',
    title: 'sidecar-monitor / Workload resources',
    description:
      "CPU, memory, pressure, IO, file descriptors and threads of a workload's containers, read from their own cgroups and processes by the injected exporter, against the requests and limits of the pod spec.",
    variables: [...workloadVariables(), containerVariable()],
    sections: [
      {
        title: 'CPU',
        panels: [
          timeseries({
            title: 'CPU usage vs request and limit',
            description:
              'CPU cores used by each container (from its cgroup), with the request and limit of its pod spec as dashed lines. Usage above the request competes for spare CPU; usage at the limit is throttled.',
            unit: 'short',
            min: 0,
            referenceLines: REFERENCE,
            queries: [
              { expr: rate(M.containerCpuUsageSeconds), legend: LEGEND },
              { expr: gauge(M.containerRequestsCpuCores), legend: `${LEGEND} request` },
              { expr: gauge(M.containerLimitsCpuCores), legend: `${LEGEND} limit` },
            ],
          }),
          timeseries({
            title: 'CPU throttling',
            description:
              'Share of CFS periods in which the container was throttled by its CPU limit. Above a few percent, latency suffers: raise the limit or remove it.',
            unit: 'percentunit',
            min: 0,
            max: 1,
            queries: [
              {
                expr: `${rate(M.containerCpuCfsThrottledPeriods)} / ${rate(M.containerCpuCfsPeriods)}`,
                legend: LEGEND,
              },
            ],
          }),
          timeseries({
            title: 'Throttled time',
            description:
              'Seconds per second the container spent throttled (summed over its threads, so it can exceed 1).',
            unit: 's',
            min: 0,
            queries: [{ expr: rate(M.containerCpuCfsThrottledSeconds), legend: LEGEND }],
          }),
          timeseries({
            title: 'CPU by mode (processes)',
            description:
              "CPU of the container's processes by mode, from /proc (world-readable, so shown even when the exporter runs as another user than the app).",
            unit: 'short',
            min: 0,
            stacked: true,
            queries: [
              {
                expr: `sum by (${BY}, mode) (rate(${sel(M.processCpuSeconds, CONTAINERS)}[${R}]))`,
                legend: `${LEGEND} {{mode}}`,
              },
            ],
          }),
        ],
      },
      {
        title: 'Memory',
        panels: [
          timeseries({
            title: 'Memory working set vs request and limit',
            description:
              'Working set (usage minus inactive page cache: what the kubelet evicts on and the OOM killer weighs), with the request and limit of the pod spec as dashed lines.',
            unit: 'bytes',
            min: 0,
            referenceLines: REFERENCE,
            queries: [
              { expr: gauge(M.containerMemoryWorkingSetBytes), legend: LEGEND },
              { expr: gauge(M.containerRequestsMemoryBytes), legend: `${LEGEND} request` },
              { expr: gauge(M.containerLimitsMemoryBytes), legend: `${LEGEND} limit` },
            ],
          }),
          timeseries({
            title: 'Working set of the limit',
            description:
              'Working set as a share of the memory limit. Near 100% the kernel reclaims page cache and then OOM-kills.',
            unit: 'percentunit',
            min: 0,
            queries: [
              {
                expr: `${gauge(M.containerMemoryWorkingSetBytes)} / ${gauge(M.containerLimitsMemoryBytes)}`,
                legend: LEGEND,
              },
            ],
          }),
          timeseries({
            title: 'Memory composition',
            description:
              'Anonymous memory (RSS), page cache and swap charged to the container. Cache is reclaimable; RSS is not.',
            unit: 'bytes',
            min: 0,
            queries: [
              { expr: gauge(M.containerMemoryRss), legend: `${LEGEND} rss` },
              { expr: gauge(M.containerMemoryCache), legend: `${LEGEND} cache` },
              { expr: gauge(M.containerMemorySwap), legend: `${LEGEND} swap` },
            ],
          }),
          timeseries({
            title: 'OOM kills',
            description:
              "Processes of the container killed by the kernel's OOM killer. A kill of the main process restarts the container.",
            unit: 'short',
            min: 0,
            bars: true,
            width: 8,
            queries: [
              {
                expr: `sum by (${BY}) (increase(${sel(M.containerOomEvents, CONTAINERS)}[${R}]))`,
                legend: LEGEND,
              },
            ],
          }),
          stat({
            title: 'OOM kills in range',
            description: 'OOM kills in the selected containers over the dashboard time range.',
            unit: 'short',
            width: 4,
            height: 8,
            thresholds: [{ value: 1, color: 'red' }],
            queries: [
              {
                expr: `sum(increase(${sel(M.containerOomEvents, CONTAINERS)}[$__range]))`,
                legend: 'OOM kills',
              },
            ],
          }),
        ],
      },
      {
        title: 'Pressure (PSI)',
        panels: [
          ...(
            [
              ['CPU', M.containerPressureCpuWaiting, M.containerPressureCpuStalled],
              ['Memory', M.containerPressureMemoryWaiting, M.containerPressureMemoryStalled],
              ['IO', M.containerPressureIoWaiting, M.containerPressureIoStalled],
            ] as const
          ).map(([resource, waiting, stalled]) =>
            timeseries({
              title: `${resource} pressure`,
              description: `Share of time at least one task of the container waited for ${resource.toLowerCase()} ("some") and all of them were stalled ("full"). Kernel pressure stall information of the container's own cgroup: cgroup v2 only, absent on v1 nodes.`,
              unit: 'percentunit',
              min: 0,
              width: 8,
              queries: [
                { expr: rate(waiting), legend: `${LEGEND} some` },
                { expr: rate(stalled), legend: `${LEGEND} full` },
              ],
            }),
          ),
        ],
      },
      {
        title: 'Storage IO',
        panels: [
          timeseries({
            title: 'Block device throughput',
            description: "Bytes read from and written to block devices by the container's cgroup.",
            unit: 'Bps',
            min: 0,
            width: 8,
            queries: [
              { expr: rate(M.containerFsReadsBytes), legend: `${LEGEND} read` },
              { expr: rate(M.containerFsWritesBytes), legend: `${LEGEND} write` },
            ],
          }),
          timeseries({
            title: 'Block device operations',
            description: "Read and write operations on block devices by the container's cgroup.",
            unit: 'ops',
            min: 0,
            width: 8,
            queries: [
              { expr: rate(M.containerFsReads), legend: `${LEGEND} read` },
              { expr: rate(M.containerFsWrites), legend: `${LEGEND} write` },
            ],
          }),
          timeseries({
            title: 'Storage IO of processes',
            description:
              "Bytes the container's processes caused to be read from or written to storage (/proc/<pid>/io; needs the exporter to run as the app's user).",
            unit: 'Bps',
            min: 0,
            width: 8,
            queries: [
              { expr: rate(M.processReadBytes), legend: `${LEGEND} read` },
              { expr: rate(M.processWriteBytes), legend: `${LEGEND} write` },
            ],
          }),
        ],
      },
      {
        title: 'Processes, threads and file descriptors',
        panels: [
          timeseries({
            title: 'Open file descriptors',
            description: "File descriptors open in the container's processes, summed.",
            unit: 'short',
            min: 0,
            width: 8,
            queries: [{ expr: gauge(M.processOpenFds), legend: LEGEND }],
          }),
          timeseries({
            title: 'File descriptors of the limit (worst process)',
            description:
              'The highest ratio of open file descriptors to the soft limit (RLIMIT_NOFILE) among the processes. At 100% the process gets EMFILE.',
            unit: 'percentunit',
            min: 0,
            max: 1,
            width: 8,
            queries: [{ expr: gauge(M.processFdUsageRatio), legend: LEGEND }],
          }),
          timeseries({
            title: 'Threads vs limit',
            description:
              "Tasks in the container's cgroup, with the cgroup's pids limit as a dashed line when one is set.",
            unit: 'short',
            min: 0,
            width: 8,
            referenceLines: REFERENCE,
            queries: [
              { expr: gauge(M.containerThreads), legend: LEGEND },
              { expr: gauge(M.containerThreadsMax), legend: `${LEGEND} limit` },
            ],
          }),
          timeseries({
            title: 'Processes',
            description: 'Processes of the container the exporter found in the pod.',
            unit: 'short',
            min: 0,
            width: 8,
            queries: [{ expr: gauge(M.containerProcesses), legend: LEGEND }],
          }),
          timeseries({
            title: 'Context switches',
            description:
              'Voluntary (waiting for IO or a lock) and involuntary (preempted: CPU contention or throttling) context switches per second.',
            unit: 'ops',
            min: 0,
            width: 8,
            queries: [
              {
                expr: `sum by (${BY}, type) (rate(${sel(M.processContextSwitches, CONTAINERS)}[${R}]))`,
                legend: `${LEGEND} {{type}}`,
              },
            ],
          }),
          table({
            title: 'Data the exporter cannot read',
            description:
              "Collectors that cannot read some of a container's data, and why. permission_denied: the exporter runs as another user or group than the app; set runAsUser and runAsGroup in the pod spec. no_cgroup: the container has no cgroup of its own.",
            unit: 'short',
            width: 8,
            valueName: 'Degraded',
            queries: [
              {
                expr: `max by (pod, container, collector, reason) (${sel(M.collectorDegraded, PODS)})`,
                legend: '',
              },
            ],
          }),
        ],
      },
    ],
  });
}
