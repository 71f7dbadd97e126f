// What the controllers use of a client: the KubeClient itself, or the leader's
// FencedClient (operator/leader/fenced-client.ts) that refuses writes once it no longer
// leads. A type, so the controllers never depend on which one they were given.
import type { KubeClient } from './client.ts';

export type KubeApi = Pick<
  KubeClient,
  | 'server'
  | 'request'
  | 'get'
  | 'list'
  | 'watch'
  | 'apply'
  | 'mergePatch'
  | 'jsonPatch'
  | 'create'
  | 'replace'
  | 'delete'
>;
