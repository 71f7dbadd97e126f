// A scrape: one shared snapshot, prom-client collects, the series cap, the text format.

import type { Counter, Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { TargetContainer } from '../config.ts';
import { METRICS, metricByName } from '../metrics/catalog.ts';
import { capSeries, renderText, type Dropped, type Family } from './exposition.ts';
import { containerPriority, snapshotSamples, type Samples } from './samples.ts';
import type { Snapshot } from './snapshot.ts';

export interface ScrapeDeps {
  registry: Registry;
  logger: Logger;
  takeSnapshot: () => Promise<Snapshot>;
  targets: readonly TargetContainer[];
  /** Probe names in config order (the order they keep their series under the cap). */
  probes: readonly string[];
  seriesLimit: number;
  /** Where the limit comes from, for the log that says what to raise. */
  seriesLimitSetting: string;
}

/** What one episode of dropping has left out so far (from its first scrape over the limit). */
interface DropEpisode {
  series: number;
  units: Set<string>;
}

function describeDropped(d: Dropped): string[] {
  return [
    ...d.exporter.map((f) => `family ${f}`),
    ...d.containers.map((c) => `container ${c}`),
    ...d.probes.map((p) => `probe ${p}`),
    ...(d.runtime.length > 0 ? [`${d.runtime.length} Node.js runtime families`] : []),
  ];
}

export class ScrapePipeline {
  private readonly deps: ScrapeDeps;
  private inflight: Promise<Samples> | undefined;
  private rendering: Promise<Buffer> | undefined;
  private priority: string[] = [];
  private droppedTotal = 0;
  private seriesDropped: Counter | undefined;
  private dropping: DropEpisode | undefined;
  /** Problems seen in the last snapshot, to log changes rather than every scrape. */
  private problems = new Map<string, string>();

  constructor(deps: ScrapeDeps) {
    this.deps = deps;
  }

  setDroppedCounter(counter: Counter): void {
    this.seriesDropped = counter;
  }

  /** This scrape's samples: joins the snapshot in flight or starts one. Never rejects. */
  readonly samples = (): Promise<Samples> => {
    this.inflight ??= this.deps
      .takeSnapshot()
      .then((snapshot) => {
        this.priority = containerPriority(snapshot, this.deps.targets);
        this.logChanges(snapshot);
        return snapshotSamples(snapshot, this.deps.targets);
      })
      .catch((err: unknown) => {
        this.deps.logger.error({ err }, 'snapshot failed');
        return new Map() as Samples;
      })
      .finally(() => {
        this.inflight = undefined;
      });
    return this.inflight;
  };

  private logChanges(snapshot: Snapshot): void {
    const now = new Map<string, string>();
    for (const c of snapshot.collectors)
      if (c.error) now.set(`collector ${c.name} failed`, c.error.message);
    for (const d of snapshot.degraded)
      now.set(`collector ${d.collector} degraded for ${d.container}: ${d.reason}`, d.error.message);
    for (const [what, detail] of now)
      if (!this.problems.has(what)) this.deps.logger.warn({ detail }, what);
    for (const what of this.problems.keys())
      if (!now.has(what)) this.deps.logger.info(`resolved: ${what}`);
    this.problems = now;
  }

  /** One warning when series start being dropped and one when they stop, never per scrape. */
  private logDropping(dropped: Dropped): void {
    const { logger, seriesLimit: limit, seriesLimitSetting: setting } = this.deps;
    if (dropped.series > 0) {
      const units = describeDropped(dropped);
      if (this.dropping === undefined) {
        logger.warn(
          { limit, setting, series: dropped.series, dropped: units },
          `series limit of ${limit} reached: dropping ${units.join(', ')}; raise ${setting} to keep them`,
        );
        this.dropping = { series: 0, units: new Set() };
      }
      this.dropping.series += dropped.series;
      for (const u of units) this.dropping.units.add(u);
    } else if (this.dropping !== undefined) {
      const units = [...this.dropping.units];
      logger.warn(
        { limit, setting, series: this.dropping.series, dropped: units },
        `series back under the limit of ${limit}: nothing dropped any more (had dropped ${units.join(', ')})`,
      );
      this.dropping = undefined;
    }
  }

  /**
   * The /metrics body. Scrapes that arrive while one is rendered (concurrent or pipelined)
   * share its snapshot and its one Buffer: a burst of requests costs one pass over procfs and
   * one body in memory, however many responses send it.
   */
  render(): Promise<Buffer> {
    this.rendering ??= this.renderOnce().finally(() => {
      this.rendering = undefined;
    });
    return this.rendering;
  }

  private async renderOnce(): Promise<Buffer> {
    const json = (await this.deps.registry.getMetricsAsJSON()) as unknown as Family[];
    const { families, dropped } = capSeries(
      json,
      this.deps.seriesLimit,
      { containers: this.priority, probes: this.deps.probes },
      (name) => metricByName(name)?.group,
    );
    this.logDropping(dropped);
    if (dropped.series > 0) {
      this.droppedTotal += dropped.series;
      this.seriesDropped?.inc(dropped.series);
      // The counter was collected before the cap ran; show this scrape's drops now.
      const family = families.find((f) => f.name === METRICS.seriesDropped.name);
      if (family?.values[0]) family.values[0].value = this.droppedTotal;
    }
    return Buffer.from(renderText(families));
  }
}
