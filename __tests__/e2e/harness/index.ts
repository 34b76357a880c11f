// End-to-end test harness: SSH "nodes" in a private network namespace with recording stand-ins.
// See lab.ts for what a lab is; ../harness.test.ts shows how to use it.
export { TestLab } from './lab';
export type { LabOptions, SshOptions } from './lab';
export { LabNode } from './node';
export type { NodeSpec, NodeControl, NodeState } from './node';
export type { Call, FlakeEntry, FlakeListing } from './calls';
export { readClusterModel, placePods } from './cluster';
export type { ClusterModel, ModelCluster, ModelNode, ModelProcess } from './cluster';
export { run } from './run';
export type { ExecOptions, ExecResult } from './run';
export { generateKeyPair } from './keys';
export type { KeyPair } from './keys';
export { findTool, requireLabTools } from './tools';
