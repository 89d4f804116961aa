// Every instruction handler, for the generated dispatcher.
export * from './ops-alu';
export * from './ops-move';
export * from './ops-sys';
export * from './core';
export * from './fast';
