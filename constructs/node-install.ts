import { PrivateKey } from '@cdktf/provider-tls/lib/private-key';
import { DataResource, TerraformLocal, TerraformStack } from 'cdktf';
import { Construct } from 'constructs';
import { NIXOS_ANYWHERE } from './cluster-description';
import { CONNECTION_ENV, hclObject, NODE, nodeInput } from './node-deployment';

export interface NodeInstallProps {
  /** Resource addresses the installs wait for (the input checks). */
  readonly dependsOn: readonly string[];
}

/** Address of a node's install record: whether nico-cluster installed its machine (see NodeInstall). */
export const INSTALL_RECORD = 'terraform_data.install_record';
/** Address of a node's install run (nixos-anywhere): its id is the marker the installed system holds. */
export const INSTALL_RUN = 'terraform_data.install';

/**
 * The opt-in install step, in three parts:
 *
 * - `terraform_data.install_record`, one per node that is not gone: whether nico-cluster installed its
 *   machine. It is decided when the node first appears (its `install` then) and kept: `input` is
 *   ignored afterwards, so turning `install` off after an install changes nothing, and turning it on
 *   for a running node that was not installed is refused at plan (its postcondition), since an
 *   install wipes the disk; `terraform apply -replace` of the record is the deliberate way (the
 *   refusal names it). Terraform has no other way to remember a fact across a flag going off: a
 *   replaced `terraform_data` takes its `input` from the configuration again.
 * - `tls_private_key.host_key`: an ED25519 SSH host key for every recorded installed node, kept as
 *   long as the record (across reinstalls and `install` going off): every later connection pins it.
 * - `terraform_data.install`, one per recorded installed node: runs nixos-anywhere when created, and
 *   again when the node's `install_generation` rises (with `install` on; with it off the run says so
 *   and installs nothing). Its id goes to the installed system as `/var/lib/nico/install-id`, so the
 *   deploy can tell a finished install from one whose apply was killed (Terraform records a created
 *   resource before its provisioner ends).
 *
 * Defines `local.installed_names` and `local.node_host_keys`: the host key every later connection
 * pins, Terraform's own for an installed node, the description's for the others.
 *
 * A node is installed with `#minimal` on its own address and disk: the machine comes up reachable,
 * with the disk layout, the host key and the secrets, but without k3s, so the deployment then
 * switches it to its configuration in the cluster's order (control-plane nodes one at a time).
 */
