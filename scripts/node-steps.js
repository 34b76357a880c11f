// What scripts/plan-summary.js and scripts/apply-progress.js share: which Terraform resources are a
// node's steps (constructs/cluster-deployment.ts, node-deployment.ts, node-install.ts) and the words
// the demo uses for them. Resources are matched by type and name in any module, keyed by node name.

/** terraform_data resource name -> the node's role while that resource deploys it. */
const DEPLOY_ROLES = { init_node: 'init-master', control_plane: 'control-plane', worker: 'worker' };
/** The role the `nodes` output and the node script's NICO_ROLE (input.role) name. */
const INPUT_ROLES = { init: 'init-master', joiner: 'control-plane', worker: 'worker' };

/**
 * The node step a resource instance is, or undefined: `{ node, kind }` with kind `deploy` (the node's
 * deployment record: its create deploys, its destroy drains and cleans), `install` or `forget`.
 */
function nodeStep(type, name, key) {
  if (type !== 'terraform_data' || typeof key !== 'string') return undefined;
  if (name in DEPLOY_ROLES) return { node: key, kind: 'deploy', role: DEPLOY_ROLES[name] };
  if (name === 'install' || name === 'forget') return { node: key, kind: name };
  return undefined;
}

/** The line of one node: its role in a column, then `name: what happens` (what tests and users grep). */
const nodeLine = (role, node, what) => `  ${(role ?? '?').padEnd(14)} ${node}: ${what}`;

/** Seconds as `m:ss`, for the elapsed time since the apply started. */
const clock = (seconds) => `${Math.floor(seconds / 60)}:${String(Math.floor(seconds % 60)).padStart(2, '0')}`;

module.exports = { DEPLOY_ROLES, INPUT_ROLES, nodeStep, nodeLine, clock };
