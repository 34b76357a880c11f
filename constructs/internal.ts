/**
 * Internal entry: the constructs the HCL module is generated from, for scripts/generate-modules.ts
 * and the tests. Not part of the package's public API (lib/ does not ship them): their Terraform
 * names are fixed, so they are only usable as a module's whole content.
 */
export { NicoClusterGraph, MODULE_OUTPUTS } from './nico-cluster-graph';
export { addProviders } from './providers';
export { NIX_TEMPLATES_DIR, TEMPLATES_DIR, listFiles } from './cluster-inputs';
export { canonicalCluster } from './canonical-cluster';
