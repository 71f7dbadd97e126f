// A scrape: one shared snapshot, prom-client collects, the series cap, the text format.

import type { Counter, Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { TargetContainer } from '../config.ts';
import { METRICS, metricByName } from '../metrics/catalog.ts';
import { capSeries, renderText, type Family } from './exposition.ts';
import { containerPriority, snapshotSamples, type Samples } from './samples.ts';
import type { Snapshot } from './snapshot.ts';

export interface ScrapeDeps {
  registry: Registry;
  logger: Logger;
  takeSnapshot: () => Promise<Snapshot>;
  targets: readonly TargetContainer[];
  seriesLimit: number;
}

export class ScrapePipeline {
  private readonly deps: ScrapeDeps;
  private inflight: Promise<Samples> | undefined;
  private rendering: Promise<Buffer> | undefined;
  private priority: string[] = [];
  private droppedTotal = 0;
  private seriesDropped: Counter | undefined;
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
      this.priority,
      (name) => metricByName(name)?.group,
    );
    if (dropped > 0) {
      this.droppedTotal += dropped;
      this.seriesDropped?.inc(dropped);
      // The counter was collected before the cap ran; show this scrape's drops now.
      const family = families.find((f) => f.name === METRICS.seriesDropped.name);
      if (family?.values[0]) family.values[0].value = this.droppedTotal;
    }
    return Buffer.from(renderText(families));
  }
}
