import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './run';

export interface KeyPair {
  privateKeyFile: string;
  /** The `ssh-ed25519 AAAA... comment` line. */
  publicKey: string;
}

/** A throwaway ED25519 key pair without passphrase, written as <dir>/<name> and <dir>/<name>.pub. */
export async function generateKeyPair(dir: string, name = 'id_ed25519'): Promise<KeyPair> {
  const privateKeyFile = join(dir, name);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `nico-e2e-${name}`, '-f', privateKeyFile], { check: true });
  return { privateKeyFile, publicKey: readFileSync(`${privateKeyFile}.pub`, 'utf8').trim() };
}
