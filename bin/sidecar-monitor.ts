#!/usr/bin/env node
// One CLI for the whole product. Each command's module is imported only when chosen, so
// the exporter never loads the Kubernetes client (every pod pays for its memory).

type Main = (argv: string[]) => Promise<number>;

const commands: Record<string, { summary: string; load: () => Promise<Main> }> = {
  exporter: {
    summary: 'run the metrics exporter (the injected sidecar, or standalone with --pid/--match)',
    load: async () => (await import('../exporter/cli.ts')).main,
  },
  operator: {
    summary: 'run the controller that injects exporters into matching workloads',
    load: async () => (await import('../operator/cli/operator.ts')).main,
  },
  inject: {
    summary: 'offline: print workload YAML with the exporter injected (for GitOps pipelines)',
    load: async () => (await import('../operator/inject/cli.ts')).main,
  },
  cleanup: {
    summary: 'remove every injection from the cluster (before uninstalling)',
    load: async () => (await import('../operator/uninstall/cleanup-cli.ts')).main,
  },
  'release-finalizers': {
    summary: "helm's pre-delete hook: stop the operator, drop its finalizers (injections stay)",
    load: async () => (await import('../operator/uninstall/release-cli.ts')).main,
  },
  demo: {
    summary: 'local demo: a sample app and the exporter watching it, no cluster needed',
    load: async () => (await import('../examples/demo/main.ts')).main,
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  const lines = Object.entries(commands).map(
    ([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`,
  );
  return `usage: sidecar-monitor <command> [flags]\n\ncommands:\n${lines.join('\n')}\n\nRun 'sidecar-monitor <command> --help' for a command's flags.`;
}

const [command, ...rest] = process.argv.slice(2);
if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
  console.log(usage());
  process.exitCode = command === undefined ? 2 : 0;
} else if (!(command in commands)) {
  console.error(`sidecar-monitor: unknown command "${command}"\n\n${usage()}`);
  process.exitCode = 2;
} else {
  const main = await commands[command]!.load();
  process.exitCode = await main(rest);
}
