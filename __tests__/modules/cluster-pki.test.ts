import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { parse as parseYaml } from 'yaml';
import { VALID } from '../fixtures/invalid-descriptions';
import { writeModuleRoot } from '../helpers/module-root';
import { stateResources, tempDir, terraform } from '../helpers/terraform';

jest.setTimeout(10 * 60 * 1000);

const openssl = (args: string[]) => spawnSync('openssl', args, { encoding: 'utf8' });

describe('the credentials of the HCL module applied with deploy off', () => {
  const work = tempDir('module-pki');
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
  const root = path.join(work, 'root');
  const out = path.join(work, 'out');
  const output = (name: string) => JSON.parse(terraform(root, ['output', '-json', name]).stdout);
  const caPem = (ca: string) => stateResources(root).find((r) => r.address === `module.k3s.tls_self_signed_cert.k3s_ca["${ca}"]`)!.values.cert_pem as string;

  beforeAll(() => {
    writeModuleRoot(root, VALID, out);
    terraform(root, ['init', '-input=false']);
    terraform(root, ['apply', '-input=false', '-auto-approve']);
  });

  test('then the kubernetes output has exactly host, cluster_ca_certificate, client_certificate and client_key, with the server CA', () => {
    const kubernetes = output('kubernetes');
    expect(Object.keys(kubernetes).sort()).toEqual(['client_certificate', 'client_key', 'cluster_ca_certificate', 'host']);
    expect(kubernetes.host).toBe(`https://${VALID.vip}:6443`);
    expect(kubernetes.cluster_ca_certificate).toBe(caPem('server-ca'));
  });

  test('then its client certificate verifies against the client CA and is in system:masters', () => {
    const kubernetes = output('kubernetes');
    fs.writeFileSync(path.join(work, 'client-ca.crt'), caPem('client-ca'), { mode: 0o600 });
    fs.writeFileSync(path.join(work, 'admin.crt'), kubernetes.client_certificate, { mode: 0o600 });
    const verify = openssl(['verify', '-purpose', 'sslclient', '-CAfile', path.join(work, 'client-ca.crt'), path.join(work, 'admin.crt')]);
    expect(verify.stdout.trim()).toBe(`${path.join(work, 'admin.crt')}: OK`);
    expect(openssl(['x509', '-in', path.join(work, 'admin.crt'), '-noout', '-subject', '-nameopt', 'sep_multiline']).stdout).toMatch(/^\s+O=system:masters$/m);
  });

  test("then the kubeconfig output's server is the VIP and its CA and user match the kubernetes output", () => {
    const kubernetes = output('kubernetes');
    const kubeconfig = parseYaml(output('kubeconfig'));
    const b64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');
    expect(kubeconfig.clusters[0].cluster.server).toBe(kubernetes.host);
    expect(b64(kubeconfig.clusters[0].cluster['certificate-authority-data'])).toBe(kubernetes.cluster_ca_certificate);
    expect(b64(kubeconfig.users[0].user['client-certificate-data'])).toBe(kubernetes.client_certificate);
    expect(b64(kubeconfig.users[0].user['client-key-data'])).toBe(kubernetes.client_key);
  });

  test('when applied again, then Terraform has nothing to change', () => {
    expect(terraform(root, ['plan', '-input=false', '-detailed-exitcode'], { allowFailure: true }).status).toBe(0);
  });

  test('given the cluster renamed and its VIP moved, when planned, then no key, CA, certificate or token is re-created and the kubeconfig follows', () => {
    // "null" is a valid cluster name that a YAML parser reads as null unless the kubeconfig quotes it.
    writeModuleRoot(root, { ...VALID, name: 'null', vip: '192.168.1.99' }, out);
    terraform(root, ['plan', '-input=false', '-out=rename.tfplan']);
    const plan = JSON.parse(terraform(root, ['show', '-json', 'rename.tfplan']).stdout);
    const secrets = (plan.resource_changes as Array<{ address: string; type: string; change: { actions: string[] } }>).filter((c) => /^(tls_|random_password)/.test(c.type));
    expect(secrets.map((c) => c.address)).toEqual(expect.arrayContaining(['module.k3s.tls_self_signed_cert.k3s_ca["server-ca"]', 'module.k3s.tls_locally_signed_cert.k3s_admin']));
    for (const c of secrets) expect(`${c.address}: ${c.change.actions.join(',')}`).toBe(`${c.address}: no-op`);
    expect(plan.output_changes.kubeconfig.actions).toEqual(['update']);
    terraform(root, ['apply', '-input=false', '-auto-approve', 'rename.tfplan']);
    expect(output('kubernetes').host).toBe('https://192.168.1.99:6443');
    const kubeconfig = parseYaml(output('kubeconfig'));
    expect(kubeconfig.clusters[0]).toMatchObject({ name: 'null', cluster: { server: 'https://192.168.1.99:6443' } });
    expect(kubeconfig['current-context']).toBe('null');
    expect(kubeconfig.contexts[0].context).toEqual({ cluster: 'null', user: 'null-admin' });
  });
});

/** The arguments of the kubernetes provider (and of the helm provider's `kubernetes` block), from its documentation. */
const KUBERNETES_PROVIDER_ARGUMENTS = [
  'host', 'username', 'password', 'insecure', 'tls_server_name', 'client_certificate', 'client_key', 'cluster_ca_certificate',
  'config_path', 'config_paths', 'config_context', 'config_context_auth_info', 'config_context_cluster', 'token', 'proxy_url', 'exec',
];

describe("the README's root module for the kubernetes and helm providers", () => {
  const readme = fs.readFileSync(path.resolve(__dirname, '..', '..', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Cluster PKI and credentials'));
  const hcl = section.match(/```hcl\n([\s\S]*?)```/)![1];
  const providerBody = (name: string) => hcl.match(new RegExp(`^provider "${name}" \\{\\n([\\s\\S]*?)^\\}`, 'm'))![1];
  const attributes = (body: string) => [...body.matchAll(/^\s+([a-z_]+)\s+= local\.k3s\.([a-z_]+)$/gm)].map((m) => [m[1], m[2]]);

  test('then it is well-formed HCL that terraform fmt accepts as formatted', () => {
    const dir = tempDir('readme-hcl');
    fs.writeFileSync(path.join(dir, 'main.tf'), hcl);
    terraform(dir, ['fmt', '-check', '-diff', 'main.tf']);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test.each(['kubernetes', 'helm'])('then the %s provider gets each of the four attributes of the kubernetes output under its own name, all documented arguments', (provider) => {
    const pairs = attributes(providerBody(provider));
    expect(pairs.map(([arg]) => arg).sort()).toEqual(['client_certificate', 'client_key', 'cluster_ca_certificate', 'host']);
    for (const [arg, from] of pairs) {
      expect(from).toBe(arg);
      expect(KUBERNETES_PROVIDER_ARGUMENTS).toContain(arg);
    }
    expect(hcl).toContain('k3s = data.terraform_remote_state.cluster.outputs.kubernetes');
  });
});
