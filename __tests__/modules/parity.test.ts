import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ClusterDescription, validateClusterDescription } from '../../constructs';
import { VALID } from '../fixtures/invalid-descriptions';
import { Expression, MODULE_SOURCE, writeJsonModuleRoot } from '../helpers/module-root';
import { tempDir, terraform } from '../helpers/terraform';

jest.setTimeout(15 * 60 * 1000);

/** The module under test; NICO_PARITY_MODULE points at another copy (e.g. an older commit's) to see these tests fail there. */
const SOURCE = process.env.NICO_PARITY_MODULE ?? MODULE_SOURCE;

interface Case {
  readonly title: string;
  readonly description: ClusterDescription;
  /** What the user meant to be refused (or accepted), besides the TypeScript side's verdict. */
  readonly refused: boolean;
}

const workers = (...patches: object[]): ClusterDescription => ({
  ...VALID,
  workers: patches.map((p, i) => ({ name: `w-${i + 1}`, ip: `192.168.1.${201 + i}`, ...p })),
});

/** Every error diagnostic of a plan, by module instance. */
function refusals(dir: string): Map<string, string> {
  const r = terraform(dir, ['plan', '-json', '-input=false'], { allowFailure: true });
  const refused = new Map<string, string>();
  for (const line of r.stdout.trim().split('\n')) {
    const e = JSON.parse(line);
    if (e.type !== 'diagnostic' || e.diagnostic.severity !== 'error') continue;
    // A variable's diagnostic names the module call; a precondition's, the file of the instance.
    const id = (e.diagnostic.address ?? e.diagnostic.snippet?.context ?? '').match(/^module\.(p\d+)/)?.[1] ?? e.diagnostic.range?.filename.match(/modules\/(p\d+)\//)?.[1];
    if (id === undefined) throw new Error(`a diagnostic of no module instance: ${JSON.stringify(e.diagnostic).slice(0, 2000)}`);
    refused.set(id, `${refused.get(id) ?? ''} ${e.diagnostic.detail}`);
  }
  return refused;
}

/**
 * Plans every case as its own module instance in one root. A failed validation stops the plan before
 * the preconditions of every instance run, so the plan is repeated without the refused instances.
 */
function moduleVerdicts(work: string, cases: readonly Case[], args: (c: Case, i: number) => Record<string, unknown>): Map<number, string> {
  const refused = new Map<number, string>();
  let remaining = cases.map((c, i) => ({ c, i }));
  for (let round = 0; round < 4 && remaining.length > 0; round++) {
    writeJsonModuleRoot(work, Object.fromEntries(remaining.map(({ c, i }) => [`p${i}`, { ...c.description, outputDir: path.join(work, 'out', `p${i}`), ...args(c, i) }])), {}, SOURCE);
    if (round === 0) terraform(work, ['init', '-input=false']);
    const found = refusals(work);
    if (found.size === 0) break;
    for (const [id, detail] of found) refused.set(Number(id.slice(1)), detail);
    remaining = remaining.filter(({ i }) => !refused.has(i));
  }
  return refused;
}

describe('the HCL module refuses exactly what the TypeScript app refuses', () => {
  const work = tempDir('module-parity');
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  test('given ssh ports and endpoints spelt in several ways, when planned, then the module and the app refuse the same ones, naming the field', () => {
    const cases: Case[] = [
      { title: 'ssh_port "2.2e1" (a string)', description: workers({ sshPort: '2.2e1' }), refused: true },
      { title: 'ssh_port "0x16"', description: workers({ sshPort: '0x16' }), refused: true },
      { title: 'ssh_port "22.0"', description: workers({ sshPort: '22.0' }), refused: true },
      { title: 'ssh_port 22.5', description: workers({ sshPort: 22.5 }), refused: true },
      { title: 'ssh_port 2.2e1 (a number, 22)', description: workers({ sshPort: 2.2e1 }), refused: false },
      { title: '127.0.0.1:22 and 127.0.0.1:"2.2e1"', description: workers({ sshHost: '127.0.0.1', sshPort: 22 }, { sshHost: '127.0.0.1', sshPort: '2.2e1' }), refused: true },
      { title: 'Host and host on one port', description: workers({ sshHost: 'Host' }, { sshHost: 'host' }), refused: true },
      { title: '127.000.000.001 and 127.0.0.1', description: workers({ sshHost: '127.000.000.001' }, { sshHost: '127.0.0.1' }), refused: true },
      { title: 'ssh_host 127.1 (inet_aton short form)', description: workers({ sshHost: '127.1' }), refused: true },
      { title: 'ssh_host 0x7f.0.0.1', description: workers({ sshHost: '0x7f.0.0.1' }), refused: true },
      { title: 'ssh_host 2130706433', description: workers({ sshHost: '2130706433' }), refused: true },
      { title: 'NODE.example and node.example', description: workers({ sshHost: 'NODE.example' }, { sshHost: 'node.example' }), refused: true },
      { title: 'two hosts, one port', description: workers({ sshHost: 'node-a.example' }, { sshHost: 'node-b.example' }), refused: false },
      { title: 'one host, two ports', description: workers({ sshHost: '127.0.0.1', sshPort: 2201 }, { sshHost: '127.0.0.1', sshPort: 2202 }), refused: false },
      { title: 'a host name starting with digits', description: workers({ sshHost: '1e100.net' }), refused: false },
    ];
    const refusedByTs = cases.map((c) => validateClusterDescription(c.description).problems.length > 0);
    expect(refusedByTs).toEqual(cases.map((c) => c.refused));

    const refusedByModule = moduleVerdicts(work, cases, () => ({}));
    expect(cases.map((c, i) => [c.title, refusedByModule.has(i)])).toEqual(cases.map((c) => [c.title, c.refused]));
    for (const [, detail] of refusedByModule) expect(detail).toMatch(/ssh_host|ssh_port/);
  });

  test('given machine keys of several kinds, when planned, then the module and the app refuse the same ones, without printing the key', () => {
    const keys = tempDir('module-parity-keys');
    const keygen = (file: string, args: string[]) => execFileSync('ssh-keygen', ['-q', '-N', '', ...args, '-f', path.join(keys, file)]);
    const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'ignore'] });
    keygen('ed25519', ['-t', 'ed25519']);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'passphrase', '-f', path.join(keys, 'ed25519-encrypted')]);
    keygen('rsa', ['-t', 'rsa', '-b', '2048']);
    keygen('ecdsa', ['-t', 'ecdsa']);
    openssl(['genpkey', '-algorithm', 'ed25519', '-out', path.join(keys, 'ed25519-pkcs8.pem')]);
    openssl(['pkey', '-in', path.join(keys, 'ed25519-pkcs8.pem'), '-out', path.join(keys, 'ed25519-pkcs8-encrypted.pem'), '-aes256', '-passout', 'pass:passphrase']);
    openssl(['genrsa', '-traditional', '-out', path.join(keys, 'rsa.pem'), '2048']);
    fs.writeFileSync(path.join(keys, 'ed25519-crlf'), fs.readFileSync(path.join(keys, 'ed25519'), 'utf8').replace(/\n/g, '\r\n'));
    fs.writeFileSync(path.join(keys, 'not-a-key'), 'password123\n');
    const files = ['ed25519', 'ed25519-crlf', 'ed25519-pkcs8.pem', 'ed25519-encrypted', 'ed25519-pkcs8-encrypted.pem', 'rsa', 'ecdsa', 'rsa.pem', 'ed25519.pub', 'not-a-key'];
    const cases: Case[] = files.map((f) => ({ title: f, description: { ...VALID, sshPrivateKeyFile: path.join(keys, f) }, refused: !['ed25519', 'ed25519-crlf', 'ed25519-pkcs8.pem'].includes(f) }));
    const refusedByTs = cases.map((c) => validateClusterDescription(c.description).problems.some((p) => p.field === 'sshPrivateKeyFile'));
    expect(refusedByTs).toEqual(cases.map((c) => c.refused));

    const keyFile = (c: Case) => c.description.sshPrivateKeyFile!;
    const refusedByModule = moduleVerdicts(work, cases.map((c) => ({ ...c, description: { ...c.description, sshPrivateKeyFile: undefined } })), (_c, i) => ({
      sshPrivateKey: new Expression(`file(${JSON.stringify(keyFile(cases[i]))})`),
    }));
    expect(cases.map((c, i) => [c.title, refusedByModule.has(i)])).toEqual(cases.map((c) => [c.title, c.refused]));
    for (const [i, detail] of refusedByModule) {
      expect(detail).toContain('ssh_private_key must be an ED25519 private key');
      for (const line of fs.readFileSync(keyFile(cases[i]), 'utf8').split(/\r?\n/).filter((l) => l.length > 20 && !l.startsWith('-----'))) expect(detail).not.toContain(line);
    }
    fs.rmSync(keys, { recursive: true, force: true });
  });
});
