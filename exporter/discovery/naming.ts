// How a group of processes gets its `container` label: the Kubernetes container name the
// operator put in SIDECAR_MONITOR_CONTAINER, or, when that cannot be read, a stable fallback
// derived from the container's first process. Never a PID: labels must survive restarts.

const K8S_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function isContainerName(value: string): boolean {
  return value.length <= 63 && K8S_NAME.test(value);
}

/** `unknown-<comm>`, with comm reduced to a valid label-friendly name. */
export function fallbackName(comm: string): string {
  const cleaned = comm
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  return `unknown-${cleaned === '' ? 'process' : cleaned}`;
}

/** Makes names unique in order: a later duplicate becomes `name-2`, `name-3`, … */
export function uniqueNames(names: readonly string[]): string[] {
  const seen = new Set<string>();
  return names.map((name) => {
    let candidate = name;
    for (let n = 2; seen.has(candidate); n++) candidate = `${name}-${n}`;
    seen.add(candidate);
    return candidate;
  });
}
