// The engine API for the browser: machines run in Web Workers.
export * from './types';
export { createWorkerMachine as createMachine } from '../worker/browser';
export * from './disks';
