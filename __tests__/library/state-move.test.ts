import * as fs from 'fs';
import * as path from 'path';
import { VALID } from '../fixtures/invalid-descriptions';
import { writeGraphRoot } from '../helpers/module-root';
import { stateResources, synthApp, tempDir, terraform } from '../helpers/terraform';

jest.setTimeout(10 * 60 * 1000);

const SECRET_TYPES = /^(tls_private_key|tls_self_signed_cert|tls_cert_request|tls_locally_signed_cert|random_password)$/;

describe('a cluster built by nico-cluster 0.1, whose resources lived at stack level', () => {
  const work = tempDir('state-move');
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
  const out = path.join(work, 'out');
  const oldRoot = path.join(work, 'old');
  let before: Map<string, Record<string, any>>;
  let stackDir: string;

  beforeAll(() => {
    // 0.1's app synthesized the graph's resources at stack level: the module's files as a root module
    // are exactly that layout.
    writeGraphRoot(oldRoot, VALID, out);
    terraform(oldRoot, ['init', '-input=false']);
    terraform(oldRoot, ['apply', '-input=false', '-auto-approve']);
    before = new Map(stateResources(oldRoot).map((r) => [r.address, r.values]));
    expect(before.has('random_password.join_token')).toBe(true);
    // Today's app, for the same cluster and output directory, on the same state.
    const synth = synthApp(VALID, work);
    expect(synth.outDir).toBe(out);
    stackDir = synth.stackDir;
    fs.copyFileSync(path.join(oldRoot, 'terraform.tfstate'), path.join(out, 'terraform.tfstate'));
    terraform(stackDir, ['init', '-input=false']);
  });

  test('when planned by the module-based app, then every resource moves into module.cluster and nothing is created, replaced or destroyed', () => {
    terraform(stackDir, ['plan', '-input=false', '-out=move.tfplan']);
    const plan = JSON.parse(terraform(stackDir, ['show', '-json', 'move.tfplan']).stdout);
    const changes = plan.resource_changes as Array<{ address: string; previous_address?: string; type: string; change: { actions: string[] } }>;
    expect(changes.filter((c) => !c.change.actions.every((a) => a === 'no-op'))).toEqual([]);
    const moved = changes.filter((c) => c.previous_address !== undefined);
    expect(moved.length).toBe(before.size - [...before.keys()].filter((a) => a.startsWith('data.')).length);
    for (const c of moved) expect(c.address).toBe(`module.cluster.${c.previous_address}`);
    expect(moved.some((c) => SECRET_TYPES.test(c.type))).toBe(true);
  });

  test('when applied, then the join token, the machine key and the CAs are the ones made before', () => {
    terraform(stackDir, ['apply', '-input=false', 'move.tfplan']);
    const after = new Map(stateResources(stackDir).map((r) => [r.address, r.values]));
    const secrets = [...before.keys()].filter((a) => SECRET_TYPES.test(a.split('.')[0]!));
    expect(secrets).toEqual(expect.arrayContaining(['random_password.join_token', 'tls_private_key.machine[0]', 'tls_private_key.k3s_ca["server-ca"]']));
    for (const address of secrets) expect(after.get(`module.cluster.${address}`)).toEqual(before.get(address));
    expect([...after.keys()].filter((a) => !a.startsWith('module.cluster.'))).toEqual([]);
    expect(terraform(stackDir, ['plan', '-input=false', '-detailed-exitcode'], { allowFailure: true }).status).toBe(0);
  });
});
