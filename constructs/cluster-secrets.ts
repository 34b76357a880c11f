import { DataTlsPublicKey } from '@cdktf/provider-tls/lib/data-tls-public-key';
import { PrivateKey } from '@cdktf/provider-tls/lib/private-key';
import { Password } from '@cdktf/provider-random/lib/password';
import { TerraformLocal } from 'cdktf';
import { Construct } from 'constructs';

/** Length of the k3s join token; letters and digits only, so it is safe in shell and Nix strings. */
export const JOIN_TOKEN_LENGTH = 48;

/**
 * The machine SSH key and the k3s join token. Defines `local.ssh_private_key` (sensitive),
 * `local.ssh_public_key` (an OpenSSH line) and `local.join_token` (sensitive).
 *
 * Both secrets ignore later changes to their arguments: re-creating the token would lock every node
 * out of the cluster, and a new key would lock Terraform out of every node.
 */
export class ClusterSecrets extends Construct {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    // Whether a key was given, as a plain bool: `count` refuses values derived from secrets. The
    // sensitive() wrap makes nonsensitive() valid whether or not the input was marked sensitive.
    const given = 'nonsensitive(sensitive(local.ssh_private_key_input != null))';

    const generated = new PrivateKey(this, 'machine-key', { algorithm: 'ED25519' });
    generated.overrideLogicalId('machine');
    generated.addOverride('count', `\${${given} ? 0 : 1}`);
    generated.addOverride('lifecycle.ignore_changes', 'all');

    // tls_public_key reads the key in either form; exactly one of the two arguments must be set, even
    // when count is 0 (terraform validate checks it), hence the unused "" when no key is given.
    const givenPublic = new DataTlsPublicKey(this, 'given-public-key', {});
    givenPublic.overrideLogicalId('given');
    givenPublic.addOverride('count', `\${${given} ? 1 : 0}`);
    const isPem = 'try(!startswith(local.ssh_private_key_input, "-----BEGIN OPENSSH"), false)';
    givenPublic.addOverride('private_key_openssh', `\${${isPem} ? null : (local.ssh_private_key_input == null ? "" : local.ssh_private_key_input)}`);
    givenPublic.addOverride('private_key_pem', `\${${isPem} ? local.ssh_private_key_input : null}`);

    const token = new Password(this, 'join-token', { length: JOIN_TOKEN_LENGTH, special: false });
    token.overrideLogicalId('join_token');
    token.addOverride('lifecycle.ignore_changes', 'all');

    const locals: Record<string, string> = {
      ssh_private_key: '${coalesce(local.ssh_private_key_input, one(tls_private_key.machine[*].private_key_openssh))}',
      ssh_public_key: '${coalesce(one(tls_private_key.machine[*].public_key_openssh), one(data.tls_public_key.given[*].public_key_openssh))}',
      join_token: '${random_password.join_token.result}',
    };
    for (const [name, value] of Object.entries(locals)) new TerraformLocal(this, name, value).overrideLogicalId(name);
  }
}