export class NodeInstall extends Construct {
  constructor(scope: Construct, id: string, props: NodeInstallProps) {
    super(scope, id);
    const record = new DataResource(this, 'record', { input: { installed: `\${${NODE}.install}` } });
    record.overrideLogicalId('install_record');
    // A map of names computed once: Terraform evaluates a resource's for_each again for each instance.
    new TerraformLocal(this, 'present-names', '${{ for name, n in local.deploy_nodes : name => name if !n.gone }}').overrideLogicalId('present_names');
    record.addOverride('for_each', '${local.present_names}');
    record.addOverride('lifecycle.ignore_changes', ['input']);
    // Checked at plan with the recorded value (a reference to a record gives its planned value, and
    // `ignore_changes` keeps the recorded one): a running node that nico-cluster did not install is
    // never installed by turning `install` on (that would wipe its disk by surprise). One precondition
    // for all nodes: a postcondition on each record cost 4 s of a 3+1000 plan (Terraform's per-instance
    // condition work), and this one walks the records once.
    const guard = new DataResource(this, 'guard', { input: {} });
    guard.overrideLogicalId('install_guard');
    guard.addOverride('count', '${local.deploy ? 1 : 0}');
    guard.addOverride('lifecycle.precondition', [
      {
        condition: `\${alltrue([for name, r in ${INSTALL_RECORD} : !local.deploy_nodes[name].install || r.input.installed])}`,
        error_message:
          '${join(" ", [for name, r in ' + INSTALL_RECORD + ' : "${name} runs a system nico-cluster did not install (install was off when it joined), and install is now on for it: an install WIPES ITS DISK, so nothing is installed by turning install on. ' +
          'To install it, run: terraform apply -replace=\'${local.module_address}terraform_data.install_record[\\"${name}\\"]\'. Otherwise set install = false on that node." if !(!local.deploy_nodes[name].install || r.input.installed)])}',
      },
    ]);

    new TerraformLocal(this, 'installed-names', `\${{ for name, r in ${INSTALL_RECORD} : name => name if try(r.input.installed, false) }}`).overrideLogicalId('installed_names');

    const hostKey = new PrivateKey(this, 'host-key', { algorithm: 'ED25519' });
    hostKey.overrideLogicalId('host_key');
    hostKey.addOverride('for_each', '${local.installed_names}');
    // The machine keeps its key across reinstalls: clients' pins stay valid.
    hostKey.addOverride('lifecycle.ignore_changes', 'all');

    // Trust on first use, said in every plan and apply (a warning, not an error): a node without a
    // pinned host key accepts whatever key answers at its address, and receives the secrets.
    TerraformStack.of(this).addOverride('check.host_keys_pinned', {
      assert: {
        condition: '${!local.deploy || alltrue([for name, key in local.node_host_keys : key != null || lookup(local.gone_names, name, null) != null])}',
        error_message:
          'Trust on first use: node(s) ${join(", ", sort([for name, key in local.node_host_keys : name if key == null && lookup(local.gone_names, name, null) == null]))} ' +
          'have no host_key and are not installed by Terraform: every connection to them accepts whatever host key answers at their address, and sends them the secrets. ' +
          'Pin each with host_key (its /etc/ssh/ssh_host_ed25519_key.pub, compared out of band), or let Terraform install it (install).',
      },
    });

    const install = new DataResource(this, 'install', {
      // `installs`: whether this run installs (install on) or only records a raised generation (off).
      // Kept as created (ignore_changes): the deploy reads it to know which run's marker to expect.
      input: { ...nodeInput(`${NODE}.host_key`), generation: `\${${NODE}.install_generation}`, installs: `\${${NODE}.install}` },
    });
    install.overrideLogicalId('install');
    install.addOverride('for_each', '${local.installed_names}');
    install.addOverride('triggers_replace', `\${${NODE}.install_generation}`);
    install.addOverride('lifecycle.ignore_changes', ['input']);
    install.addOverride('depends_on', [...props.dependsOn, 'terraform_data.install_guard']);
    install.addOverride('provisioner', [
      {
        'local-exec': {
          interpreter: ['/bin/sh', '-c'],
          command: 'eval "$NICO_SCRIPT"',
          environment:
            `\${merge(${hclObject({
              ...CONNECTION_ENV,
              NICO_ACTION: '"install"',
              NICO_INSTALLS: 'self.input.installs ? "true" : "false"',
              // Written on the installed system (an extra file): only a finished install leaves it there.
              NICO_INSTALL_ID: 'self.id',
              NICO_INSTALL_GENERATION: 'self.input.generation',
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

/**
 * Environment of a node's deploy about its install: the id of the install run whose marker the
 * installed system must hold (empty: no check: never installed by nico-cluster, an install made
 * before installs left a marker, or a raised generation with `install` off), the generation to
 * name in a message, and the key the machine had before the install (its `host_key`).
 */
export const INSTALL_CHECK_ENV: Record<string, string> = {
  NICO_INSTALL_ID: `try(${INSTALL_RUN}[each.key].input.installs, false) == true ? try(${INSTALL_RUN}[each.key].id, "") : ""`,
  NICO_INSTALL_GENERATION: `${NODE}.install_generation`,
  NICO_PRE_INSTALL_KEY: `${NODE}.host_key == null ? "" : ${NODE}.host_key`,
  NICO_MODULE_ADDRESS: 'local.module_address',
};
