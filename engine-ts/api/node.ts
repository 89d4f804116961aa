// The engine API for Node hosts (CLI, tests, benchmarks): the same machine as the page,
// running in-process.
export * from './types';
export { createNodeMachine as createMachine } from '../worker/node-host';
