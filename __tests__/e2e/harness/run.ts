import { spawn, SpawnOptions, ChildProcess } from 'node:child_process';

export interface ExecOptions {
  /** Merged over the caller's environment (process.env); a value of `undefined` removes a variable. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to stdin, which is then closed (stdin is empty otherwise, so nothing waits on a tty). */
  input?: string;
  /** Kill the command (SIGKILL) after this long; the result then has `signal` set. */
  timeoutMs?: number;
  /** Throw when the command does not exit 0 (default: return the result). */
  check?: boolean;
}

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function mergedEnv(env?: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const merged: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const key of Object.keys(merged)) if (merged[key] === undefined) delete merged[key];
  return merged;
}

export function spawnWith(cmd: string, args: readonly string[], opts: ExecOptions = {}, stdio?: SpawnOptions['stdio']): ChildProcess {
  return spawn(cmd, [...args], { env: mergedEnv(opts.env), cwd: opts.cwd, stdio: stdio ?? ['pipe', 'pipe', 'pipe'] });
}

/** Runs a command to completion and collects its output; never throws on a non-zero exit unless `check`. */
export function run(cmd: string, args: readonly string[] = [], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawnWith(cmd, args, opts);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    child.stdin!.on('error', () => undefined); // the command may exit without reading its input
    child.stdin!.end(opts.input ?? '');
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${cmd}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = { code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
      if (opts.check && code !== 0) {
        reject(new Error(`${cmd} ${args.join(' ')} exited ${code ?? signal}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`));
      } else {
        resolve(result);
      }
    });
  });
}
