// "Sidecar cost": what the injected exporter itself costs, per pod and across the fleet,
// and whether it is healthy. Users pay for it in every pod, so it is shown, not hidden.
import { METRICS } from '../../../exporter/metrics/catalog.ts';
import { buildDashboard, type ClassicDashboard } from './layout.ts';
import { stat, table, timeseries } from './panels.ts';
import { PODS, sel, workloadVariables } from './variables.ts';

const M = METRICS;
const R = '$__rate_interval';
const cpu = (filter: string) => `rate(${sel(M.runtimeProcessCpuSeconds, filter)}[${R}])`;
const rss = (filter: string) => sel(M.runtimeProcessResidentMemoryBytes, filter);

export function exporterCost(): ClassicDashboard {
  return buildDashboard({
    uid: 'sidecar-monitor-cost',
    title: 'sidecar-monitor / Sidecar cost',
    description:
      'CPU and memory of the injected exporters themselves, fleet-wide and per pod, with their scrape work and health. The fleet row ignores the namespace and workload selection.',
    variables: workloadVariables(),
    sections: [
      {
        title: 'Fleet (every namespace)',
        panels: [
          stat({
            title: 'Exporters',
            description: 'Exporters Prometheus scrapes, in every namespace.',
            unit: 'short',
            width: 4,
            queries: [{ expr: `count(${M.buildInfo.name})`, legend: 'exporters' }],
          }),
          stat({
            title: 'CPU, all exporters',
            description: 'CPU cores used by all exporters together.',
            unit: 'short',
            width: 5,
            queries: [{ expr: `sum(${cpu('')})`, legend: 'cores' }],
          }),
          stat({
            title: 'Memory, all exporters',
            description: 'Resident memory of all exporters together.',
            unit: 'bytes',
            width: 5,
            queries: [{ expr: `sum(${rss('')})`, legend: 'resident' }],
          }),
          stat({
            title: 'CPU per exporter (mean)',
            description: 'Mean CPU cores per exporter.',
            unit: 'short',
            width: 5,
            queries: [{ expr: `avg(${cpu('')})`, legend: 'cores' }],
          }),
          stat({
            title: 'Memory per exporter (mean)',
            description: 'Mean resident memory per exporter.',
            unit: 'bytes',
            width: 5,
            queries: [{ expr: `avg(${rss('')})`, legend: 'resident' }],
          }),
          timeseries({
            title: 'CPU by namespace',
            description: 'CPU cores used by exporters, summed per namespace.',
            unit: 'short',
            min: 0,
            stacked: true,
            queries: [{ expr: `sum by (namespace) (${cpu('')})`, legend: '{{namespace}}' }],
          }),
          timeseries({
            title: 'Memory by namespace',
            description: 'Resident memory of exporters, summed per namespace.',
            unit: 'bytes',
            min: 0,
            stacked: true,
            queries: [{ expr: `sum by (namespace) (${rss('')})`, legend: '{{namespace}}' }],
          }),
          table({
            title: 'Most expensive exporters',
            description: 'The ten exporters using the most CPU right now.',
            unit: 'short',
            valueName: 'CPU cores',
            queries: [{ expr: `topk(10, sum by (namespace, pod) (${cpu('')}))`, legend: '' }],
          }),
          table({
            title: 'Versions',
            description:
              'Exporters per version and Node.js version: during an upgrade, the old version drains as workloads roll.',
            unit: 'short',
            valueName: 'Exporters',
            queries: [
              {
                expr: `count by (version, nodejs_version) (${M.buildInfo.name})`,
                legend: '',
              },
            ],
          }),
        ],
      },
      {
        title: 'Selected pods',
        panels: [
          timeseries({
            title: 'Exporter CPU',
            description: 'CPU cores used by the exporter of each pod.',
            unit: 'short',
            min: 0,
            width: 8,
            queries: [{ expr: `sum by (pod) (${cpu(PODS)})`, legend: '{{pod}}' }],
          }),
          timeseries({
            title: 'Exporter CPU relative to the app',
            description:
              "The exporter's CPU as a share of the CPU of the containers it watches in the same pod.",
            unit: 'percentunit',
            min: 0,
            width: 8,
            queries: [
              {
                expr: `sum by (pod) (${cpu(PODS)}) / sum by (pod) (rate(${sel(M.containerCpuUsageSeconds, PODS)}[${R}]))`,
                legend: '{{pod}}',
              },
            ],
          }),
          timeseries({
            title: 'Exporter memory',
            description: 'Resident memory and V8 heap used by the exporter of each pod.',
            unit: 'bytes',
            min: 0,
            width: 8,
            queries: [
              { expr: `max by (pod) (${rss(PODS)})`, legend: '{{pod}} resident' },
              {
                expr: `max by (pod) (${sel(M.runtimeHeapSizeUsedBytes, PODS)})`,
                legend: '{{pod}} heap used',
              },
            ],
          }),
          timeseries({
            title: 'Collector duration',
            description: 'Time each collector took in the last scrape.',
            unit: 's',
            min: 0,
            width: 8,
            queries: [
              {
                expr: `max by (pod, collector) (${sel(M.scrapeCollectorDurationSeconds, PODS)})`,
                legend: '{{pod}} {{collector}}',
              },
            ],
          }),
          timeseries({
            title: 'Collector success',
            description:
              '1 while a collector finishes within the scrape, 0 when it fails or times out (its series are then left out, never the whole scrape).',
            unit: 'none',
            min: 0,
            max: 1,
            width: 8,
            queries: [
              {
                expr: `min by (pod, collector) (${sel(M.scrapeCollectorSuccess, PODS)})`,
                legend: '{{pod}} {{collector}}',
              },
            ],
          }),
          timeseries({
            title: 'Series exposed vs limit',
            description:
              "Samples in each exporter's scrape (Prometheus's scrape_samples_scraped for the exporter's target) against its series cap, and series dropped per second by the cap.",
            unit: 'short',
            min: 0,
            width: 8,
            referenceLines: '.* limit$',
            queries: [
              {
                expr: `max by (pod) (scrape_samples_scraped{${PODS}} and on (job, instance) ${M.buildInfo.name})`,
                legend: '{{pod}}',
              },
              {
                expr: `max by (pod) (${sel(M.seriesLimit, PODS)})`,
                legend: '{{pod}} limit',
              },
              {
                expr: `sum by (pod) (rate(${sel(M.seriesDropped, PODS)}[${R}]))`,
                legend: '{{pod}} dropped/s',
              },
            ],
          }),
          timeseries({
            title: 'Event loop lag (p99)',
            description:
              "99th percentile of the exporter's event loop delay. High values mean it is CPU-starved (check its CPU limit).",
            unit: 's',
            min: 0,
            width: 12,
            queries: [
              {
                expr: `max by (pod) (${sel(M.runtimeEventLoopLagP99Seconds, PODS)})`,
                legend: '{{pod}}',
              },
            ],
          }),
          timeseries({
            title: 'Garbage collection time',
            description: 'Seconds per second the exporter spent in garbage collection, by kind.',
            unit: 's',
            min: 0,
            width: 12,
            queries: [
              {
                expr: `sum by (pod, kind) (rate(${M.runtimeGcDurationSeconds.name}_sum{${PODS}}[${R}]))`,
                legend: '{{pod}} {{kind}}',
              },
            ],
          }),
        ],
      },
    ],
  });
}
