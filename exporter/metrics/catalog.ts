// Every metric family the exporter exposes, in one place. Grafana dashboards, alert rules,
// docs and tests import these names instead of spelling them, so a rename is one edit and
// a typo is a compile error. A test checks the exporter's real output against this list
// (every exposed family is listed here, with the same type, help and labels).
//
// Naming follows cAdvisor where an equivalent exists (people already know
// container_memory_working_set_bytes and write queries from memory), with the
// `sidecar_monitor_` prefix, base units and `_total` on counters. There are no target
// labels (pod, namespace): Prometheus service discovery adds those.

export const PREFIX = 'sidecar_monitor_';
/** prom-client's runtime metrics of the exporter process itself carry this prefix. */
export const RUNTIME_PREFIX = `${PREFIX}exporter_`;

export type MetricType = 'counter' | 'gauge' | 'histogram';

/** What a family describes: the watched containers, their processes, probes, or the exporter. */
export type MetricGroup = 'container' | 'process' | 'probe' | 'exporter' | 'runtime';

export interface MetricSpec {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly labels: readonly string[];
  readonly group: MetricGroup;
}

/** Label values a few families use; fixed sets so cardinality is known in advance. */
export const CPU_MODES = ['user', 'system'] as const;
export const CONTEXT_SWITCH_TYPES = ['voluntary', 'involuntary'] as const;
export const PROBE_PHASES = ['connect', 'first_byte', 'total'] as const;
export const PROBE_FAILURE_REASONS = [
  'timeout',
  'refused',
  'reset',
  'bad_status',
  'body_too_large',
  'redirect_refused',
  'redirect_limit',
  'tls',
  'protocol',
  // gRPC health checks: the server answered, and the answer was not SERVING.
  'not_serving',
  'service_unknown',
  'unimplemented',
  'other',
] as const;
export const COLLECTORS = ['discovery', 'cgroup', 'process'] as const;
/**
 * Why a collector could not read some of a container's data. `no_cgroup`: the container has
 * no cgroup of its own the exporter can reach (e.g. a process in the root cgroup); values are
 * then absent, never replaced by host-wide ones.
 */
export const DEGRADED_REASONS = [
  'permission_denied',
  'parse_error',
  'io_error',
  'timeout',
  'no_cgroup',
] as const;

export type CpuMode = (typeof CPU_MODES)[number];
export type ContextSwitchType = (typeof CONTEXT_SWITCH_TYPES)[number];
export type ProbePhase = (typeof PROBE_PHASES)[number];
export type ProbeFailureReason = (typeof PROBE_FAILURE_REASONS)[number];
export type CollectorName = (typeof COLLECTORS)[number];
export type DegradedReason = (typeof DEGRADED_REASONS)[number];

/** Buckets of the probe latency histogram, in seconds: loopback health checks, 1 ms to 10 s. */
export const PROBE_DURATION_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const;

function spec(
  group: MetricGroup,
  name: string,
  type: MetricType,
  labels: readonly string[],
  help: string,
): MetricSpec {
  return {
    name: `${group === 'runtime' ? RUNTIME_PREFIX : PREFIX}${name}`,
    type,
    help,
    labels,
    group,
  };
}

const C = ['container'] as const;
const P = ['probe'] as const;

