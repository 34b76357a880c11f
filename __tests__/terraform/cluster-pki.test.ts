import * as fs from 'fs';
import * as path from 'path';
import { execFileSync, spawnSync } from 'child_process';
import { parse as parseYaml } from 'yaml';
import { VALID } from '../fixtures/invalid-descriptions';
import { writeGraphRoot } from '../helpers/module-root';
import { stateResources, tempDir, terraform, terraformConsole } from '../helpers/terraform';

jest.setTimeout(10 * 60 * 1000);

/** The files k3s's "Using Custom CA Certificates" documentation requires in server/tls. */
const K3S_CUSTOM_CA_FILES = [
  'client-ca.crt',
  'client-ca.key',
  'etcd/peer-ca.crt',
  'etcd/peer-ca.key',
  'etcd/server-ca.crt',
  'etcd/server-ca.key',
  'request-header-ca.crt',
  'request-header-ca.key',
  'server-ca.crt',
  'server-ca.key',
  'service.key',
];
const CAS = ['server-ca', 'client-ca', 'request-header-ca', 'etcd/peer-ca', 'etcd/server-ca'];
const PEM_CERT = /^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n$/;

const openssl = (args: string[]) => spawnSync('openssl', args, { encoding: 'utf8' });
const ok = (args: string[]) => {
  const r = openssl(args);
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`);
  return r.stdout;
};

/** Writes secrets as a node would hold them: a 0700 directory, 0600 files. */
function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(dir, rel), content, { mode: 0o600 });
  }
}

const adminCert = (stackDir: string) => stateResources(stackDir).find((r) => r.address === 'tls_locally_signed_cert.k3s_admin')!.values;

// The module's files applied as a root module, so that `terraform console` reads its locals (the
// app's cluster is this module, called once: __tests__/terraform/app.test.ts).
describe('the cluster PKI of the cluster graph applied with deploy off', () => {
  const work = tempDir('tf-pki');
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
  const tls = path.join(work, 'server-tls');
  const client = path.join(work, 'client');
  let stackDir: string;
  let statePath: string;
  let caFiles: Record<string, string>;
  const output = (name: string) => JSON.parse(terraform(stackDir, ['output', '-json', name]).stdout);

  beforeAll(() => {
    stackDir = path.join(work, 'root');
    writeGraphRoot(stackDir, VALID, path.join(work, 'out'));
    statePath = path.join(stackDir, 'terraform.tfstate');
    terraform(stackDir, ['init', '-input=false']);
    terraform(stackDir, ['apply', '-input=false', '-auto-approve']);
    caFiles = terraformConsole(stackDir, statePath, 'local.k3s_ca_files');
    writeFiles(tls, caFiles);
    const kubernetes = output('kubernetes');
    writeFiles(client, { 'admin.crt': kubernetes.client_certificate, 'admin.key': kubernetes.client_key, 'ca.crt': kubernetes.cluster_ca_certificate });
  });

  test('then local.k3s_ca_files holds exactly the files k3s requires for custom CA certificates', () => {
    expect(Object.keys(caFiles).sort()).toEqual(K3S_CUSTOM_CA_FILES);
  });

  test.each(CAS)('then %s is a self-signed CA for certificate signing with an ECDSA P-256 key that matches it', (ca) => {
    const crt = path.join(tls, `${ca}.crt`);
    const key = path.join(tls, `${ca}.key`);
    expect(caFiles[`${ca}.crt`]).toMatch(PEM_CERT);
    const text = ok(['x509', '-in', crt, '-noout', '-text']);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+[^\n]*Certificate Sign/);
    expect(text).toMatch(/X509v3 Subject Key Identifier/);
    expect(ok(['verify', '-CAfile', crt, crt]).trim()).toBe(`${crt}: OK`);
    // SEC1 "EC PRIVATE KEY" on P-256, as k3s generates CA keys itself.
    expect(caFiles[`${ca}.key`]).toMatch(/^-----BEGIN EC PRIVATE KEY-----\n/);
    expect(ok(['ec', '-in', key, '-noout', '-text'])).toMatch(/ASN1 OID: prime256v1/);
    expect(ok(['pkey', '-in', key, '-pubout'])).toBe(ok(['x509', '-in', crt, '-noout', '-pubkey']));
  });

  test('then the five CAs have five different keys', () => {
    expect(new Set(CAS.map((ca) => caFiles[`${ca}.key`])).size).toBe(5);
  });

  test('then service.key is an RSA 2048 key in PKCS#1 form, as k3s makes the service-account key', () => {
    expect(caFiles['service.key']).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
    expect(ok(['rsa', '-in', path.join(tls, 'service.key'), '-noout', '-text'])).toMatch(/Private-Key: \(2048 bit/);
  });

  test('then the admin client certificate verifies against the client CA only, is in system:masters and is for client auth', () => {
    const crt = path.join(client, 'admin.crt');
    expect(ok(['verify', '-purpose', 'sslclient', '-CAfile', path.join(tls, 'client-ca.crt'), crt]).trim()).toBe(`${crt}: OK`);
    expect(openssl(['verify', '-CAfile', path.join(tls, 'server-ca.crt'), crt]).status).not.toBe(0);
    expect(ok(['x509', '-in', crt, '-noout', '-subject', '-nameopt', 'sep_multiline'])).toMatch(/^\s+O=system:masters$/m);
    const text = ok(['x509', '-in', crt, '-noout', '-text']);
    expect(text).toMatch(/X509v3 Extended Key Usage:\s+TLS Web Client Authentication\n/);
    expect(text).not.toMatch(/CA:TRUE/);
    expect(ok(['pkey', '-in', path.join(client, 'admin.key'), '-pubout'])).toBe(ok(['x509', '-in', crt, '-noout', '-pubkey']));
  });

  test('then the admin certificate lives a year and Terraform renews it within 120 days of its end', () => {
    const cert = adminCert(stackDir);
    expect(cert).toMatchObject({ validity_period_hours: 8760, early_renewal_hours: 2880, ready_for_renewal: false });
  });

  test("then the kubeconfig's server is the VIP, its CA is the server CA and its user is the admin certificate", () => {
    const text = output('kubeconfig');
    expect(text).toMatch(new RegExp(`^    server: https://${VALID.vip.replace(/\./g, '\\.')}:6443$`, 'm')); // as kubectl writes it
    const kubeconfig = parseYaml(text);
    const b64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');
    expect(kubeconfig.clusters).toHaveLength(1);
    expect(kubeconfig.clusters[0].cluster.server).toBe(`https://${VALID.vip}:6443`);
    expect(b64(kubeconfig.clusters[0].cluster['certificate-authority-data'])).toBe(caFiles['server-ca.crt']);
    const context = kubeconfig.contexts.find((c: any) => c.name === kubeconfig['current-context']).context;
    expect(context.cluster).toBe(kubeconfig.clusters[0].name);
    const user = kubeconfig.users.find((u: any) => u.name === context.user).user;
    expect(b64(user['client-certificate-data'])).toBe(fs.readFileSync(path.join(client, 'admin.crt'), 'utf8'));
    expect(b64(user['client-key-data'])).toBe(fs.readFileSync(path.join(client, 'admin.key'), 'utf8'));
  });

  test('then the kubernetes output has exactly the four provider arguments, in PEM, with the server CA', () => {
    const kubernetes = output('kubernetes');
    expect(Object.keys(kubernetes).sort()).toEqual(['client_certificate', 'client_key', 'cluster_ca_certificate', 'host']);
    expect(kubernetes.host).toBe(`https://${VALID.vip}:6443`);
    expect(kubernetes.cluster_ca_certificate).toBe(caFiles['server-ca.crt']);
    expect(kubernetes.client_certificate).toMatch(PEM_CERT);
    expect(kubernetes.client_key).toMatch(/^-----BEGIN EC PRIVATE KEY-----\n[\s\S]+-----END EC PRIVATE KEY-----\n$/);
  });

  test('then both credential outputs are sensitive', () => {
    const all = JSON.parse(terraform(stackDir, ['output', '-json']).stdout);
    expect(all.kubeconfig.sensitive).toBe(true);
    expect(all.kubernetes.sensitive).toBe(true);
    expect(terraform(stackDir, ['output', '-no-color']).stdout).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE/);
  });

  test("then the token is K10<sha256 of server-ca.crt>::server:<join token>, the hash sha256sum gives for the file k3s serves at /cacerts", () => {
    const token = terraformConsole<string>(stackDir, statePath, 'local.k3s_token');
    const joinToken = stateResources(stackDir).find((r) => r.address === 'random_password.join_token')!.values.result;
    const match = token.match(/^K10([0-9a-f]{64})::server:(.+)$/);
    expect(match).not.toBeNull();
    expect(match![2]).toBe(joinToken);
    const sum = execFileSync('sha256sum', [path.join(tls, 'server-ca.crt')], { encoding: 'utf8' }).split(' ')[0];
    expect(match![1]).toBe(sum);
    expect(ok(['dgst', '-sha256', '-r', path.join(tls, 'server-ca.crt')]).split(' ')[0]).toBe(sum);
  });

  test('when applied again, then Terraform has nothing to change', () => {
    expect(terraform(stackDir, ['plan', '-input=false', '-detailed-exitcode'], { allowFailure: true }).status).toBe(0);
    expect(terraform(stackDir, ['apply', '-input=false', '-auto-approve', '-no-color']).stdout).toMatch(/0 added, 0 changed, 0 destroyed/);
  });

  test('given the admin certificate within its early-renewal window, when planned and applied, then only it is replaced and the CAs stay', () => {
    const before = adminCert(stackDir);
    // Move the certificate's end to 100 days from now in the state, as time would.
    const state = JSON.parse(fs.readFileSync(statePath, 'utf8'));
    state.serial += 1;
    const attributes = state.resources.find((r: any) => r.type === 'tls_locally_signed_cert' && r.name === 'k3s_admin').instances[0].attributes;
    attributes.validity_end_time = new Date(Date.now() + 100 * 24 * 3600 * 1000).toISOString();
    const pushed = path.join(work, 'aged.tfstate');
    fs.writeFileSync(pushed, JSON.stringify(state), { mode: 0o600 });
    terraform(stackDir, ['state', 'push', pushed]);

    const plan = terraform(stackDir, ['plan', '-input=false', '-no-color']).stdout;
    expect(plan).toContain('tls_locally_signed_cert.k3s_admin must be replaced');
    expect(plan).toMatch(/Plan: 1 to add, 0 to change, 1 to destroy/);

    terraform(stackDir, ['apply', '-input=false', '-auto-approve']);
    const after = adminCert(stackDir);
    expect(after.cert_pem).not.toBe(before.cert_pem);
    expect(Date.parse(after.validity_end_time)).toBeGreaterThan(Date.now() + 364 * 24 * 3600 * 1000);
    expect(terraformConsole(stackDir, statePath, 'local.k3s_ca_files')).toEqual(caFiles);
    const renewed = path.join(client, 'renewed.crt');
    fs.writeFileSync(renewed, output('kubernetes').client_certificate, { mode: 0o600 });
    expect(ok(['verify', '-purpose', 'sslclient', '-CAfile', path.join(tls, 'client-ca.crt'), renewed]).trim()).toBe(`${renewed}: OK`);
    expect(terraform(stackDir, ['plan', '-input=false', '-detailed-exitcode'], { allowFailure: true }).status).toBe(0);
  });
});
