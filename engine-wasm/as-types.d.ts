// Lets engine-wasm/memory-map.ts be both TypeScript and AssemblyScript: in TypeScript the
// AssemblyScript integer type names are plain numbers.
declare type u32 = number;
