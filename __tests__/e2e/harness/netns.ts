import { execFileSync } from 'node:child_process';
import { run } from './run';

// Every lab namespace is named after the process that made it, so a crashed run's leftovers can be
// told apart from a live run's (pid gone and no process inside).
const PREFIX = 'nico-e2e-';
let counter = 0;

export function listNamespaces(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.split(' ')[0])
    .filter(Boolean);
}

export function namespacePids(ns: string): number[] {
  try {
    return execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return []; // already deleted
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Deletes namespaces left by lab processes that died without cleaning up (and hold no process). */
export function deleteStaleNamespaces(): void {
  for (const ns of listNamespaces()) {
    const match = new RegExp(`^${PREFIX}(\\d+)-\\d+$`).exec(ns);
    if (!match || Number(match[1]) === process.pid || alive(Number(match[1]))) continue;
    if (namespacePids(ns).length === 0) execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  }
}

/** Creates a fresh namespace with lo up: all of 127.0.0.0/8 answers there, and nothing else exists. */
export async function createNamespace(): Promise<string> {
  const taken = new Set(listNamespaces());
  let ns: string;
  do ns = `${PREFIX}${process.pid}-${counter++}`;
  while (taken.has(ns));
  await run('ip', ['netns', 'add', ns], { check: true });
  await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up'], { check: true });
  return ns;
}

/** Kills whatever still runs in the namespace (all of it was started by the lab), then deletes it. */
export function destroyNamespaceSync(ns: string): void {
  for (const pid of namespacePids(ns)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  } catch {
    // already deleted
  }
}
