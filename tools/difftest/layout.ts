// Guest memory layout shared by the native runner (runner.c has the same numbers) and the
// emulator side. Both map code and data at the same linear addresses so absolute
// addresses inside generated code mean the same thing in both runs.

export const CODE_BASE = 0x00100000;
/** Two pages: a case's code may start anywhere in them, also across the page boundary. */
export const CODE_SIZE = 0x2000;
export const CODE_PAGE_EDGE = CODE_BASE + 0x1000;
/** Longest sequence (the epilogue and some slack follow it). */
export const CODE_MAX = 0xf00;
export const DATA_BASE = 0x00200000;
export const DATA_SIZE = 0x2000;
/** Memory operands and string operations target [DATA_BASE, HEAP_END): across a page boundary. */
export const HEAP_END = DATA_BASE + 0x1100;
/** The page boundary inside the heap (accesses straddling it are generated on purpose). */
export const HEAP_PAGE_EDGE = DATA_BASE + 0x1000;
/** The stack lives in the upper half of the data area; ESP starts in its middle. */
export const INIT_ESP = DATA_BASE + 0x1800;

/** EFLAGS bits a user-mode program may set with POPF and that the cases compare. */
export const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, DF = 0x400, OF = 0x800;
export const ARITH = CF | PF | AF | ZF | SF | OF;
export const USER_FLAGS = ARITH | DF;
/** Bits that are always set in EFLAGS on both sides (bit 1; IF, which user code cannot clear). */
export const FIXED_FLAGS = 0x202;

/** Case/result file magic numbers (little-endian u32). */
export const CASES_MAGIC = 0x31435444; // 'DTC1'
export const RESULTS_MAGIC = 0x31525444; // 'DTR1'
