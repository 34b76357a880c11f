import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';

// sshd and ip live in sbin, which a non-login PATH may lack.
const SEARCH = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Absolute path of an executable, or undefined. */
export function findTool(name: string): string | undefined {
  for (const dir of SEARCH) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * What the lab needs on this machine. Missing tools are an error, never a skip: a skipped e2e test
 * looks green. The project's bootstrap script installs them (openssh-server, iproute2, util-linux).
 */
export const LAB_TOOLS = ['ip', 'unshare', 'nsenter', 'mount', 'sshd', 'ssh', 'ssh-keygen', 'scp', 'flock', 'awk', 'find', 'stat', 'sleep'];

export function requireLabTools(): Record<string, string> {
  if (process.getuid?.() !== 0) {
    throw new Error('the e2e test lab must run as root: it creates network and mount namespaces and runs sshd');
  }
  const found: Record<string, string> = {};
  const missing: string[] = [];
  for (const tool of LAB_TOOLS) {
    const path = findTool(tool);
    if (path) found[tool] = path;
    else missing.push(tool);
  }
  if (missing.length > 0) {
    throw new Error(`the e2e test lab needs these tools, not found on PATH or in sbin: ${missing.join(', ')} ` +
      '(run scripts/bootstrap.sh, or install openssh-server, openssh-client, iproute2, util-linux)');
  }
  return found;
}
