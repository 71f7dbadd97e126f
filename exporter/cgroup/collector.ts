// Reads each container's cgroup files. The container's own view (/proc/<pid>/root, its mount
// namespace) comes first: with cgroup namespaces it is the only one that shows the container's
// cgroup. The exporter's own mounts are the fallback for runtimes without cgroup namespaces
// (and for standalone mode on a host), where they show the whole hierarchy.

import type { DegradedReason } from '../metrics/catalog.ts';
import type { ContainerGroup } from '../discovery/discover.ts';
import { ParseError } from '../parse/errors.ts';
import { parseCgroupMounts, type CgroupMount } from '../parse/mountinfo.ts';
import { readText, type FsResult, type SyncReader } from '../procfs/read.ts';
import { BLKIO_FALLBACK, cgroupFiles, locateCgroup, type CgroupLocation } from './locate.ts';
import { cgroupStats, type CgroupStats, type FileProblem } from './stats.ts';

export interface CgroupResult {
  stats?: CgroupStats;
  problems: FileProblem[];
}

const MOUNTINFO_MAX_BYTES = 1024 * 1024;

function noCgroup(detail: string): CgroupResult {
  return { problems: [{ file: 'cgroup', reason: 'no_cgroup', error: new Error(detail) }] };
}

export class CgroupCollector {
  private readonly procRoot: string;
  private ownMounts: CgroupMount[] | undefined;
  /** Location per cgroup key and leader pid (the path goes through /proc/<pid>/root). */
  private readonly locations = new Map<string, CgroupLocation>();

  private readonly reader: SyncReader;

  constructor(procRoot: string, reader: SyncReader) {
    this.procRoot = procRoot;
    this.reader = reader;
  }

  private async mounts(pid: number | 'self'): Promise<FsResult<CgroupMount[]>> {
    const read = await readText(`${this.procRoot}/${pid}/mountinfo`, MOUNTINFO_MAX_BYTES);
    if (!read.ok) return read;
    const mounts = parseCgroupMounts(read.value);
    return mounts instanceof ParseError
      ? { ok: false, reason: 'io_error', error: mounts }
      : { ok: true, value: mounts };
  }

  private async locate(
    group: ContainerGroup,
  ): Promise<{ location: CgroupLocation } | { reason: DegradedReason; error: Error }> {
    const pid = group.leader.pid;
    const cacheKey = `${pid}\0${group.cgroupKey}`;
    const cached = this.locations.get(cacheKey);
    if (cached) return { location: cached };
    if (group.memberships.length === 0)
      return {
        reason: 'no_cgroup',
        error: new Error(`pid ${pid}: no readable /proc/<pid>/cgroup`),
      };
    if (this.ownMounts === undefined) {
      const own = await this.mounts('self');
      this.ownMounts = own.ok ? own.value : [];
    }
    const theirs = await this.mounts(pid);
    const views = [
      ...(theirs.ok ? [{ prefix: `${this.procRoot}/${pid}/root`, mounts: theirs.value }] : []),
      { prefix: '', mounts: this.ownMounts },
    ];
    let firstFailure: { reason: DegradedReason; error: Error } | undefined;
    for (const view of views) {
      const location = locateCgroup(group.memberships, view);
      if (!location) continue;
      // One read proves the view is usable: /proc/<pid>/root needs the app's uid.
      const [first] = cgroupFiles(location);
      if (!first) continue;
      const probe = this.reader.readText(first[1]);
      if (probe.ok) {
        this.locations.set(cacheKey, location);
        return { location };
      }
      firstFailure ??= {
        reason: probe.reason === 'permission_denied' ? 'permission_denied' : 'no_cgroup',
        error: probe.error,
      };
    }
    return (
      firstFailure ?? {
        reason: 'no_cgroup',
        error: new Error(
          `pid ${pid}: no cgroup of its own is reachable (root cgroup or not mounted)`,
        ),
      }
    );
  }

  async collect(group: ContainerGroup): Promise<CgroupResult> {
    const found = await this.locate(group);
    if (!('location' in found)) {
      return found.reason === 'no_cgroup'
        ? noCgroup(found.error.message)
        : { problems: [{ file: 'cgroup', reason: found.reason, error: found.error }] };
    }
    const files = cgroupFiles(found.location);
    const reads = new Map<string, FsResult<string>>();
    for (const [key, path] of files) {
      const read = this.reader.readText(path);
      reads.set(key, read);
      const fallback = BLKIO_FALLBACK[key];
      if (!read.ok && read.reason === 'missing' && fallback !== undefined)
        reads.set(fallback, this.reader.readText(path.slice(0, -key.length) + fallback));
    }
    const stats = cgroupStats(found.location.version, reads);
    // Every file missing: the cgroup is gone (container restarting) or the pid was reused.
    if ([...reads.values()].every((r) => !r.ok && r.reason === 'missing')) {
      this.locations.delete(`${group.leader.pid}\0${group.cgroupKey}`);
      return noCgroup(`cgroup of ${group.name} vanished`);
    }
    return { stats, problems: stats.problems };
  }

  /** Forgets locations of groups that are gone. */
  retain(groups: readonly ContainerGroup[]): void {
    const live = new Set(groups.map((g) => `${g.leader.pid}\0${g.cgroupKey}`));
    for (const key of this.locations.keys()) if (!live.has(key)) this.locations.delete(key);
  }
}
