import { CertRequest } from '@cdktf/provider-tls/lib/cert-request';
import { LocallySignedCert } from '@cdktf/provider-tls/lib/locally-signed-cert';
import { PrivateKey } from '@cdktf/provider-tls/lib/private-key';
import { SelfSignedCert } from '@cdktf/provider-tls/lib/self-signed-cert';
import { propertyAccess, TerraformLocal, Token } from 'cdktf';
import { Construct } from 'constructs';

/** Port of the Kubernetes API on every server and on the VIP. */
export const K3S_API_PORT = 6443;

/**
 * The certificate authorities k3s uses instead of generating its own when it finds them, by their path
 * under `server/tls` without the extension, with the common-name prefix k3s gives its own CAs. Each
 * takes an ECDSA P-256 key (`EC PRIVATE KEY`), as k3s generates and as its custom-CA script makes them.
 */
export const K3S_CAS: Readonly<Record<string, string>> = {
  'server-ca': 'k3s-server-ca',
  'client-ca': 'k3s-client-ca',
  'request-header-ca': 'k3s-request-header-ca',
  'etcd/peer-ca': 'etcd-peer-ca',
  'etcd/server-ca': 'etcd-server-ca',
};

/** The service-account signing key (`server/tls/service.key`): RSA 2048 in PKCS#1, as k3s makes it. */
export const SERVICE_ACCOUNT_KEY_FILE = 'service.key';

/** Ten years, as k3s's own CAs: k3s never renews a CA itself, and neither does Terraform before expiry. */
export const CA_VALIDITY_HOURS = 10 * 365 * 24;
/** The admin client certificate lives a year, as k3s's own client certificates ... */
export const ADMIN_CERT_VALIDITY_HOURS = 365 * 24;
/** ... and Terraform replaces it on the first plan within 120 days of its end, as k3s renews its own. */
export const ADMIN_CERT_EARLY_RENEWAL_HOURS = 120 * 24;

/** Subject of the admin client certificate: the group `system:masters` is cluster-admin in Kubernetes. */
export const ADMIN_SUBJECT = { commonName: 'nico-cluster-admin', organization: 'system:masters' } as const;

/** The arguments of the hashicorp/kubernetes (and helm) provider that a client certificate login takes. */
export interface KubernetesCredentials {
  /** `https://<vip>:6443`. */
  readonly host: string;
  /** PEM of the server CA, which signs the API server's certificate. */
  readonly clusterCaCertificate: string;
  /** PEM of the admin client certificate (group system:masters), signed by the client CA. */
  readonly clientCertificate: string;
  /** PEM of the admin client key (sensitive). */
  readonly clientKey: string;
}

/**
 * The cluster's PKI, made by Terraform so that credentials are known before any node exists: the five
 * k3s CAs and the service-account key (never re-created once made, like the join token: a new CA
 * would lock every node and client out of the cluster), and an admin client certificate that
 * Terraform renews before it expires.
 *
 * Defines, for delivery and for the outputs:
 * - `local.k3s_ca_files` (sensitive): relative path under k3s's `server/tls` (`server-ca.crt`,
 *   `etcd/peer-ca.key`, `service.key`, ...) to file content; k3s skips generating CAs it finds there
 *   when the first server starts. Deliver the bytes unchanged: the token hash covers them.
 * - `local.k3s_token` (sensitive): the secure token `K10<sha256 of server-ca.crt>::server:<join token>`,
 *   with which a joining node checks that `/cacerts` serves this cluster's server CA before it sends
 *   credentials.
 * - `local.kubernetes_credentials` (sensitive): `host`, `cluster_ca_certificate`, `client_certificate`,
 *   `client_key` as the kubernetes provider takes them (PEM).
 * - `local.kubeconfig` (sensitive): an admin kubeconfig for `https://<vip>:6443` with the same material.
 *
 * Reads `local.cluster`, `local.join_token` and `local.templates_dir` (kubeconfig.yaml.tftpl).
 */
export class ClusterPki extends Construct {
  /** The admin kubeconfig (YAML), as a token. */
  public readonly kubeconfig: string;
  /** The admin credentials for the kubernetes and helm providers, as tokens. */
  public readonly kubernetes: KubernetesCredentials;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const neverRecreate = (r: { addOverride(path: string, value: unknown): void }) => r.addOverride('lifecycle.ignore_changes', 'all');

    const caKey = new PrivateKey(this, 'ca-key', { algorithm: 'ECDSA', ecdsaCurve: 'P256' });
    caKey.overrideLogicalId('k3s_ca');
    caKey.addOverride('for_each', K3S_CAS);
    neverRecreate(caKey);