export const METRICS = {
  // --- container: the target container's own cgroup (v2 or v1) -----------------------
  containerCpuUsageSeconds: spec(
    'container',
    'container_cpu_usage_seconds_total',
    'counter',
    C,
    'Cumulative CPU time consumed by the container, in seconds.',
  ),
  containerCpuUserSeconds: spec(
    'container',
    'container_cpu_user_seconds_total',
    'counter',
    C,
    'Cumulative user CPU time consumed by the container, in seconds.',
  ),
  containerCpuSystemSeconds: spec(
    'container',
    'container_cpu_system_seconds_total',
    'counter',
    C,
    'Cumulative system CPU time consumed by the container, in seconds.',
  ),
  containerCpuCfsPeriods: spec(
    'container',
    'container_cpu_cfs_periods_total',
    'counter',
    C,
    'Number of elapsed CFS enforcement periods of the container.',
  ),
  containerCpuCfsThrottledPeriods: spec(
    'container',
    'container_cpu_cfs_throttled_periods_total',
    'counter',
    C,
    'Number of CFS enforcement periods in which the container was throttled.',
  ),
  containerCpuCfsThrottledSeconds: spec(
    'container',
    'container_cpu_cfs_throttled_seconds_total',
    'counter',
    C,
    'Total time the container was throttled by its CPU quota, in seconds.',
  ),
  containerSpecCpuQuotaSeconds: spec(
    'container',
    'container_spec_cpu_quota_seconds',
    'gauge',
    C,
    'CPU time the container may use per CFS period, in seconds; absent when unlimited.',
  ),
  containerSpecCpuPeriodSeconds: spec(
    'container',
    'container_spec_cpu_period_seconds',
    'gauge',
    C,
    "Length of the container's CFS period, in seconds; absent when its CPU is unlimited.",
  ),
  containerMemoryUsageBytes: spec(
    'container',
    'container_memory_usage_bytes',
    'gauge',
    C,
    'Current memory usage of the container including page cache, in bytes.',
  ),
  containerMemoryWorkingSetBytes: spec(
    'container',
    'container_memory_working_set_bytes',
    'gauge',
    C,
    'Working set of the container (usage minus inactive file cache), in bytes; what the kubelet evicts on.',
  ),
  containerMemoryRss: spec(
    'container',
    'container_memory_rss',
    'gauge',
    C,
    'Anonymous memory of the container (rss on cgroup v1, anon on v2), in bytes.',
  ),
  containerMemoryCache: spec(
    'container',
    'container_memory_cache',
    'gauge',
    C,
    'Page cache charged to the container, in bytes.',
  ),
  containerMemorySwap: spec(
    'container',
    'container_memory_swap',
    'gauge',
    C,
    'Swap used by the container, in bytes.',
  ),
  containerSpecMemoryLimitBytes: spec(
    'container',
    'container_spec_memory_limit_bytes',
    'gauge',
    C,
    "Memory limit of the container's cgroup, in bytes; absent when unlimited.",
  ),
  containerOomEvents: spec(
    'container',
    'container_oom_events_total',
    'counter',
    C,
    'Number of processes of the container killed by the OOM killer.',
  ),
  containerPressureCpuWaiting: spec(
    'container',
    'container_pressure_cpu_waiting_seconds_total',
    'counter',
    C,
    'Time at least one task of the container waited for CPU (PSI "some"), in seconds; cgroup v2 only.',
  ),
  containerPressureCpuStalled: spec(
    'container',
    'container_pressure_cpu_stalled_seconds_total',
    'counter',
    C,
    'Time all non-idle tasks of the container were stalled on CPU (PSI "full"), in seconds; cgroup v2 only.',
  ),
  containerPressureMemoryWaiting: spec(
    'container',
    'container_pressure_memory_waiting_seconds_total',
    'counter',
    C,
    'Time at least one task of the container waited for memory (PSI "some"), in seconds; cgroup v2 only.',
  ),
  containerPressureMemoryStalled: spec(
    'container',
    'container_pressure_memory_stalled_seconds_total',
    'counter',
    C,
    'Time all non-idle tasks of the container were stalled on memory (PSI "full"), in seconds; cgroup v2 only.',
  ),
  containerPressureIoWaiting: spec(
    'container',
    'container_pressure_io_waiting_seconds_total',
    'counter',
    C,
    'Time at least one task of the container waited for IO (PSI "some"), in seconds; cgroup v2 only.',
  ),
  containerPressureIoStalled: spec(
    'container',
    'container_pressure_io_stalled_seconds_total',
    'counter',
    C,
    'Time all non-idle tasks of the container were stalled on IO (PSI "full"), in seconds; cgroup v2 only.',
  ),
  containerFsReadsBytes: spec(
    'container',
    'container_fs_reads_bytes_total',
    'counter',
    C,
    'Bytes read from block devices by the container, summed over devices.',
  ),
  containerFsWritesBytes: spec(
    'container',
    'container_fs_writes_bytes_total',
    'counter',
    C,
    'Bytes written to block devices by the container, summed over devices.',
  ),
  containerFsReads: spec(
    'container',
    'container_fs_reads_total',
    'counter',
    C,
    'Read operations on block devices by the container, summed over devices.',
  ),
  containerFsWrites: spec(
    'container',
    'container_fs_writes_total',
    'counter',
    C,
    'Write operations on block devices by the container, summed over devices.',
  ),
  containerProcesses: spec(
    'container',
    'container_processes',
    'gauge',
    C,
    'Number of processes of the container the exporter found.',
  ),
  containerThreads: spec(
    'container',
    'container_threads',
    'gauge',
    C,
    "Number of tasks (threads) in the container's cgroup.",
  ),
  containerThreadsMax: spec(
    'container',
    'container_threads_max',
    'gauge',
    C,
    "Maximum number of tasks (threads) the container's cgroup allows; absent when unlimited.",
  ),
  containerRequestsCpuCores: spec(
    'container',
    'container_requests_cpu_cores',
    'gauge',
    C,
    'CPU request of the container from its pod spec, in cores.',
  ),
  containerRequestsMemoryBytes: spec(
    'container',
    'container_requests_memory_bytes',
    'gauge',
    C,
    'Memory request of the container from its pod spec, in bytes.',
  ),
  containerLimitsCpuCores: spec(
    'container',
    'container_limits_cpu_cores',
    'gauge',
    C,
    'CPU limit of the container from its pod spec, in cores.',
  ),
  containerLimitsMemoryBytes: spec(
    'container',
    'container_limits_memory_bytes',
    'gauge',
    C,
    'Memory limit of the container from its pod spec, in bytes.',
  ),

  // --- process: /proc/<pid>/* of the container's processes, summed per container ------
  processCpuSeconds: spec(
    'process',
    'process_cpu_seconds_total',
    'counter',
    ['container', 'mode'],
    "CPU time of the container's processes by mode (user, system), in seconds, including processes that have exited.",
  ),
  processResidentMemoryBytes: spec(
    'process',
    'process_resident_memory_bytes',
    'gauge',
    C,
    "Resident memory of the container's processes, summed, in bytes.",
  ),
  processVirtualMemoryBytes: spec(
    'process',
    'process_virtual_memory_bytes',
    'gauge',
    C,
    "Virtual memory of the container's processes, summed, in bytes.",
  ),
  processSwapBytes: spec(
    'process',
    'process_swap_bytes',
    'gauge',
    C,
    "Swapped-out memory of the container's processes, summed, in bytes.",
  ),
  processThreads: spec(
    'process',
    'process_threads',
    'gauge',
    C,
    "Threads of the container's processes, summed.",
  ),
  processOpenFds: spec(
    'process',
    'process_open_fds',
    'gauge',
    C,
    "Open file descriptors of the container's processes, summed.",
  ),
  processFdUsageRatio: spec(
    'process',
    'process_fd_usage_ratio',
    'gauge',
    C,
    "Highest ratio of open file descriptors to the soft limit among the container's processes.",
  ),
  processReadBytes: spec(
    'process',
    'process_read_bytes_total',
    'counter',
    C,
    "Bytes the container's processes caused to be read from storage, including processes that have exited.",
  ),
  processWriteBytes: spec(
    'process',
    'process_write_bytes_total',
    'counter',
    C,
    "Bytes the container's processes caused to be written to storage, including processes that have exited.",
  ),
  processContextSwitches: spec(
    'process',
    'process_context_switches_total',
    'counter',
    ['container', 'type'],
    "Context switches of the container's processes by type (voluntary, involuntary), including processes that have exited.",
  ),
  processOldestStartTimeSeconds: spec(
    'process',
    'process_oldest_start_time_seconds',
    'gauge',
    C,
    "Start time of the container's oldest process, in seconds since the Unix epoch.",
  ),

  // --- probe: the pod's own health endpoints, on loopback -----------------------------
  probeInfo: spec(
    'probe',
    'probe_info',
    'gauge',
    ['probe', 'type', 'container', 'source'],
    'One series per configured health probe: its type, the container it belongs to and where it came from.',
  ),
  probeDurationSeconds: spec(
    'probe',
    'probe_duration_seconds',
    'histogram',
    P,
    'Duration of health probe attempts, successful or not, in seconds.',
  ),
  probePhaseDurationSeconds: spec(
    'probe',
    'probe_phase_duration_seconds',
    'gauge',
    ['probe', 'phase'],
    'Duration of each phase (connect, first_byte, total) of the last probe attempt, in seconds.',
  ),
  probeSuccess: spec(
    'probe',
    'probe_success',
    'gauge',
    P,
    'Whether the last probe attempt succeeded (1) or not (0).',
  ),
  probeStatusCode: spec(
    'probe',
    'probe_status_code',
    'gauge',
    P,
    'HTTP status code of the last probe attempt; 0 when there was no response.',
  ),
  probeFailures: spec(
    'probe',
    'probe_failures_total',
    'counter',
    ['probe', 'reason'],
    'Failed probe attempts by reason.',
  ),

  // --- exporter: about the exporter itself ------------------------------------------
  buildInfo: spec(
    'exporter',
    'build_info',
    'gauge',
    ['version', 'nodejs_version'],
    'Always 1; labels give the exporter version and the Node.js version running it.',
  ),
  workloadInfo: spec(
    'exporter',
    'workload_info',
    'gauge',
    ['workload_kind', 'workload_namespace', 'workload_name', 'monitor'],
    'Always 1; labels name the workload this exporter was injected into and the SidecarMonitor that did it.',
  ),
  scrapeCollectorDurationSeconds: spec(
    'exporter',
    'scrape_collector_duration_seconds',
    'gauge',
    ['collector'],
    'Time each collector took during this scrape, in seconds.',
  ),
  scrapeCollectorSuccess: spec(
    'exporter',
    'scrape_collector_success',
    'gauge',
    ['collector'],
    'Whether each collector finished during this scrape (1) or failed or timed out (0).',
  ),
  collectorDegraded: spec(
    'exporter',
    'collector_degraded',
    'gauge',
    ['collector', 'container', 'reason'],
    "Set to 1 while a collector cannot read some of a container's data; the reason says why (e.g. permission_denied when the exporter runs as another user than the app).",
  ),
  seriesLimit: spec(
    'exporter',
    'series_limit',
    'gauge',
    [],
    'Maximum number of series the exporter exposes per scrape.',
  ),
  seriesDropped: spec(
    'exporter',
    'series_dropped_total',
    'counter',
    [],
    'Series left out of scrapes because the series limit was reached.',
  ),

  // --- runtime: prom-client's default metrics of the exporter's own Node.js process ---
  runtimeProcessCpuUserSeconds: spec(
    'runtime',
    'process_cpu_user_seconds_total',
    'counter',
    [],
    'Total user CPU time spent in seconds.',
  ),
  runtimeProcessCpuSystemSeconds: spec(
    'runtime',
    'process_cpu_system_seconds_total',
    'counter',
    [],
    'Total system CPU time spent in seconds.',
  ),
  runtimeProcessCpuSeconds: spec(
    'runtime',
    'process_cpu_seconds_total',
    'counter',
    [],
    'Total user and system CPU time spent in seconds.',
  ),
  runtimeProcessStartTimeSeconds: spec(
    'runtime',
    'process_start_time_seconds',
    'gauge',
    [],
    'Start time of the process since unix epoch in seconds.',
  ),
  runtimeProcessResidentMemoryBytes: spec(
    'runtime',
    'process_resident_memory_bytes',
    'gauge',
    [],
    'Resident memory size in bytes.',
  ),
  runtimeProcessVirtualMemoryBytes: spec(
    'runtime',
    'process_virtual_memory_bytes',
    'gauge',
    [],
    'Virtual memory size in bytes.',
  ),
  runtimeProcessHeapBytes: spec(
    'runtime',
    'process_heap_bytes',
    'gauge',
    [],
    'Process heap size in bytes.',
  ),
  runtimeProcessOpenFds: spec(
    'runtime',
    'process_open_fds',
    'gauge',
    [],
    'Number of open file descriptors.',
  ),
  runtimeProcessMaxFds: spec(
    'runtime',
    'process_max_fds',
    'gauge',
    [],
    'Maximum number of open file descriptors.',
  ),
  runtimeEventLoopLagSeconds: spec(
    'runtime',
    'nodejs_eventloop_lag_seconds',
    'gauge',
    [],
    'Lag of event loop in seconds.',
  ),
  runtimeEventLoopLagMinSeconds: spec(
    'runtime',
    'nodejs_eventloop_lag_min_seconds',
    'gauge',
    [],
    'The minimum recorded event loop delay.',
  ),
  runtimeEventLoopLagMaxSeconds: spec(
    'runtime',
    'nodejs_eventloop_lag_max_seconds',
    'gauge',
    [],
    'The maximum recorded event loop delay.',
  ),
  runtimeEventLoopLagMeanSeconds: spec(
    'runtime',
    'nodejs_eventloop_lag_mean_seconds',
    'gauge',
    [],
    'The mean of the recorded event loop delays.',
  ),
  runtimeEventLoopLagStddevSeconds: spec(
    'runtime',
    'nodejs_eventloop_lag_stddev_seconds',
    'gauge',
    [],
    'The standard deviation of the recorded event loop delays.',
  ),
  runtimeEventLoopLagP50Seconds: spec(
    'runtime',
    'nodejs_eventloop_lag_p50_seconds',
    'gauge',
    [],
    'The 50th percentile of the recorded event loop delays.',
  ),
  runtimeEventLoopLagP90Seconds: spec(
    'runtime',
    'nodejs_eventloop_lag_p90_seconds',
    'gauge',
    [],
    'The 90th percentile of the recorded event loop delays.',
  ),
  runtimeEventLoopLagP99Seconds: spec(
    'runtime',
    'nodejs_eventloop_lag_p99_seconds',
    'gauge',
    [],
    'The 99th percentile of the recorded event loop delays.',
  ),
  runtimeActiveResources: spec(
    'runtime',
    'nodejs_active_resources',
    'gauge',
    ['type'],
    'Number of active resources that are currently keeping the event loop alive, grouped by async resource type.',
  ),
  runtimeActiveHandles: spec(
    'runtime',
    'nodejs_active_handles',
    'gauge',
    ['type'],
    'Number of active libuv handles grouped by handle type. Every handle type is C++ class name.',
  ),
  runtimeActiveRequests: spec(
    'runtime',
    'nodejs_active_requests',
    'gauge',
    ['type'],
    'Number of active libuv requests grouped by request type. Every request type is C++ class name.',
  ),
  runtimeHeapSizeTotalBytes: spec(
    'runtime',
    'nodejs_heap_size_total_bytes',
    'gauge',
    [],
    'Process heap size from Node.js in bytes.',
  ),
  runtimeHeapSizeUsedBytes: spec(
    'runtime',
    'nodejs_heap_size_used_bytes',
    'gauge',
    [],
    'Process heap size used from Node.js in bytes.',
  ),
  runtimeExternalMemoryBytes: spec(
    'runtime',
    'nodejs_external_memory_bytes',
    'gauge',
    [],
    'Node.js external memory size in bytes.',
  ),
  runtimeHeapSpaceSizeTotalBytes: spec(
    'runtime',
    'nodejs_heap_space_size_total_bytes',
    'gauge',
    ['space'],
    'Process heap space size total from Node.js in bytes.',
  ),
  runtimeHeapSpaceSizeUsedBytes: spec(
    'runtime',
    'nodejs_heap_space_size_used_bytes',
    'gauge',
    ['space'],
    'Process heap space size used from Node.js in bytes.',
  ),
  runtimeHeapSpaceSizeAvailableBytes: spec(
    'runtime',
    'nodejs_heap_space_size_available_bytes',
    'gauge',
    ['space'],
    'Process heap space size available from Node.js in bytes.',
  ),
  runtimeVersionInfo: spec(
    'runtime',
    'nodejs_version_info',
    'gauge',
    ['version', 'major', 'minor', 'patch'],
    'Node.js version info.',
  ),
  runtimeGcDurationSeconds: spec(
    'runtime',
    'nodejs_gc_duration_seconds',
    'histogram',
    ['kind'],
    'Garbage collection duration by kind, one of major, minor, incremental or weakcb.',
  ),
} as const satisfies Record<string, MetricSpec>;

export type MetricKey = keyof typeof METRICS;

/** All families, in the order the exporter writes them. */
export const METRIC_LIST: readonly MetricSpec[] = Object.values(METRICS);

const BY_NAME: ReadonlyMap<string, MetricSpec> = new Map(METRIC_LIST.map((m) => [m.name, m]));

/** Looks a family up by its full name (for tests, docs and dashboard generators). */
export function metricByName(name: string): MetricSpec | undefined {
  return BY_NAME.get(name);
}
