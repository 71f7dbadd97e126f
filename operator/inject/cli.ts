// `sidecar-monitor inject`: offline injection for GitOps pipelines, like istioctl kube-inject.
// A thin shell around processStream: flags, files and exit codes.
//   0  every selected workload injected (or, with --remove, cleaned)
//   1  some selected objects were skipped (each reported on stderr with its reason)
//   2  invalid input: flags, unreadable files, bad YAML, an invalid monitor

import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import { DEFAULT_EXPORTER_RESOURCES, KIND } from '../api/constants.ts';
import type { FieldError } from '../api/field-error.ts';
import type { SidecarMonitor } from '../api/v1alpha1.ts';
import { createMonitorValidator } from '../api/validate.ts';
import { readVersion, releaseImage } from '../cli/version.ts';
import { processStream, type OfflineOptions, type Report } from './offline.ts';
import type { ClusterFacts } from './types.ts';

export interface CliIo {
  readFile(path: string): Promise<string>;
  readStdin(): Promise<string>;
  stdout(text: string): void;
  stderr(text: string): void;
  env: Record<string, string | undefined>;
  /** The release's version (package.json): the default exporter image's tag. */
  version(): Promise<string>;
}

const USAGE = `usage: sidecar-monitor inject --monitor FILE [-f FILE]... [flags]
       sidecar-monitor inject --remove [--monitor FILE] [-f FILE]...

Prints Kubernetes YAML with the sidecar-monitor exporter injected into the Deployments,
StatefulSets and DaemonSets the monitor selects. Everything else passes through unchanged,
comments and document order kept. Run it with the settings of the cluster's operator
(image, Kubernetes version, PodMonitor CRD) and the operator sees the same injection hash
and leaves the workloads alone.

flags:
  -m, --monitor FILE               the SidecarMonitor (validated against the CRD schema)
  -f, --filename FILE              YAML to read, '-' for stdin (repeatable; default: stdin)
  -n, --namespace NS               the namespace of objects that name none (as kubectl apply -n);
                                   it selects and goes into the injection hash
      --remove                     remove injections instead (only the monitor's, if given)
      --kube-version VERSION       the cluster's Kubernetes version; 1.29 or newer injects a
                                   native sidecar (default: a regular container, works anywhere)
      --pod-monitor                the cluster has the prometheus-operator PodMonitor CRD
                                   (then no prometheus.io scrape annotations by default)
      --exporter-image IMAGE       the image when the monitor names none (default:
                                   $SIDECAR_MONITOR_IMAGE, else this release's own image,
                                   as the chart installs the operator)
      --allowed-exporter-images L  comma-separated images a monitor may name, 'repo/*' for a
                                   prefix (default: any; offline, you review the output)
  -h, --help

exit codes: 0 ok; 1 selected objects were skipped (reasons on stderr); 2 invalid input`;

class UsageError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UsageError';
  }
}

export function processIo(): CliIo {
  return {
    readFile: (path) => readFile(path, 'utf8'),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    version: readVersion,
  };
}

function kubeMinor(version: string): number | undefined {
  const m = /^v?1\.(\d+)(?:\.\d+)?(?:[-+].*)?$/.exec(version.trim());
  return m ? Number(m[1]) : undefined;
}

/** The line of the deepest node along a field path such as spec.health.endpoints[0].port. */
function lineOf(doc: Document, lineCounter: LineCounter, field: string): number {
  const path = (field.match(/[^.[\]]+/g) ?? []).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  let best = (doc.contents as { range?: [number, number, number] } | null)?.range?.[0] ?? 0;
  for (let i = 1; i <= path.length; i++) {
    const node = doc.getIn(path.slice(0, i), true) as
      { range?: [number, number, number] } | undefined;
    if (!node?.range) break;
    best = node.range[0];
  }
  return lineCounter.linePos(best).line;
}

async function read(io: CliIo, file: string): Promise<string> {
  try {
    return file === '-' ? await io.readStdin() : await io.readFile(file);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new UsageError(`cannot read ${file === '-' ? 'stdin' : file}: ${reason}`, { cause: err });
  }
}

async function loadMonitor(io: CliIo, file: string): Promise<SidecarMonitor> {
  const text = await read(io, file);
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, {
    version: '1.1',
    lineCounter,
    prettyErrors: false,
    logLevel: 'error',
  });
  const list = Array.isArray(docs) ? docs : [];
  for (const doc of list) {
    const [error] = doc.errors;
    if (error) {
      const pos = lineCounter.linePos(error.pos[0]);
      throw new UsageError(`${file}:${pos.line}:${pos.col}: ${error.message.split('\n')[0] ?? ''}`);
    }
  }
  const monitors = list.filter((d) => {
    const value: unknown = d.toJS();
    return (
      typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === KIND
    );
  });
  const doc = monitors[0];
  if (!doc || monitors.length > 1) {
    throw new UsageError(`${file}: must hold exactly one ${KIND} (found ${monitors.length})`);
  }
  const result = createMonitorValidator().validate(doc.toJS());
  if (!result.valid) {
    const lines = result.errors.map(
      (e: FieldError) =>
        `${file}:${lineOf(doc, lineCounter, e.field)}: ${e.field || '<root>'}: ${e.message}`,
    );
    throw new UsageError(`invalid ${KIND}:\n${lines.join('\n')}`);
  }
  return result.monitor;
}

