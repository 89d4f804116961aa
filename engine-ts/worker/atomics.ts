// Atomic bit operations on 32-bit words of a shared memory (used for vCPU event lines).
export function atomicOr(memory: WebAssembly.Memory, byteOffset: number, bits: number): void {
  Atomics.or(new Int32Array(memory.buffer), byteOffset >> 2, bits);
}
export function atomicAnd(memory: WebAssembly.Memory, byteOffset: number, bits: number): void {
  Atomics.and(new Int32Array(memory.buffer), byteOffset >> 2, bits);
}
