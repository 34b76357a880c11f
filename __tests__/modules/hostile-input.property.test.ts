import * as fs from 'fs';
import * as path from 'path';
import * as fc from 'fast-check';
import { validateClusterDescription } from '../../constructs';
import { hostileCase, withField } from '../helpers/hostile';
import { writeJsonModuleRoot } from '../helpers/module-root';
import { tempDir, terraform } from '../helpers/terraform';

jest.setTimeout(10 * 60 * 1000);

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

interface Diagnostic {
  readonly summary: string;
  readonly detail: string;
  readonly address?: string;
  readonly snippet?: { readonly context?: string };
}

/** `terraform plan -json`: the diagnostics, and the planned content of every cluster.nix by module instance. */
function plan(dir: string): { diagnostics: Diagnostic[]; clusterNix: Record<string, string> } {
  const r = terraform(dir, ['plan', '-json', '-input=false', '-out=plan.bin'], { allowFailure: true });
  const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const diagnostics = events.filter((e) => e.type === 'diagnostic' && e.diagnostic.severity === 'error').map((e) => e.diagnostic);
  const clusterNix: Record<string, string> = {};
  if (r.status === 0) {
    const show = JSON.parse(terraform(dir, ['show', '-json', 'plan.bin']).stdout);
    for (const m of show.planned_values.root_module.child_modules ?? []) {
      const file = m.resources.find((x: { address: string }) => /local_file\.cluster_nix(\[0\])?$/.test(x.address));
      clusterNix[m.address] = file.values.content;
    }
  }
  return { diagnostics, clusterNix };
}

/** The module instance a diagnostic is about. */
const instanceOf = (d: Diagnostic) => (d.address ?? d.snippet?.context ?? '').match(/^module\.(k\d+)/)?.[1];

describe('hostile strings through the HCL module (property, batched into a few plans)', () => {
  const work = tempDir('module-hostile-property');
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  test('given 40 cases, then the module refuses exactly those main.ts refuses, naming the field, and writes accepted values literally', () => {
    const cases = fc.sample(hostileCase, { numRuns: 40, seed: 10 }).map((c, i) => ({ ...c, id: `k${i}`, description: withField(c.field, c.value) }));
    const refusedByTs = new Set(cases.filter((c) => validateClusterDescription(c.description).problems.length > 0).map((c) => c.id));
    expect(refusedByTs.size).toBeGreaterThan(5);
    expect(refusedByTs.size).toBeLessThan(cases.length);

    // A failed variable validation stops the plan before any precondition runs, in every instance:
    // plan again without the refused instances until the plan succeeds.
    let remaining = cases;
    const refusedByModule = new Map<string, string>();
    let result = { diagnostics: [] as Diagnostic[], clusterNix: {} as Record<string, string> };
    for (let round = 0; round < 3; round++) {
      writeJsonModuleRoot(work, Object.fromEntries(remaining.map((c) => [c.id, { ...c.description, outputDir: path.join(work, 'out', c.id) }])));
      if (round === 0) terraform(work, ['init', '-input=false']);
      result = plan(work);
      if (result.diagnostics.length === 0) break;
      for (const d of result.diagnostics) {
        const id = instanceOf(d);
        expect(id).toBeDefined();
        refusedByModule.set(id!, `${refusedByModule.get(id!) ?? ''} ${d.detail}`);
      }
      remaining = remaining.filter((c) => !refusedByModule.has(c.id));
    }
    expect(result.diagnostics).toEqual([]);
    expect([...refusedByModule.keys()].sort()).toEqual([...refusedByTs].sort());

    for (const c of cases) {
      const message = refusedByModule.get(c.id);
      // The message names the field: its snake_case name, and for a node the list it is in.
      const [list, attribute] = c.field.field.includes('.') ? c.field.field.split('.') : ['', c.field.field];
      if (message !== undefined) {
        expect(message).toContain(snake(attribute.replace(/\[\d+\]$/, '')));
        if (list) expect(message).toContain(snake(list.replace(/\[\d+\]$/, '')));
      } else if (!c.field.field.endsWith('hostKey') && !['sshUser', 'remoteFlakeDir', 'nixpkgs'].includes(c.field.field) && !c.field.field.endsWith('sshHost')) {
        // Accepted values that cluster.nix carries appear there as they are.
        expect(result.clusterNix[`module.${c.id}`]).toContain(`"${c.value}"`);
      }
    }
  });
});
