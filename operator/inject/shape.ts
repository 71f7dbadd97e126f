// The shape the core relies on in a pod template. Objects from the API server always have
// it; a manifest given to `sidecar-monitor inject` may not (`env: foo`, a container without
// a name). Such a template is reported, never half-processed and never a crash.

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optionalObject(v: unknown): boolean {
  return v === undefined || isObject(v);
}

function stringMap(v: unknown): boolean {
  return v === undefined || (isObject(v) && Object.values(v).every((x) => typeof x === 'string'));
}

function namedList(v: unknown): boolean {
  return (
    v === undefined ||
    (Array.isArray(v) && v.every((item) => isObject(item) && typeof item.name === 'string'))
  );
}

function containerError(c: unknown, where: string): string | undefined {
  if (!isObject(c) || typeof c.name !== 'string' || c.name === '') {
    return `${where}: not a container with a name`;
  }
  if (!namedList(c.env)) return `${where}.env: not a list of named variables`;
  if (c.ports !== undefined && !(Array.isArray(c.ports) && c.ports.every(isObject))) {
    return `${where}.ports: not a list of ports`;
  }
  for (const key of [
    'securityContext',
    'resources',
    'readinessProbe',
    'livenessProbe',
    'startupProbe',
  ]) {
    if (!optionalObject(c[key])) return `${where}.${key}: not an object`;
  }
  const sc = c.securityContext;
  if (isObject(sc) && !optionalObject(sc.capabilities))
    return `${where}.securityContext.capabilities: not an object`;
  for (const key of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
    const probe = c[key];
    if (isObject(probe) && (!optionalObject(probe.httpGet) || !optionalObject(probe.tcpSocket))) {
      return `${where}.${key}: httpGet or tcpSocket is not an object`;
    }
  }
  return undefined;
}

/** Why the template cannot be worked on, or undefined when its shape is fine. */
export function templateShapeError(template: unknown): string | undefined {
  if (!isObject(template)) return 'spec.template: not an object';
  const metadata = template.metadata;
  if (!optionalObject(metadata)) return 'spec.template.metadata: not an object';
  if (isObject(metadata) && (!stringMap(metadata.labels) || !stringMap(metadata.annotations))) {
    return 'spec.template.metadata: labels and annotations must map strings to strings';
  }
  const spec = template.spec;
  if (!isObject(spec)) return 'spec.template.spec: not an object';
  if (!Array.isArray(spec.containers) || spec.containers.length === 0) {
    return 'spec.template.spec.containers: not a non-empty list';
  }
  if (spec.initContainers !== undefined && !Array.isArray(spec.initContainers)) {
    return 'spec.template.spec.initContainers: not a list';
  }
  for (const [list, items] of [
    ['containers', spec.containers],
    ['initContainers', spec.initContainers ?? []],
  ] as const) {
    for (const [i, c] of (items as unknown[]).entries()) {
      const error = containerError(c, `spec.template.spec.${list}[${i}]`);
      if (error) return error;
    }
  }
  if (!namedList(spec.volumes)) return 'spec.template.spec.volumes: not a list of named volumes';
  for (const key of ['securityContext', 'os', 'nodeSelector']) {
    if (!optionalObject(spec[key])) return `spec.template.spec.${key}: not an object`;
  }
  return undefined;
}
