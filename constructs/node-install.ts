import { PrivateKey } from '@cdktf/provider-tls/lib/private-key';
import { DataResource, TerraformStack } from 'cdktf';
import { Construct } from 'constructs';
import { NIXOS_ANYWHERE } from './cluster-description';
import { CONNECTION_ENV, hclObject, NODE, nodeInput } from './node-deployment';

export interface NodeInstallProps {
  /** Resource addresses the installs wait for (the input checks). */
  readonly dependsOn: readonly string[];
}

/**
 * The opt-in install step: for every node in `local.install_names`, an ED25519 SSH host key made by
 * Terraform (`tls_private_key.host_key`) and one `terraform_data.install` instance that runs
 * nixos-anywhere once, before the node's first deploy. Raising the node's `install_generation`
 * replaces only its instance, so only it is installed again. Defines `local.node_host_keys`: the host
 * key every later connection pins, Terraform's own for an installed node, the description's for the
 * others.
 *
 * A node is installed with `#minimal` on its own address and disk: the machine comes up reachable,
 * with the disk layout, the host key and the secrets, but without k3s, so the deployment then
 * switches it to its configuration in the cluster's order (control-plane nodes one at a time).
 */
export class NodeInstall extends Construct {
  constructor(scope: Construct, id: string, props: NodeInstallProps) {
    super(scope, id);
    const hostKey = new PrivateKey(this, 'host-key', { algorithm: 'ED25519' });
    hostKey.overrideLogicalId('host_key');
    hostKey.addOverride('for_each', '${local.install_names}');
    // The machine keeps its key across reinstalls: clients' pins stay valid.
    hostKey.addOverride('lifecycle.ignore_changes', 'all');

    // Trust on first use, said in every plan and apply (a warning, not an error): a node without a
    // pinned host key accepts whatever key answers at its address, and receives the secrets.
    TerraformStack.of(this).addOverride('check.host_keys_pinned', {
      assert: {
        condition: '${!local.deploy || alltrue([for name, key in local.node_host_keys : key != null || contains(keys(local.gone_names), name)])}',
        error_message:
          'Trust on first use: node(s) ${join(", ", sort([for name, key in local.node_host_keys : name if key == null && !contains(keys(local.gone_names), name)]))} ' +
          'have no host_key and are not installed by Terraform: every connection to them accepts whatever host key answers at their address, and sends them the secrets. ' +
          'Pin each with host_key (its /etc/ssh/ssh_host_ed25519_key.pub, compared out of band), or let Terraform install it (install).',
      },
    });

    const install = new DataResource(this, 'install', {
      input: { ...nodeInput(`${NODE}.host_key`), generation: `\${${NODE}.install_generation}` },
    });
    install.overrideLogicalId('install');
    install.addOverride('for_each', '${local.install_names}');
    install.addOverride('triggers_replace', `\${${NODE}.install_generation}`);
    install.addOverride('depends_on', [...props.dependsOn]);
    install.addOverride('provisioner', [
      {
        'local-exec': {
          interpreter: ['/bin/sh', '-c'],
          command: 'eval "$NICO_SCRIPT"',
          environment:
            `\${merge(${hclObject({
              ...CONNECTION_ENV,
              NICO_ACTION: '"install"',
              // Also bounds the wait for the installed system to answer after its reboot.
              NICO_READY_TIMEOUT: 'local.cluster.ready_timeout_seconds',
              // No destroy step here: the key comes straight from the configuration, never from `input`
              // (see MACHINE_KEY in node-deployment.ts: whatever `input` holds, plans print).
              NICO_SSH_KEY: 'nonsensitive(sensitive(local.ssh_private_key))',
              NICO_NIXOS_ANYWHERE: `"${NIXOS_ANYWHERE}"`,
              NICO_KEXEC_URL: 'local.cluster.kexec_url == null ? "" : local.cluster.kexec_url',
              NICO_HOST_PRIVATE_KEY: 'nonsensitive(sensitive(tls_private_key.host_key[each.key].private_key_openssh))',
              NICO_HOST_PUBLIC_KEY: 'trimspace(tls_private_key.host_key[each.key].public_key_openssh)',
            })}, local.flake_payload, local.secrets_payload[${NODE}.role == "worker" ? "worker" : "control_plane"])}`,
        },
      },
    ]);
  }
}
