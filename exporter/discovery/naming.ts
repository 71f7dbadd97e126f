// How a group of processes gets its `container` label: the Kubernetes container name the
// operator put in SIDECAR_MONITOR_CONTAINER, or, when that cannot be read, a stable fallback
// derived from the container's first process. Never a PID: labels must survive restarts.

const K8S_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function isContainerName(value: string): boolean {
  return value.length <= 63 && K8S_NAME.test(value);
}

/**
 * `unknown-<program>`: the program of the container's first process, from its command line
 * (world-readable; comm is often a thread name such as Node's "MainThread"), else its comm,
 * reduced to a label-friendly name.
 */
export function fallbackName(cmdline: string, comm: string): string {
  const argv0 = cmdline.split('\0', 1)[0] ?? '';
  // setproctitle-style titles ("nginx: master process ...") keep the program first.
  const program = (argv0.split(/[\s:]/, 1)[0] ?? '').split('/').pop() ?? '';
  const cleaned = (program === '' ? comm : program)
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
