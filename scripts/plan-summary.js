// Reads `terraform show -json <saved plan>` on stdin and prints, for scripts/demo.sh, what the plan does
// to each node (one line a node) and how many other resources it touches: the screenful a user reads
// before anything is applied. When the plan redeploys, cleans or reinstalls a deployed node it repeats
// those nodes under "this plan changes deployed nodes" and exits 3, so that demo.sh asks first; so it
// does when the plan restores the cluster from a snapshot (`restore`).
//
// Usage: terraform show -json plan | node scripts/plan-summary.js [--nodes-out FILE]
//   --show COMMAND    the command that prints the full plan, said after the counts
//   --nodes-out FILE  writes [{ name, role, action, short }] (no secret) for scripts/apply-progress.js's table.
//
// The plan JSON holds every secret in plain text (Terraform marks them sensitive only beside the value):
// this reads only node names, roles, peers, the `gone` flag and the restore step's snapshot name and
// generation, and never writes the JSON anywhere.
const fs = require('fs');
const { INPUT_ROLES, nodeStep, nodeLine } = require('./node-steps');

const arg = (name) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
};

/** `create`, `update`, `replace`, `delete` or `no-op` for a change's action list. */
function kindOf(actions) {
  if (actions.includes('create') && actions.includes('delete')) return 'replace';
  for (const a of ['create', 'update', 'delete']) if (actions.includes(a)) return a;
  return 'no-op';
}

const input = (value) => (value && typeof value === 'object' && value.input && typeof value.input === 'object' ? value.input : {});

/** What happens to one node, from the changes of its steps; `destructive` when a deployed node is touched. */
function describe(steps, deployOn) {
  const parts = [];
  const short = []; // the same in a word or two, for the table at the end of the apply
  let destructive = false;
  if (steps.install) {
    const kind = kindOf(steps.install.actions);
    const installs = input(steps.install.after).installs !== false;
    if (kind === 'replace' && installs) destructive = true;
    if ((kind === 'create' || kind === 'replace') && !installs) {
      // A raised installGeneration while install is off: recorded, nothing installed (nico-node/install.sh).
      parts.push('its installGeneration is recorded (install is off: nothing is installed)');
      short.push('generation recorded');
    } else if (kind === 'create' || kind === 'replace') {
      parts.push(`${kind === 'replace' ? 'reinstalled' : 'installed'} with nixos-anywhere (its disk is wiped)`);
      short.push(kind === 'replace' ? 'reinstalled' : 'installed');
    }
  }
  if (steps.deploy) {
    const { actions, before, after } = steps.deploy;
    const kind = kindOf(actions);
    if (kind === 'create') {
      parts.push('created');
      short.push('created');
    }
    if (kind === 'replace' && steps.deploy.action_reason === 'replace_because_tainted') {
      // Its last deploy failed (or was interrupted): this runs it again, as the user asked then.
      parts.push('deployed again (its last deploy failed)');
      short.push('deployed again');
    } else if (kind === 'replace') {
      destructive = true;
      // A member is drained first when another control-plane node can do it (nico-node/deploy.sh).
      const peers = input(after).peers ?? input(before).peers;
      parts.push(`${peers ? 'drained and redeployed' : 'redeployed'} (its configuration changed)`);
      short.push(peers ? 'drained and redeployed' : 'redeployed');
    }
    if (kind === 'delete') {
      if (input(before).gone === true) {
        parts.push('removed from the state (marked gone: its machine is not contacted)');
        short.push('removed');
      } else {
        destructive = true;
        parts.push('drained, removed from the cluster and cleaned with #minimal');
        short.push('cleaned with #minimal');
      }
    }
    // Marked gone: only its record changes; `forget` below says what happens.
    if (kind === 'update' && input(after).gone !== true) {
      parts.push('nothing runs on it (its connection settings are updated)');
      short.push('settings updated');
    }
  }
  if (steps.forget && kindOf(steps.forget.actions) === 'create') {
    parts.push('forgotten: its Node is deleted through a control-plane node, its machine is not contacted');
    short.push('forgotten');
  }
  if (parts.length === 0) parts.push(deployOn ? 'nothing' : 'nothing (deploy is off)');
  return { action: parts.join(', then '), short: short.join(', then ') || 'nothing', destructive };
}

