import { describe, expect, it } from 'vitest';
import {
  apiErrorFromResponse,
  classifyError,
  KubeApiError,
} from '../../../operator/kube/errors.ts';

// Status bodies as kube-apiserver returns them (a StatusCause's type is the JSON key "reason").
const applyConflict = {
  kind: 'Status',
  apiVersion: 'v1',
  status: 'Failure',
  message:
    'Apply failed with 2 conflicts: conflict with "kubectl-client-side-apply" using apps/v1: .spec.template.spec.shareProcessNamespace\nconflict with "flux" using apps/v1: .spec.template.metadata.annotations.x',
  reason: 'Conflict',
  details: {
    causes: [
      {
        reason: 'FieldManagerConflict',
        message: 'conflict with "kubectl-client-side-apply" using apps/v1',
        field: '.spec.template.spec.shareProcessNamespace',
      },
      {
        reason: 'FieldManagerConflict',
        message: 'conflict with "flux" using apps/v1',
        field: '.spec.template.metadata.annotations.x',
      },
    ],
  },
  code: 409,
};

const optimistic = {
  kind: 'Status',
  status: 'Failure',
  message:
    'Operation cannot be fulfilled on leases.coordination.k8s.io "x": the object has been modified; please apply your changes to the latest version and try again',
  reason: 'Conflict',
  details: { name: 'x', group: 'coordination.k8s.io', kind: 'leases' },
  code: 409,
};

describe('apiErrorFromResponse', () => {
  it('tells an apply (field manager) conflict from an optimistic-concurrency conflict', () => {
    const a = apiErrorFromResponse('PATCH x', 409, applyConflict);
    expect(a.kind).toBe('apply-conflict');
    expect(a.retryable).toBe(false);
    expect(a.conflictingManagers).toEqual(['kubectl-client-side-apply', 'flux']);
    expect(a.conflicts[0]).toEqual({
      manager: 'kubectl-client-side-apply',
      field: '.spec.template.spec.shareProcessNamespace',
    });
    const o = apiErrorFromResponse('PUT x', 409, optimistic);
    expect(o.kind).toBe('conflict');
    expect(o.retryable).toBe(true);
    expect(o.conflicts).toEqual([]);
    expect(o.message).toContain('PUT x: Operation cannot be fulfilled');
  });

  it.each([
    [404, 'NotFound', 'not-found', false],
    [409, 'AlreadyExists', 'already-exists', false],
    [410, 'Expired', 'gone', false],
    [422, 'Invalid', 'invalid', false],
    [400, 'BadRequest', 'bad-request', false],
    [401, 'Unauthorized', 'unauthorized', false],
    [403, 'Forbidden', 'forbidden', false],
    [429, 'TooManyRequests', 'throttled', true],
    [500, 'InternalError', 'unavailable', true],
    [503, 'ServiceUnavailable', 'unavailable', true],
    [504, 'Timeout', 'unavailable', true],
    [418, undefined, 'unknown', false],
  ] as const)('%i %s → %s', (code, reason, kind, retryable) => {
    const e = apiErrorFromResponse('GET y', code, { kind: 'Status', reason, code, message: 'm' });
    expect(e.kind).toBe(kind);
    expect(e.retryable).toBe(retryable);
    expect(e.statusCode).toBe(code);
  });

  it('reads Retry-After from the header or the Status details', () => {
    expect(apiErrorFromResponse('c', 429, {}, '3').retryAfterMs).toBe(3000);
    expect(
      apiErrorFromResponse('c', 429, { details: { retryAfterSeconds: 2 } }, null).retryAfterMs,
    ).toBe(2000);
    expect(apiErrorFromResponse('c', 500, {}).retryAfterMs).toBeUndefined();
  });

  it('keeps a non-JSON body readable', () => {
    const e = apiErrorFromResponse('GET z', 502, 'Bad Gateway from proxy');
    expect(e.message).toBe('GET z: Bad Gateway from proxy');
    expect(apiErrorFromResponse('GET z', 503, '').message).toBe('GET z: HTTP 503');
  });
});

describe('classifyError', () => {
  it('classifies connection failures as network, with the cause kept', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), {
      code: 'ECONNREFUSED',
    });
    const e = classifyError('GET a', refused);
    expect(e.kind).toBe('network');
    expect(e.retryable).toBe(true);
    expect(e.cause).toBe(refused);
    const wrapped = new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } });
    expect(classifyError('GET a', wrapped).kind).toBe('network');
  });

  it('classifies timeouts and passes KubeApiErrors through', () => {
    const t = Object.assign(new Error('no response'), { name: 'TimeoutError' });
    expect(classifyError('GET a', t).kind).toBe('timeout');
    const k = new KubeApiError('x', { kind: 'gone' });
    expect(classifyError('GET a', k)).toBe(k);
    expect(classifyError('GET a', 'weird').kind).toBe('unknown');
  });
});
