// The package's public API. Internal constructs (the graph the HCL module is generated from) are in
// ./internal and are not part of it.
export * from './cluster-description';
export * from './cluster-rules';
export * from './cluster-rules-hcl';
export * from './validate-cluster-description';
export * from './nico-cluster';
export * from './nico-cluster-stack';
export * from './example-cluster';
export { PROVIDER_VERSIONS, TERRAFORM_VERSION } from './versions';
export { InputFileError, readInputFile, MAX_INPUT_FILE_BYTES } from './read-input-file';
