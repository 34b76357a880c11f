// Reads `terraform show -json <plan>` on stdin and prints one line per deployed node that the plan
// cleans (#minimal: the node leaves) or redeploys (its configuration changed), for scripts/demo.sh.
const NODE_RESOURCES = new Set(['init_node', 'control_plane', 'worker']);
let text = '';
process.stdin.on('data', (chunk) => (text += chunk));
process.stdin.on('end', () => {
  const plan = JSON.parse(text);
  for (const change of plan.resource_changes ?? []) {
    if (change.type !== 'terraform_data' || !NODE_RESOURCES.has(change.name)) continue;
    const actions = change.change.actions;
    if (!actions.includes('delete')) continue;
    const what = actions.includes('create') ? 'redeployed (its configuration changed)' : 'drained, removed from the cluster and cleaned with #minimal';
    console.log(`  ${change.index ?? change.name}: ${what}`);
  }
});
