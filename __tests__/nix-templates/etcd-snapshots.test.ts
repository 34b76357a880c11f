import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { ClusterDescription, EXAMPLE_CLUSTER } from '../../constructs';
import { listFiles } from '../../constructs/internal';
import { flakeEval, removeStandins, SUPPORTED_RELEASES } from '../helpers/nixos-eval';
import { synthApp, tempDir, terraform } from '../helpers/terraform';

// etcd snapshot settings, from a cluster file through the real app and Terraform into the flake tree,
// evaluated through the tree's own flake.nix with the real nixpkgs lib and the real k3s module text
// (nixos-eval stand-in): the ExecStart systemd would run on each node, and where the S3 secret goes.

jest.setTimeout(10 * 60 * 1000);
afterAll(() => removeStandins());

const work = tempDir('etcd-snapshots');
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const SECRET_KEY = randomBytes(30).toString('base64'); // 40 characters of A-Z a-z 0-9 + /
const ACCESS_KEY_ID = 'AKIANICOTEST0001';
const SECRETS_DIR = '/var/lib/nico/secrets';

interface K3sUnit {
  execStart: string;
  environmentFile: string | null;
  tmpfiles: Record<string, unknown>;
}

/** What the real modules make of each k3s node's configuration. */
const REPORT = `cs: builtins.mapAttrs (_: s: {
  execStart = s.config.systemd.services.k3s.serviceConfig.ExecStart;
  environmentFile = s.config.systemd.services.k3s.serviceConfig.EnvironmentFile;
  tmpfiles = s.config.systemd.tmpfiles.settings;
}) (builtins.removeAttrs cs [ "minimal" ])`;

/** The argument groups of ExecStart (the k3s module joins them with " \\\n "). */
const args = (u: K3sUnit) => u.execStart.split(' \\\n ');

/** Writes the tree of `d` as the app does (deploy off), returning its directory. */
function tree(d: ClusterDescription, dir: string): string {
  const app = synthApp(d, dir);
  terraform(app.stackDir, ['init', '-input=false']);
  terraform(app.stackDir, ['apply', '-input=false', '-auto-approve']);
  return path.join(app.outDir, 'nix');
}

describe('given a cluster file with etcd snapshots copied to S3 with static credentials and a private CA', () => {
  const secretFile = path.join(work, 'etcd-s3-secret');
  const caFile = path.join(work, 's3-ca.pem');
  let dir: string;
  let units: Record<string, K3sUnit>;

  beforeAll(() => {
    fs.writeFileSync(secretFile, `${SECRET_KEY}\n`, { mode: 0o600 });
    const ca = spawnSync('openssl', ['req', '-x509', '-newkey', 'ed25519', '-nodes', '-subj', '/CN=nico test s3 ca', '-days', '1', '-keyout', path.join(work, 'ca.key'), '-out', caFile], { encoding: 'utf8' });
    if (ca.status !== 0) throw new Error(`openssl failed: ${ca.stderr}`);
    dir = tree(
      {
        ...EXAMPLE_CLUSTER,
        name: 'snapshots',
        etcdSnapshots: {
          scheduleCron: '0 */6 * * *',
          retention: 12,
          dir: '/var/lib/etcd-snapshots',
          s3: { bucket: 'nico-backups', endpoint: 'minio.example.com:9000', region: 'eu-central-1', folder: 'prod/etcd', endpointCaFile: caFile, accessKeyId: ACCESS_KEY_ID, secretAccessKeyFile: secretFile },
        },
      },
      path.join(work, 'app'),
    );
    units = flakeEval<Record<string, K3sUnit>>(dir, 'nixosConfigurations', { release: SUPPORTED_RELEASES[SUPPORTED_RELEASES.length - 1], apply: REPORT });
  });

  test('when evaluated, then every server starts k3s with the snapshot and S3 flags, the cron spec as one quoted word', () => {
    for (const server of ['cp-01', 'cp-02', 'cp-03']) {
      const groups = args(units[server]);
      const at = groups.indexOf('--etcd-snapshot-schedule-cron "0 */6 * * *"');
      expect(groups.slice(at)).toEqual([
        '--etcd-snapshot-schedule-cron "0 */6 * * *"',
        '--etcd-snapshot-retention 12',
        '--etcd-snapshot-dir /var/lib/etcd-snapshots',
        '--etcd-s3',
        '--etcd-s3-bucket nico-backups',
        '--etcd-s3-endpoint minio.example.com:9000',
        '--etcd-s3-region eu-central-1',
        '--etcd-s3-folder prod/etcd',
        `--etcd-s3-endpoint-ca ${SECRETS_DIR}/etcd-s3-endpoint-ca.pem`,
      ]);
    }
  });

  test('when evaluated, then the credentials come from the root-only environment file of the secrets channel, on servers only', () => {
    for (const server of ['cp-01', 'cp-02', 'cp-03']) expect(units[server].environmentFile).toBe(`${SECRETS_DIR}/etcd-s3.env`);
    for (const worker of ['worker-01', 'worker-02']) expect(units[worker].environmentFile).toBeNull();
  });

  test('when evaluated, then the snapshot directory, which k3s does not create itself, is made root-only on servers', () => {
    expect(units['cp-02'].tmpfiles['10-nico-etcd-snapshots']).toEqual({ '/var/lib/etcd-snapshots': { d: { mode: '0700', user: 'root', group: 'root' } } });
    expect(units['worker-01'].tmpfiles['10-nico-etcd-snapshots']).toBeUndefined();
  });

  test('when evaluated, then workers get no snapshot flag: agents have no etcd', () => {
    for (const worker of ['worker-01', 'worker-02']) expect(units[worker].execStart).not.toMatch(/--etcd/);
  });

  test('then neither key appears in any flag, in cluster.nix or in any file of the tree (all of which the Nix store copies)', () => {
    for (const u of Object.values(units)) {
      expect(u.execStart).not.toContain(SECRET_KEY);
      expect(u.execStart).not.toContain(ACCESS_KEY_ID);
    }
    expect(fs.readFileSync(path.join(dir, 'cluster.nix'), 'utf8')).toContain('credentials = true;');
    for (const f of listFiles(dir)) {
      const text = fs.readFileSync(path.join(dir, f), 'utf8');
      expect(`${f}: ${text.includes(SECRET_KEY)}`).toBe(`${f}: false`);
      expect(`${f}: ${text.includes(ACCESS_KEY_ID)}`).toBe(`${f}: false`);
    }
  });
});

describe('given a cluster file without etcd snapshot settings', () => {
  test('when evaluated, then servers start with no snapshot flag (k3s defaults) and no environment file', () => {
    const dir = tree({ ...EXAMPLE_CLUSTER, name: 'defaults' }, path.join(work, 'defaults'));
    expect(fs.readFileSync(path.join(dir, 'cluster.nix'), 'utf8')).not.toContain('etcdSnapshots');
    const units = flakeEval<Record<string, K3sUnit>>(dir, 'nixosConfigurations', { release: SUPPORTED_RELEASES[0], apply: REPORT });
    expect(units['cp-01'].execStart).not.toMatch(/--etcd/);
    expect(units['cp-01'].environmentFile).toBeNull();
  });
});
