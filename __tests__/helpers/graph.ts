import { Testing, TerraformStack } from 'cdktf';
import { addProviders, NicoClusterGraph } from '../../constructs/internal';

/** The graph the HCL module is generated from, synthesized as the generator does it. */
export function synthGraph(): { json: string; config: any } {
  const app = Testing.app();
  const stack = new TerraformStack(app, 'module');
  addProviders(stack);
  new NicoClusterGraph(stack, 'cluster');
  const json = Testing.synth(stack);
  return { json, config: JSON.parse(json) };
}
