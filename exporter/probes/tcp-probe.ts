import { connect } from 'node:net';
import type { TcpProbe } from '../config.ts';
import { failureReason, type ProbeOutcome } from './outcome.ts';

/** One TCP connect attempt to 127.0.0.1:port; success once the handshake completes. */
export function tcpAttempt(
  probe: TcpProbe,
  now: () => number,
  signal?: AbortSignal,
): Promise<ProbeOutcome> {
  const start = now();
  const elapsed = () => (now() - start) / 1000;
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: probe.port });
    const timer = setTimeout(() => {
      finish({
        success: false,
        statusCode: 0,
        reason: 'timeout',
        phases: { total: elapsed() },
        error: new Error(`no connection within ${probe.timeoutSeconds} s`),
      });
    }, probe.timeoutSeconds * 1000);
    timer.unref();
    const onAbort = () => {
      finish({
        success: false,
        statusCode: 0,
        reason: 'timeout',
        phases: { total: elapsed() },
        error: new Error('aborted'),
      });
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    function finish(outcome: ProbeOutcome): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(outcome);
    }
    socket.once('connect', () => {
      const t = elapsed();
      finish({ success: true, statusCode: 0, phases: { connect: t, total: t } });
    });
    socket.once('error', (error) => {
      finish({
        success: false,
        statusCode: 0,
        reason: failureReason(error),
        phases: { total: elapsed() },
        error,
      });
    });
  });
}
