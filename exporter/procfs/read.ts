// The only place the exporter touches the filesystem for metrics. Small files only, read with
// one open/read/close (no fd kept across scrapes: a recycled pid must never read the old
// process's file), and every failure classified into a bounded reason instead of thrown.
//
// Two ways to read. The hot files of every scrape (/proc/<pid>/{stat,status,io,limits}, the fd
// count, cgroup interface files) are read synchronously into one reused buffer: the kernel
// serves them from memory without taking locks another process can hold for long, and a
// synchronous read costs a third of fs/promises' open/read/close round trips through the
// thread pool (measured, see the README). Callers read them in slices and yield to the event
// loop in between. Files whose read can wait on another process (cmdline and environ take the
// target's mmap lock, mountinfo the namespace lock) and directory listings go through
// fs/promises, so a stuck process can only hold a thread-pool thread, never the event loop.

import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { open, readdir, readlink, stat } from 'node:fs/promises';

export type ReadFailure = 'missing' | 'permission_denied' | 'io_error';

export type FsResult<T> = { ok: true; value: T } | { ok: false; reason: ReadFailure; error: Error };

/** procfs reports size 0, so read until EOF; most files fit the first chunk. */
const FIRST_CHUNK = 4096;
export const DEFAULT_MAX_BYTES = 256 * 1024;

export function classify(error: unknown): ReadFailure {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  // ESRCH: the process died between readdir and read; ENOENT/ENOTDIR: the file or pid is gone.
  if (code === 'ENOENT' || code === 'ESRCH' || code === 'ENOTDIR') return 'missing';
  if (code === 'EACCES' || code === 'EPERM') return 'permission_denied';
  return 'io_error';
}

function failure<T>(path: string, error: unknown): FsResult<T> {
  return {
    ok: false,
    reason: classify(error),
    error: new Error(`cannot read ${path}`, { cause: error }),
  };
}

export async function readText(
  path: string,
  maxBytes = DEFAULT_MAX_BYTES,
): Promise<FsResult<string>> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    return failure(path, error);
  }
  try {
    let buffer = Buffer.allocUnsafe(Math.min(FIRST_CHUNK, maxBytes + 1));
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        if (buffer.length > maxBytes) {
          return {
            ok: false,
            reason: 'io_error',
            error: new Error(`${path} is larger than ${maxBytes} bytes`),
          };
        }
        const bigger = Buffer.allocUnsafe(Math.min(buffer.length * 4, maxBytes + 1));
        buffer.copy(bigger, 0, 0, length);
        buffer = bigger;
      }
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return { ok: true, value: buffer.toString('utf8', 0, length) };
  } catch (error) {
    return failure(path, error);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

export async function readLink(path: string): Promise<FsResult<string>> {
  try {
    return { ok: true, value: await readlink(path) };
  } catch (error) {
    return failure(path, error);
  }
}

export async function listDir(path: string): Promise<FsResult<string[]>> {
  try {
    return { ok: true, value: await readdir(path) };
  } catch (error) {
    return failure(path, error);
  }
}

/**
 * Open file descriptors of a process. Since Linux 6.2 a stat of /proc/<pid>/fd reports the
 * count as its size (one syscall); older kernels report 0, so count the entries instead.
 */
export async function countFds(fdDir: string): Promise<FsResult<number>> {
  try {
    const info = await stat(fdDir);
    if (info.size > 0) return { ok: true, value: info.size };
    return { ok: true, value: (await readdir(fdDir)).length };
  } catch (error) {
    return failure(fdDir, error);
  }
}

/** Synchronous reads of small in-memory kernel files into one scratch buffer (see above). */
export class SyncReader {
  private buffer = Buffer.allocUnsafe(16 * 1024);

  readText(path: string, maxBytes = DEFAULT_MAX_BYTES): FsResult<string> {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (error) {
      return failure(path, error);
    }
    try {
      let length = 0;
      for (;;) {
        if (length === this.buffer.length) {
          if (length > maxBytes) {
            return {
              ok: false,
              reason: 'io_error',
              error: new Error(`${path} is larger than ${maxBytes} bytes`),
            };
          }
          const bigger = Buffer.allocUnsafe(Math.min(length * 4, maxBytes + 1));
          this.buffer.copy(bigger, 0, 0, length);
          this.buffer = bigger;
        }
        const n = readSync(fd, this.buffer, length, this.buffer.length - length, null);
        if (n === 0) break;
        length += n;
      }
      return { ok: true, value: this.buffer.toString('utf8', 0, length) };
    } catch (error) {
      return failure(path, error);
    } finally {
      closeSync(fd);
    }
  }

  /** As countFds, synchronously; falls back to listing the directory on kernels before 6.2. */
  countFds(fdDir: string): FsResult<number> | 'list' {
    try {
      const size = statSync(fdDir).size;
      return size > 0 ? { ok: true, value: size } : 'list';
    } catch (error) {
      return failure(fdDir, error);
    }
  }
}
