/**
 * The floor Terraform itself sets: a configuration with the same number of bare `terraform_data` and
 * `local_file` instances as our plan, and nothing else. `terraform_data` stands in for the issue's
 * `null_resource`: our deployment uses it, and no null provider is served offline.
 */
import * as fs from 'fs';
import * as path from 'path';

export interface InstanceCounts {
  /** Managed `terraform_data` instances. */
  readonly terraformData: number;
  /** Managed `local_file` plus `local_sensitive_file` instances. */
  readonly localFiles: number;
  /** Every managed instance of the plan, by type. */
  readonly byType: Readonly<Record<string, number>>;
}

/**
 * - `blocks`: one bare resource block per instance (`resource "terraform_data" "n0001" {}`): the
 *   least Terraform can do for that many objects.
 * - `for_each`: one resource per type whose instances are keyed by name through `for_each` over a
 *   precomputed map of names (`for_each = local.nodes`, `nodes = { for n in local.node_names : n => n }`):
 *   what keying instances by name costs by itself. (A map: Terraform 1.11 plans a for_each over a set
 *   about 8 times slower at 1000 instances.)
 */
export type FloorStyle = 'blocks' | 'for_each';

const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${String(i + 1).padStart(4, '0')}`);

/** Writes the floor configuration as `main.tf.json` (JSON syntax, like the synthesized stack). */
export function writeFloor(dir: string, counts: InstanceCounts, style: FloorStyle): void {
  fs.mkdirSync(dir, { recursive: true });
  const nodes = names('n-', counts.terraformData);
  const files = names('f-', counts.localFiles);
  const file = { filename: '${path.module}/out/${each.key}', content: 'x' };
  const resource: Record<string, unknown> = {};
  const config: Record<string, unknown> = { terraform: { required_providers: { local: { source: 'hashicorp/local' } } }, resource };
  if (style === 'blocks') {
    if (nodes.length) resource.terraform_data = Object.fromEntries(nodes.map((n) => [n, {}]));
    if (files.length) resource.local_file = Object.fromEntries(files.map((f) => [f, { ...file, filename: `\${path.module}/out/${f}` }]));
  } else {
    config.locals = { node_names: nodes, file_names: files, nodes: '${{ for n in local.node_names : n => n }}', files: '${{ for f in local.file_names : f => f }}' };
    if (nodes.length) resource.terraform_data = { node: { for_each: '${local.nodes}' } };
    if (files.length) resource.local_file = { file: { ...file, for_each: '${local.files}' } };
  }
  fs.writeFileSync(path.join(dir, 'main.tf.json'), JSON.stringify(config, null, 1));
}

/** Counts the managed instances a plan (`terraform show -json <plan>`) would create, by type. */
export function countInstances(planJson: string): InstanceCounts {
  const plan = JSON.parse(planJson) as { resource_changes?: Array<{ mode: string; type: string; change: { actions: string[] } }> };
  const byType: Record<string, number> = {};
  for (const rc of plan.resource_changes ?? []) {
    if (rc.mode !== 'managed' || !rc.change.actions.includes('create')) continue;
    byType[rc.type] = (byType[rc.type] ?? 0) + 1;
  }
  return { terraformData: byType.terraform_data ?? 0, localFiles: (byType.local_file ?? 0) + (byType.local_sensitive_file ?? 0), byType };
}