function formatReport(file: string, r: Report): string {
  const what = r.level === 'skipped' ? `skipped (${r.reason})` : `${r.level}: ${r.reason}`;
  return `${file}:${r.line}: ${r.object}: ${what}: ${r.message}\n`;
}

function factsFrom(
  values: {
    'kube-version'?: string;
    'pod-monitor': boolean;
    'exporter-image'?: string;
    'allowed-exporter-images'?: string;
  },
  monitor: SidecarMonitor,
  env: CliIo['env'],
  version: string,
): ClusterFacts {
  let nativeSidecars = false;
  if (values['kube-version'] !== undefined) {
    const minor = kubeMinor(values['kube-version']);
    if (minor === undefined) {
      throw new UsageError(
        `--kube-version: "${values['kube-version']}" is not a version such as 1.31`,
      );
    }
    nativeSidecars = minor >= 29;
  }
  // As the chart sets up the operator: the release's own image unless told otherwise, so
  // the rendered workloads carry the hash the operator of this release computes.
  const image =
    values['exporter-image'] ?? (env.SIDECAR_MONITOR_IMAGE || releaseImage(version)) ?? '';
  if (!monitor.spec.exporter?.image && image === '') {
    throw new UsageError(
      'no exporter image: this build does not know its version; set spec.exporter.image in the monitor, --exporter-image or SIDECAR_MONITOR_IMAGE',
    );
  }
  const allowed = values['allowed-exporter-images']
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return {
    nativeSidecars,
    podMonitors: values['pod-monitor'],
    defaultExporterImage: image,
    allowedExporterImages: allowed ?? ['*'],
    defaultExporterResources: structuredClone(DEFAULT_EXPORTER_RESOURCES),
  };
}

export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        monitor: { type: 'string', short: 'm' },
        filename: { type: 'string', short: 'f', multiple: true },
        namespace: { type: 'string', short: 'n' },
        remove: { type: 'boolean', default: false },
        'kube-version': { type: 'string' },
        'pod-monitor': { type: 'boolean', default: false },
        'exporter-image': { type: 'string' },
        'allowed-exporter-images': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      io.stdout(`${USAGE}\n`);
      return 0;
    }
    const files = values.filename ?? ['-'];
    const stdinReads = files.filter((f) => f === '-').length + (values.monitor === '-' ? 1 : 0);
    if (stdinReads > 1) throw new UsageError('stdin (-) can be read only once');
    const monitor =
      values.monitor === undefined ? undefined : await loadMonitor(io, values.monitor);
    let options: OfflineOptions;
    if (values.remove) {
      options = monitor ? { mode: 'remove', monitor } : { mode: 'remove' };
    } else if (monitor) {
      options = {
        mode: 'inject',
        monitor,
        facts: factsFrom(values, monitor, io.env, await io.version()),
      };
    } else {
      throw new UsageError('--monitor is required (or pass --remove)');
    }
    if (values.namespace !== undefined) {
      if (
        !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(values.namespace) ||
        values.namespace.length > 63
      ) {
        throw new UsageError(`--namespace: "${values.namespace}" is not a namespace name`);
      }
      options.namespace = values.namespace;
    }

    // Nothing is printed unless every file is good: a pipeline must never apply half a stream.
    const texts: string[] = [];
    const reports: string[] = [];
    let failed = false;
    for (const file of files) {
      const label = file === '-' ? '<stdin>' : file;
      const result = processStream(await read(io, file), options);
      if (!result.ok) {
        const lines = result.errors.map((e) => `${label}:${e.line}:${e.column}: ${e.message}`);
        throw new UsageError(`invalid YAML:\n${lines.join('\n')}`);
      }
      texts.push(result.text);
      for (const r of result.reports) {
        reports.push(formatReport(label, r));
        if (r.level === 'skipped') failed = true;
      }
    }
    // One stream of documents, as `kubectl apply -f -` expects.
    io.stdout(texts.map((t, i) => (i === 0 || t.startsWith('---') ? t : `---\n${t}`)).join(''));
    io.stderr(reports.join(''));
    return failed ? 1 : 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`sidecar-monitor inject: ${err.message}\n`);
      return 2;
    }
    if (
      err instanceof TypeError &&
      'code' in err &&
      String(err.code).startsWith('ERR_PARSE_ARGS')
    ) {
      io.stderr(`sidecar-monitor inject: ${err.message}\n\n${USAGE}\n`);
      return 2;
    }
    throw err;
  }
}
