import { Testing, TerraformOutput, TerraformStack } from 'cdktf';
import { NicoCluster } from '../../constructs';
import { ADMIN_CERT_EARLY_RENEWAL_HOURS, ADMIN_CERT_VALIDITY_HOURS, K3S_CAS } from '../../constructs/cluster-pki';
import { VALID } from '../fixtures/invalid-descriptions';
import { synthGraph } from '../helpers/graph';

describe('ClusterPki synthesized in the cluster graph (the HCL module)', () => {
  const { config } = synthGraph();
  const resource = config.resource;

  test('then there is one ECDSA P-256 key and one self-signed CA per k3s CA, keyed by its path under server/tls', () => {
    expect(Object.keys(K3S_CAS).sort()).toEqual(['client-ca', 'etcd/peer-ca', 'etcd/server-ca', 'request-header-ca', 'server-ca']);
    expect(resource.tls_private_key.k3s_ca).toMatchObject({ algorithm: 'ECDSA', ecdsa_curve: 'P256', for_each: K3S_CAS });
    expect(resource.tls_self_signed_cert.k3s_ca).toMatchObject({
      for_each: K3S_CAS,
      private_key_pem: '${tls_private_key.k3s_ca[each.key].private_key_pem}',
      is_ca_certificate: true,
      allowed_uses: expect.arrayContaining(['cert_signing']),
    });
  });

  test('then the CA keys, the CA certificates and the service-account key are never re-created by later changes', () => {
    for (const r of [resource.tls_private_key.k3s_ca, resource.tls_self_signed_cert.k3s_ca, resource.tls_private_key.k3s_service_account]) {
      expect(r.lifecycle).toEqual({ ignore_changes: 'all' });
    }
    expect(resource.tls_private_key.k3s_service_account).toMatchObject({ algorithm: 'RSA', rsa_bits: 2048 });
  });

  test('then the admin certificate is signed by the client CA and renewed before it expires, so it must not ignore changes', () => {
    const admin = resource.tls_locally_signed_cert.k3s_admin;
    expect(admin.ca_cert_pem).toBe('${tls_self_signed_cert.k3s_ca["client-ca"].cert_pem}');
    expect(admin.ca_private_key_pem).toBe('${tls_private_key.k3s_ca["client-ca"].private_key_pem}');
    expect(admin.allowed_uses).toContain('client_auth');
    expect(admin.validity_period_hours).toBe(ADMIN_CERT_VALIDITY_HOURS);
    expect(admin.early_renewal_hours).toBe(ADMIN_CERT_EARLY_RENEWAL_HOURS);
    expect(ADMIN_CERT_EARLY_RENEWAL_HOURS).toBeGreaterThan(0);
    expect(ADMIN_CERT_EARLY_RENEWAL_HOURS).toBeLessThan(ADMIN_CERT_VALIDITY_HOURS);
    expect(admin.lifecycle).toBeUndefined();
    expect(resource.tls_cert_request.k3s_admin.subject).toEqual([expect.objectContaining({ organization: 'system:masters' })]);
  });

  test('then the credentials and the CA files depend on no node, no SSH read-back and no local file', () => {
    const pki = JSON.stringify([
      resource.tls_private_key,
      resource.tls_self_signed_cert,
      resource.tls_cert_request,
      resource.tls_locally_signed_cert,
      ...['k3s_ca_files', 'k3s_token', 'kubernetes_credentials', 'kubeconfig'].map((l) => config.locals[l]),
    ]);
    expect(pki).not.toMatch(/terraform_data|data\.|local_file|local_sensitive_file/);
    expect(config.output.kubeconfig).toMatchObject({ value: '${local.kubeconfig}', sensitive: true });
    expect(config.output.kubernetes).toMatchObject({ value: '${local.kubernetes_credentials}', sensitive: true });
  });

  test('then the secure token is K10, the sha256 of the server CA PEM, and server:<join token>', () => {
    expect(config.locals.k3s_token).toBe('K10${sha256(tls_self_signed_cert.k3s_ca["server-ca"].cert_pem)}::server:${local.join_token}');
  });

  test('then the CA file map and the credentials are marked sensitive as a whole', () => {
    for (const l of ['k3s_ca_files', 'kubernetes_credentials', 'kubeconfig']) expect(config.locals[l]).toMatch(/^\$\{sensitive\(/);
  });
});

describe('NicoCluster credentials as construct attributes', () => {
  test('when a stack uses them, then they refer to the outputs of the cluster\'s module, which forward the state-built locals', () => {
    const app = Testing.app();
    const stack = new TerraformStack(app, 'test');
    const { kubeconfig, kubernetes } = new NicoCluster(stack, 'prod', { description: VALID });
    new TerraformOutput(stack, 'my-kubeconfig', { value: kubeconfig, sensitive: true });
    new TerraformOutput(stack, 'my-host', { value: kubernetes.host });
    new TerraformOutput(stack, 'my-ca', { value: kubernetes.clusterCaCertificate });
    new TerraformOutput(stack, 'my-cert', { value: kubernetes.clientCertificate });
    new TerraformOutput(stack, 'my-key', { value: kubernetes.clientKey, sensitive: true });
    const config = JSON.parse(Testing.synth(stack));
    const values = Object.fromEntries(Object.entries(config.output as Record<string, { value: string }>).map(([k, o]) => [k.replace(/_[0-9A-F]{8}$/, ''), o.value]));
    expect(values).toMatchObject({
      'my-kubeconfig': '${module.prod.kubeconfig}',
      'my-host': '${module.prod.kubernetes.host}',
      'my-ca': '${module.prod.kubernetes.cluster_ca_certificate}',
      'my-cert': '${module.prod.kubernetes.client_certificate}',
      'my-key': '${module.prod.kubernetes.client_key}',
    });
    const graph = synthGraph().config;
    expect(graph.output.kubeconfig).toMatchObject({ value: '${local.kubeconfig}', sensitive: true });
    expect(graph.output.kubernetes).toMatchObject({ value: '${local.kubernetes_credentials}', sensitive: true });
  });
});
