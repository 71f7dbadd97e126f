// What a real node changes on the host, recorded before it starts and put back after it
// stops: sysctls (the kubelet and the bridge plugin set some), netfilter tables (the
// kubelet's KUBE-* chains, our own SMON-* rules), the fixed paths the kubelet and CNI use
// whatever their configuration says, and the default containerd socket path. Mounts,
// cgroups and links are the node's own to remove (it knows their names); they are
// recorded here too, so the comparison after teardown proves nothing was left behind.
//
// The snapshot is JSON: a run killed outright leaves it in its node directory, and the
// next run restores the host from it before starting.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Sysctls the kubelet (protectKernelDefaults: false) and the bridge plugin write. */
export const WATCHED_SYSCTLS = [
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
  'net/ipv4/ip_forward',
  'net/ipv4/conf/all/forwarding',
  'net/ipv6/conf/all/forwarding',
  'net/bridge/bridge-nf-call-iptables',
  'net/bridge/bridge-nf-call-ip6tables',
] as const;

/**
 * Paths the kubelet, containerd and the CNI plugins use at fixed places, whatever their
 * configuration says; only what a node created is removed.
 */
export const FIXED_PATHS = [
  '/var/lib/kubelet',
  '/var/log/containers',
  '/var/log/pods',
  '/var/lib/cni',
  '/run/containerd',
  '/etc/cni',
  '/opt/cni',
  '/opt/containerd',
] as const;

const CGROUP_ROOT = '/sys/fs/cgroup';

export interface HostState {
  readonly sysctls: Readonly<Record<string, string | null>>;
  /** `nft list table` text per table ("ip filter", "ip6 nat", ...). */
  readonly nftTables: Readonly<Record<string, string>>;
  readonly links: readonly string[];
  readonly mounts: readonly string[];
  /** Top-level directories of each cgroup hierarchy. */
  readonly cgroups: Readonly<Record<string, readonly string[]>>;
  readonly paths: Readonly<Record<string, boolean>>;
}

export function snapshotHost(): HostState {
  const sysctls: Record<string, string | null> = {};
  for (const name of WATCHED_SYSCTLS) sysctls[name] = readSysctl(name);
  const paths: Record<string, boolean> = {};
  for (const p of FIXED_PATHS) paths[p] = existsSync(p);
  return {
    sysctls,
    nftTables: nftTables(),
    links: links(),
    mounts: mounts(),
    cgroups: cgroupTops(),
    paths,
  };
}

/** Differences that matter, one line each; empty when the host is as it was. */
export function diffHostState(before: HostState, after: HostState): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(before.sysctls)) {
    const now = after.sysctls[name] ?? null;
    if (now !== value) out.push(`sysctl ${name}: ${String(value)} -> ${String(now)}`);
  }
  const tables = new Set([...Object.keys(before.nftTables), ...Object.keys(after.nftTables)]);
  for (const table of tables) {
    const was = before.nftTables[table];
    const is = after.nftTables[table];
    if (was === undefined) out.push(`netfilter table ${table} added`);
    else if (is === undefined) out.push(`netfilter table ${table} removed`);
    else if (normaliseRules(was) !== normaliseRules(is))
      out.push(`netfilter table ${table} changed`);
  }
  out.push(...added('network link', before.links, after.links));
  out.push(...added('mount', before.mounts, after.mounts));
  for (const [hierarchy, dirs] of Object.entries(after.cgroups)) {
    out.push(...added(`cgroup ${hierarchy}`, before.cgroups[hierarchy] ?? [], dirs));
  }
  for (const [p, existed] of Object.entries(before.paths)) {
    if ((after.paths[p] ?? false) !== existed) {
      out.push(`${p} ${existed ? 'was removed' : 'was left behind'}`);
    }
  }
  return out;
}

export function saveHostState(file: string, state: HostState): void {
  writeFileSync(file, JSON.stringify(state, null, 2));
}

export function loadHostState(file: string): HostState {
  return JSON.parse(readFileSync(file, 'utf8')) as HostState;
}

/**
 * Puts back what `before` recorded and a node may have changed: sysctls, netfilter
 * tables (each changed table replaced by its recorded text, each new one deleted), and
 * fixed paths that did not exist. Returns what it did, for the log.
 */
export function restoreHost(before: HostState): string[] {
  const done: string[] = [];
  for (const [name, value] of Object.entries(before.sysctls)) {
    if (value === null) continue;
    if (readSysctl(name) !== value) {
      writeFileSync(path.join('/proc/sys', name), value);
      done.push(`sysctl ${name}=${value}`);
    }
  }
  const now = nftTables();
  for (const [table, text] of Object.entries(now)) {
    const was = before.nftTables[table];
    if (was !== undefined && normaliseRules(was) === normaliseRules(text)) continue;
    nft(['delete', 'table', ...table.split(' ')]);
    if (was !== undefined) nft(['-f', '-'], was);
    done.push(`netfilter table ${table} ${was === undefined ? 'deleted' : 'restored'}`);
  }
  for (const [p, existed] of Object.entries(before.paths)) {
    if (!existed && existsSync(p)) {
      rmSync(p, { recursive: true, force: true });
      done.push(`removed ${p}`);
    }
  }
  return done;
}

function readSysctl(name: string): string | null {
  try {
    return readFileSync(path.join('/proc/sys', name), 'utf8').trim();
  } catch {
    return null; // a module not loaded (br_netfilter) or a kernel without it
  }
}

function nft(args: readonly string[], input?: string): string {
  return execFileSync('nft', args, {
    encoding: 'utf8',
    input,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

function nftTables(): Record<string, string> {
  const out: Record<string, string> = {};
  const list = nft(['list', 'tables']);
  for (const line of list.split('\n')) {
    const match = /^table (\S+) (\S+)$/.exec(line.trim());
    if (match === null) continue;
    const [, family = '', name = ''] = match;
    out[`${family} ${name}`] = nft(['list', 'table', family, name]);
  }
  return out;
}

/** Counters move on their own; rule text is what a node must not leave changed. */
function normaliseRules(text: string): string {
  return text.replace(/counter packets \d+ bytes \d+/g, 'counter').trim();
}

function links(): string[] {
  return readdirSync('/sys/class/net').sort();
}

function mounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => unescapeMount(line.split(' ')[4] ?? ''))
    .sort();
}

export function unescapeMount(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) =>
    String.fromCharCode(parseInt(octal, 8)),
  );
}

function cgroupTops(): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  let hierarchies: string[];
  try {
    hierarchies = readdirSync(CGROUP_ROOT);
  } catch {
    return out;
  }
  for (const hierarchy of hierarchies) {
    try {
      out[hierarchy] = readdirSync(path.join(CGROUP_ROOT, hierarchy), { withFileTypes: true })
        .filter((entry) => entry.isDirectory())
        .map((entry) => entry.name)
        .sort();
    } catch {
      // not a directory (a cgroup v2 interface file at the top of a unified host)
    }
  }
  return out;
}

function added(what: string, before: readonly string[], after: readonly string[]): string[] {
  const was = new Set(before);
  return after.filter((item) => !was.has(item)).map((item) => `${what} ${item} left behind`);
}
