// promtool checks the live operator's /metrics in test/operator/ (unit tests do no I/O).
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../operator/manager/metrics.ts';
import { buildServer } from '../../../operator/manager/server.ts';

describe('operator HTTP server', () => {
  it('serves the operator metrics from its private registry', async () => {
    const m = createMetrics('1.2.3', {
      queueDepth: () => ({ workloads: 3, monitors: 0 }),
      workloadStates: () => ({ Injected: 5, Conflict: 1 }),
    });
    m.reconciles.inc({ controller: 'workloads', result: 'success' });
    m.reconcileDuration.observe({ controller: 'workloads' }, 0.02);
    m.apiRequests.inc({ method: 'PATCH', code: '200' });
    const app = buildServer({ registry: m.registry, ready: () => ({ ok: true, message: 'ok' }) });
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('sidecar_monitor_operator_queue_depth{controller="workloads"} 3');
    expect(res.body).toContain('sidecar_monitor_operator_workloads{state="Conflict"} 1');
    expect(res.body).toContain('sidecar_monitor_operator_build_info{version="1.2.3"} 1');
    expect(res.body).toContain('process_resident_memory_bytes');
    expect(res.body).not.toContain('nodejs_active_handles_total');
    await app.close();
  });

  it('answers /healthz always and /readyz from its check', async () => {
    let ready = { ok: false, message: 'waiting for caches' };
    const app = buildServer({ registry: createMetrics('x').registry, ready: () => ready });
    expect((await app.inject('/healthz')).statusCode).toBe(200);
    const notReady = await app.inject('/readyz');
    expect(notReady.statusCode).toBe(503);
    expect(notReady.body).toBe('waiting for caches\n');
    ready = { ok: true, message: 'ok' };
    expect((await app.inject('/readyz')).statusCode).toBe(200);
    await app.close();
  });
});
