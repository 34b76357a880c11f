export * from './cluster-description';
export * from './cluster-rules';
export * from './validate-cluster-description';
export * from './nico-cluster';
export * from './nico-cluster-stack';
export * from './example-cluster';
