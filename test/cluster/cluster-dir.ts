// The control plane's temporary directory: tmpfs when there is one (etcd writes there),
// the certificates it needs as files, and the sweep of directories whose owner died
// without cleaning up (SIGKILL leaves no chance to).
import {
  accessSync,
  constants,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import type { ControlPlanePki } from './pki.ts';

const DIR_PREFIX = 'sidecar-monitor-cluster-';
const OWNER_FILE = 'owner.pid';

/** Creates the cluster directory under `root` (default: /dev/shm when writable). */
export function createClusterDir(logger: Logger, root = defaultTmpRoot()): string {
  sweepStaleDirs(root, logger);
  const dir = mkdtempSync(path.join(root, DIR_PREFIX));
  writeFileSync(path.join(dir, OWNER_FILE), String(process.pid));
  return dir;
}

export function removeClusterDir(dir: string): void {
  // A component killed a moment ago may still be closing files in it.
  rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
}

export interface PkiFiles {
  caCert: string;
  apiServerCert: string;
  apiServerKey: string;
  saPublicKey: string;
  saPrivateKey: string;
}

export function writePki(dir: string, pki: ControlPlanePki): PkiFiles {
  const pkiDir = path.join(dir, 'pki');
  mkdirSync(pkiDir, { mode: 0o700 });
  const write = (name: string, content: string): string => {
    const file = path.join(pkiDir, name);
    writeFileSync(file, content, { mode: 0o600 });
    return file;
  };
  return {
    caCert: write('ca.crt', pki.ca.certPem),
    apiServerCert: write('apiserver.crt', pki.apiServer.certPem),
    apiServerKey: write('apiserver.key', pki.apiServer.keyPem),
    saPublicKey: write('sa.pub', pki.serviceAccount.publicKeyPem),
    saPrivateKey: write('sa.key', pki.serviceAccount.privateKeyPem),
  };
}

function defaultTmpRoot(): string {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

/** Removes cluster directories whose owning process is gone (it was SIGKILLed). */
function sweepStaleDirs(root: string, logger: Logger): void {
  let entries: string[];
  try {
    entries = readdirSync(root).filter((name) => name.startsWith(DIR_PREFIX));
  } catch {
    return;
  }
  for (const name of entries) {
    const dir = path.join(root, name);
    let owner: number;
    try {
      owner = Number(readFileSync(path.join(dir, OWNER_FILE), 'utf8'));
    } catch {
      continue; // being created right now, or not ours to judge
    }
    if (Number.isInteger(owner) && owner > 0 && !processAlive(owner)) {
      logger.warn({ dir, owner }, 'removing a cluster directory left by a dead test run');
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** Whether a process exists (EPERM: it does, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
