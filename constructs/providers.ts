import { LocalProvider } from '@cdktf/provider-local/lib/provider';
import { RandomProvider } from '@cdktf/provider-random/lib/provider';
import { TlsProvider } from '@cdktf/provider-tls/lib/provider';
import { TerraformStack } from 'cdktf';
import { PROVIDER_VERSIONS, TERRAFORM_VERSION } from './versions';

export { PROVIDER_VERSIONS, TERRAFORM_VERSION };

/**
 * Internal (the module generator): adds the three providers the graph needs (terraform_data is
 * built in) with their ranges, so that the synthesized graph carries the module's required_providers.
 * Consumer stacks never need this: the module declares its providers and Terraform configures them.
 */
export function addProviders(stack: TerraformStack): void {
  stack.addOverride('terraform.required_version', TERRAFORM_VERSION);
  new LocalProvider(stack, 'local');
  new TlsProvider(stack, 'tls');
  new RandomProvider(stack, 'random');
  for (const [name, version] of Object.entries(PROVIDER_VERSIONS)) {
    stack.addOverride(`terraform.required_providers.${name}.version`, version);
  }
}
