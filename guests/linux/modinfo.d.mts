export interface ModuleDeps {
  name: string;
  depends: string[];
  softPre: string[];
}

export declare function readModinfo(elf: Uint8Array): Map<string, string[]>;
export declare function canonicalName(name: string): string;
export declare function dependsList(values: string[]): string[];
export declare function softdepPre(values: string[]): string[];
export declare function loadOrder(wanted: string[], lookup: (name: string) => ModuleDeps | undefined): string[];
