// The injection core's public surface: pure functions only (no I/O, no clock). The operator
// and the `inject` command import from here.

export { applyConfiguration, type ApplyConfiguration } from './apply-configuration.ts';
export { desiredPodTemplate } from './desired.ts';
export { imageAllowed } from './images.ts';
export type * from './k8s-types.ts';
export { currentInjection, type CurrentInjection } from './record.ts';
export { removeInjection } from './remove.ts';
export { monitorSelects, selectorMatches, SUPPORTED_KINDS } from './select.ts';
export * from './types.ts';
