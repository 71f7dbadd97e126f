// containerd for a real node: its configuration (pure) and the commands that talk to it.
// Every path is the node directory's own, so it never touches a containerd the host may
// run (root, state, sockets, runc's state, CNI configuration and IPAM) — the facts in
// ../shared/DESIGN.md ("a real node") say which keys keep it off the host's defaults.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface ContainerdPaths {
  readonly root: string;
  readonly state: string;
  readonly socket: string;
  readonly runcRoot: string;
  readonly runcBinary: string;
  readonly cniBinDir: string;
  readonly cniConfDir: string;
  readonly verifierDir: string;
}

export const K8S_NAMESPACE = 'k8s.io';

export function containerdPaths(nodeDir: string, binDir: string): ContainerdPaths {
  return {
    root: path.join(nodeDir, 'containerd', 'root'),
    state: path.join(nodeDir, 'containerd', 'state'),
    socket: path.join(nodeDir, 'containerd.sock'),
    runcRoot: path.join(nodeDir, 'runc'),
    runcBinary: path.join(binDir, 'runc'),
    cniBinDir: '/usr/lib/cni', // Debian's containernetworking-plugins
    cniConfDir: path.join(nodeDir, 'cni', 'net.d'),
    verifierDir: path.join(nodeDir, 'containerd', 'verifiers'),
  };
}

const q = (value: string): string => JSON.stringify(value); // a TOML basic string

/** containerd 2.x configuration (version 3) for the node. */
export function containerdConfig(paths: ContainerdPaths, sandboxImage: string): string {
  const cri = "plugins.'io.containerd.cri.v1.runtime'";
  return [
    'version = 3',
    `root = ${q(paths.root)}`,
    `state = ${q(paths.state)}`,
    // Nothing from /etc/containerd: this containerd is configured here and only here.
    'imports = []',
    // Plugins whose defaults live under /opt or /etc, and nothing here uses.
    "disabled_plugins = ['io.containerd.nri.v1.nri', 'io.containerd.internal.v1.opt', " +
      "'io.containerd.tracing.processor.v1.otlp', 'io.containerd.internal.v1.tracing']",
    '',
    '[grpc]',
    `  address = ${q(paths.socket)}`,
    '[ttrpc]',
    `  address = ${q(`${paths.socket}.ttrpc`)}`,
    '',
    // The transfer service needs a verifier plugin; an empty directory of our own.
    "[plugins.'io.containerd.image-verifier.v1.bindir']",
    `  bin_dir = ${q(paths.verifierDir)}`,
    "[plugins.'io.containerd.cri.v1.images']",
    "  snapshotter = 'overlayfs'",
    "[plugins.'io.containerd.cri.v1.images'.pinned_images]",
    // A local image (imported, never pulled): nothing on the node reaches a registry.
    `  sandbox = ${q(sandboxImage)}`,
    '',
    `[${cri}]`,
    // Root here lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj, and every
    // sandbox fails ("can't get final child's PID from pipe: EOF") unless it is
    // restricted to what the runtime itself may set.
    '  restrict_oom_score_adj = true',
    '  disable_apparmor = true',
    // Separate cpu and cpuacct hierarchies and no v1 hugetlb on these hosts.
    '  tolerate_missing_hugetlb_controller = true',
    '  disable_hugetlb_controller = true',
    '  netns_mounts_under_state_dir = true',
    '  enable_cdi = false',
    '  enable_criu = false',
    `[${cri}.containerd.runtimes.runc]`,
    "  runtime_type = 'io.containerd.runc.v2'",
    `[${cri}.containerd.runtimes.runc.options]`,
    `  BinaryName = ${q(paths.runcBinary)}`,
    `  Root = ${q(paths.runcRoot)}`,
    '  SystemdCgroup = false',
    `[${cri}.cni]`,
    `  bin_dirs = [${q(paths.cniBinDir)}]`,
    `  conf_dir = ${q(paths.cniConfDir)}`,
    '',
    "[plugins.'io.containerd.grpc.v1.cri']",
    // exec, attach, port-forward and logs go kubelet → this server, on loopback only.
    "  stream_server_address = '127.0.0.1'",
    "  stream_server_port = '0'",
    '',
  ].join('\n');
}

export interface Ctr {
  /** Imports an OCI image-layout tar into the CRI namespace under `name`. */
  importImage(archive: string, name: string): Promise<void>;
  images(): Promise<string[]>;
}

export function ctr(binDir: string, socket: string): Ctr {
  const run = async (args: readonly string[]): Promise<string> => {
    const { stdout } = await execFileAsync(
      path.join(binDir, 'ctr'),
      ['--address', socket, '--namespace', K8S_NAMESPACE, ...args],
      { maxBuffer: 16 * 1024 * 1024 },
    );
    return stdout;
  };
  const list = async (): Promise<string[]> => {
    const out = await run(['images', 'list', '--quiet']);
    return out.split('\n').filter((line) => line !== '');
  };
  return {
    async importImage(archive, name) {
      // The archive names its image (the io.containerd.image.name annotation); the
      // label is the one CRI puts on images it pulled itself.
      await run([
        'images',
        'import',
        '--local',
        '--label',
        'io.cri-containerd.image=managed',
        archive,
      ]);
      const names = await list();
      if (!names.includes(name)) {
        throw new Error(`importing ${archive} gave ${names.join(', ')}, not ${name}`);
      }
    },
    images: list,
  };
}
