/**
 * Provider version ranges of the generated module. The prebuilt bindings pin one exact version
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
 * precondition blocks (1.2), moved blocks into a module (1.1); 1.5.7 is the offline fallback the
 * bootstrap builds.
 */
export const TERRAFORM_VERSION = '>= 1.5.0';
