// Rollout slots. Every template change the operator makes (inject, update, remove)
// restarts a workload's pods, so it first takes a slot: at most perMonitorMax per
// monitor and globalMax across all monitors roll at once. A slot is released when the
// workload's status shows the rollout done (or paused, OnDelete, failed, deleted).
// Decisions are synchronous, so concurrent workers can never both take the last slot.
import type { RolloutPhase } from './state.ts';

interface Holder {
  monitor: string;
  /** The generation our write produced; the slot is released only once it is observed. */
  generation: number | undefined;
  since: number;
}

export interface LimiterOptions {
  /** 0 or undefined: no global limit. */
  globalMax?: number;
  now: () => number;
  /** Called with the workloads that were refused a slot, when one frees up. */
  onSlotFreed?: (waiting: string[]) => void;
}

export class RolloutLimiter {
  readonly #holders = new Map<string, Holder>();
  readonly #perMonitor = new Map<string, number>();
  readonly #waiting = new Set<string>();
  readonly #globalMax: number;
  readonly #now: () => number;
  readonly #onSlotFreed: ((waiting: string[]) => void) | undefined;

  constructor(opts: LimiterOptions) {
    this.#globalMax = opts.globalMax ?? 0;
    this.#now = opts.now;
    this.#onSlotFreed = opts.onSlotFreed;
  }

  /** Workloads currently holding a slot, in total or for one monitor. */
  holding(monitor?: string): number {
    return monitor === undefined ? this.#holders.size : (this.#perMonitor.get(monitor) ?? 0);
  }

  holds(workload: string): boolean {
    return this.#holders.has(workload);
  }

  /** When the operator's change to this workload started rolling, if it still holds a slot. */
  since(workload: string): number | undefined {
    return this.#holders.get(workload)?.since;
  }

  get waiting(): number {
    return this.#waiting.size;
  }

  /**
   * Takes a slot for workload (a no-op when it already holds one of this monitor).
   * perMonitorMax 0 or undefined means no per-monitor limit. Returns false (and
   * remembers the workload, to wake it later) when no slot is free.
   */
  tryAcquire(workload: string, monitor: string, perMonitorMax?: number): boolean {
    const existing = this.#holders.get(workload);
    if (existing && existing.monitor === monitor) return true;
    if (existing) this.release(workload);
    const monitorFull = !!perMonitorMax && this.holding(monitor) >= perMonitorMax;
    const globalFull = this.#globalMax > 0 && this.#holders.size >= this.#globalMax;
    if (monitorFull || globalFull) {
      this.#waiting.add(workload);
      return false;
    }
    this.#waiting.delete(workload);
    this.#holders.set(workload, { monitor, generation: undefined, since: this.#now() });
    this.#perMonitor.set(monitor, this.holding(monitor) + 1);
    return true;
  }

  /** Records the generation our write produced (from the API server's response). */
  written(workload: string, generation: number | undefined): void {
    const h = this.#holders.get(workload);
    if (h) {
      h.generation = generation;
      h.since = this.#now();
    }
  }

  /**
   * Adopts a rollout already under way (after an operator restart the in-memory slots
   * are gone; injected workloads still rolling take their slots back).
   */
  adopt(workload: string, monitor: string, generation: number | undefined): void {
    if (this.#holders.has(workload)) return;
    this.#holders.set(workload, { monitor, generation, since: this.#now() });
    this.#perMonitor.set(monitor, this.holding(monitor) + 1);
  }

  /**
   * Feeds the workload's current state from the cache. The slot is released when the
   * rollout no longer progresses and the cache has caught up with our write.
   */
  observe(workload: string, phase: RolloutPhase, generation: number | undefined): void {
    const h = this.#holders.get(workload);
    if (!h || phase === 'Progressing') return;
    if (h.generation !== undefined && (generation === undefined || generation < h.generation)) {
      return;
    }
    this.release(workload);
  }

  /** Frees the workload's slot (write failed, workload deleted, rollout over). */
  release(workload: string): void {
    this.#waiting.delete(workload);
    const h = this.#holders.get(workload);
    if (!h) return;
    this.#holders.delete(workload);
    const left = this.holding(h.monitor) - 1;
    if (left > 0) this.#perMonitor.set(h.monitor, left);
    else this.#perMonitor.delete(h.monitor);
    if (this.#waiting.size > 0 && this.#onSlotFreed) {
      const waiting = [...this.#waiting];
      this.#waiting.clear();
      this.#onSlotFreed(waiting);
    }
  }

  /** The workloads holding a slot, of one monitor or of all. */
  holders(monitor?: string): string[] {
    const out: string[] = [];
    for (const [workload, h] of this.#holders) {
      if (monitor === undefined || h.monitor === monitor) out.push(workload);
    }
    return out;
  }

  /**
   * Why tryAcquire(workload, monitor, perMonitorMax) would be refused now: the monitor's
   * own limit or the operator's, and which workloads hold those slots; undefined if free.
   */
  blockedBy(
    monitor: string,
    perMonitorMax?: number,
  ): { limit: 'monitor' | 'operator'; max: number; holders: string[] } | undefined {
    if (!!perMonitorMax && this.holding(monitor) >= perMonitorMax) {
      return { limit: 'monitor', max: perMonitorMax, holders: this.holders(monitor) };
    }
    if (this.#globalMax > 0 && this.#holders.size >= this.#globalMax) {
      return { limit: 'operator', max: this.#globalMax, holders: this.holders() };
    }
    return undefined;
  }

  /** Forgets a workload that no longer wants a slot (no longer selected, deleted). */
  forget(workload: string): void {
    this.#waiting.delete(workload);
  }
}
