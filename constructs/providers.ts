import { LocalProvider } from '@cdktf/provider-local/lib/provider';
import { RandomProvider } from '@cdktf/provider-random/lib/provider';
import { TlsProvider } from '@cdktf/provider-tls/lib/provider';
import { TerraformStack } from 'cdktf';

/**
 * Provider version ranges of the stack and the module. The prebuilt bindings pin one exact version
 * each; a range lets users take fixes, and lets the offline test mirror hold the releases that can be
 * built here (local 2.9.0, tls 4.1.0, random 3.6.0). Every attribute we use exists across each range.
 */
export const PROVIDER_VERSIONS: Record<'local' | 'tls' | 'random', string> = {
  local: '>= 2.6.1, < 3.0.0',
  tls: '>= 4.1.0, < 5.0.0',
  random: '>= 3.6.0, < 4.0.0',
};

/**
 * Terraform versions of the stack and the module: terraform_data (1.4), optional() defaults (1.3),
 * precondition blocks (1.2); 1.5.7 is the offline fallback the bootstrap builds.
 */
export const TERRAFORM_VERSION = '>= 1.5.0';

/**
 * Adds the three providers nico-cluster needs (terraform_data is built in) with their ranges, and the
 * Terraform versions it works with: Terraform itself then refuses an older binary with a clear message.
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