let text = '';
process.stdin.on('data', (chunk) => (text += chunk));
process.stdin.on('end', () => {
  const plan = JSON.parse(text);
  const changes = plan.resource_changes ?? [];
  // terraform_data.teardown exists exactly when deploy is on (cluster-deployment.ts: count = deploy ? 1 : 0).
  const deployOn = changes.some((c) => c.type === 'terraform_data' && c.name === 'teardown' && kindOf(c.change.actions) !== 'delete');

  // Every node of the description, in its order, from the `nodes` output; then nodes that leave.
  const nodes = new Map();
  const listed = plan.output_changes?.nodes?.after ?? plan.output_changes?.nodes?.before;
  for (const n of Array.isArray(listed) ? listed : []) nodes.set(n.name, { role: n.role, steps: {} });

  const others = { create: 0, update: 0, replace: 0, delete: 0, 'no-op': 0 };
  for (const c of changes) {
    // A deposed object (the record a redeploy replaced, kept after an interrupted or failed apply) is
    // only dropped from the state: Terraform runs no destroy step for it.
    if (c.deposed) continue;
    const step = nodeStep(c.type, c.name, c.index);
    if (!step) {
      others[kindOf(c.change.actions)]++;
      continue;
    }
    if (!nodes.has(step.node)) nodes.set(step.node, { steps: {} });
    const entry = nodes.get(step.node);
    entry.role ??= step.role ?? INPUT_ROLES[input(c.change.before).role];
    entry.steps[step.kind] = { ...c.change, action_reason: c.action_reason };
  }

  const rows = [...nodes].map(([name, entry]) => ({ name, role: entry.role ?? '?', ...describe(entry.steps, deployOn) }));
  const out = ['demo: the plan, node by node:', ...rows.map((r) => nodeLine(r.role, r.name, r.action))];
  const counts = [
    ['create', 'to create'],
    ['update', 'to update in place'],
    ['replace', 'to replace'],
    ['delete', 'to destroy'],
    ['no-op', 'unchanged'],
  ]
    .filter(([k]) => others[k] > 0)
    .map(([k, words]) => `${others[k]} ${words}`);
  out.push(`demo: other resources (flake tree files, keys, certificates, token): ${counts.join(', ') || 'none'}`);
  if (arg('--show')) out.push(`demo: the full plan: ${arg('--show')}   (or run with NICO_FULL_PLAN=1)`);
  const touched = rows.filter((r) => r.destructive);
  if (touched.length > 0) out.push('', 'demo: this plan changes deployed nodes:', ...touched.map((r) => nodeLine(r.role, r.name, r.action)));
  // A restore (a new generation of `restore`) throws away everything written after the snapshot: asked
  // for like a redeploy. Not on the apply that creates the cluster, where it restores nothing.
  const restore = changes.find((c) => c.type === 'terraform_data' && c.name === 'restore' && !c.deposed && ['create', 'replace'].includes(kindOf(c.change.actions)));
  const creating = changes.some((c) => c.type === 'terraform_data' && c.name === 'cluster' && kindOf(c.change.actions) === 'create');
  const restoring = restore !== undefined && !creating;
  if (restoring) {
    const r = input(restore.change.after);
    out.push('', `demo: this plan restores the cluster from etcd snapshot ${r.snapshot} (generation ${r.generation}, unless a generation as high was restored before): everything written to the cluster after that snapshot is lost`);
  }
  console.log(out.join('\n'));

  const file = arg('--nodes-out');
  if (file) fs.writeFileSync(file, JSON.stringify(rows.map(({ name, role, action, short }) => ({ name, role, action, short }))));
  process.exitCode = touched.length > 0 || restoring ? 3 : 0;
});