    const ca = new SelfSignedCert(this, 'ca', {
      privateKeyPem: '${tls_private_key.k3s_ca[each.key].private_key_pem}',
      subject: [{ commonName: '${each.value}@${local.cluster.name}' }],
      isCaCertificate: true,
      // A subject key id lets leaf certificates name their issuer (k3s compares the two when it checks
      // whether a leaf still belongs to its CA).
      setSubjectKeyId: true,
      validityPeriodHours: CA_VALIDITY_HOURS,
      allowedUses: ['cert_signing', 'digital_signature', 'key_encipherment'],
    });
    ca.overrideLogicalId('k3s_ca');
    ca.addOverride('for_each', K3S_CAS);
    // ignore_changes keeps a CA when the cluster is renamed; only expiry (after CA_VALIDITY_HOURS)
    // would make the provider plan a new one, and that needs `k3s certificate rotate-ca` anyway.
    neverRecreate(ca);

    const serviceKey = new PrivateKey(this, 'service-account-key', { algorithm: 'RSA', rsaBits: 2048 });
    serviceKey.overrideLogicalId('k3s_service_account');
    neverRecreate(serviceKey);

    const adminKey = new PrivateKey(this, 'admin-key', { algorithm: 'ECDSA', ecdsaCurve: 'P256' });
    adminKey.overrideLogicalId('k3s_admin');
    const adminRequest = new CertRequest(this, 'admin-request', {
      privateKeyPem: adminKey.privateKeyPem,
      subject: [{ ...ADMIN_SUBJECT }],
    });
    adminRequest.overrideLogicalId('k3s_admin');
    // Not ignore_changes: a renewal is a replacement the provider plans once the certificate is within
    // early_renewal_hours of its end, and a replaced client CA must re-sign it. The key stays.
    const admin = new LocallySignedCert(this, 'admin-cert', {
      certRequestPem: adminRequest.certRequestPem,
      caPrivateKeyPem: '${tls_private_key.k3s_ca["client-ca"].private_key_pem}',
      caCertPem: '${tls_self_signed_cert.k3s_ca["client-ca"].cert_pem}',
      validityPeriodHours: ADMIN_CERT_VALIDITY_HOURS,
      earlyRenewalHours: ADMIN_CERT_EARLY_RENEWAL_HOURS,
      allowedUses: ['digital_signature', 'key_encipherment', 'client_auth'],
    });
    admin.overrideLogicalId('k3s_admin');

    const serverCa = 'tls_self_signed_cert.k3s_ca["server-ca"].cert_pem';
    const host = `https://\${local.cluster.vip}:${K3S_API_PORT}`;
    const locals: Record<string, string> = {
      k3s_ca_files:
        '${sensitive(merge(' +
        '{ for path, cert in tls_self_signed_cert.k3s_ca : "${path}.crt" => cert.cert_pem }, ' +
        '{ for path, key in tls_private_key.k3s_ca : "${path}.key" => key.private_key_pem }, ' +
        `{ "${SERVICE_ACCOUNT_KEY_FILE}" = tls_private_key.k3s_service_account.private_key_pem }))}`,
      // k3s hashes the literal bytes /cacerts serves (server-ca.crt) when it holds one certificate;
      // the user name `server` makes the token valid for joining servers as well as agents.
      k3s_token: `K10\${sha256(${serverCa})}::server:\${local.join_token}`,
      kubernetes_credentials:
        `\${sensitive({ host = "${host}", cluster_ca_certificate = ${serverCa}, ` +
        'client_certificate = tls_locally_signed_cert.k3s_admin.cert_pem, client_key = tls_private_key.k3s_admin.private_key_pem })}',
      kubeconfig:
        `\${sensitive(templatefile("\${local.templates_dir}/kubeconfig.yaml.tftpl", { name = local.cluster.name, server = "${host}", ` +
        `ca_certificate = ${serverCa}, client_certificate = tls_locally_signed_cert.k3s_admin.cert_pem, client_key = tls_private_key.k3s_admin.private_key_pem }))}`,
    };
    const defined = Object.fromEntries(Object.entries(locals).map(([name, value]) => {
      const local = new TerraformLocal(this, name.replace(/_/g, '-'), value);
      local.overrideLogicalId(name);
      return [name, local];
    }));

    this.kubeconfig = defined.kubeconfig.asString;
    const credential = (name: string) => Token.asString(propertyAccess(defined.kubernetes_credentials, [name]));
    this.kubernetes = {
      host: credential('host'),
      clusterCaCertificate: credential('cluster_ca_certificate'),
      clientCertificate: credential('client_certificate'),
      clientKey: credential('client_key'),
    };
  }
}
