/*
 * Native side of the differential tester: runs generated x86 sequences on the host CPU
 * (as a 32-bit process: gcc -m32 -no-pie) and records the architectural result.
 *
 *   runner CASES RESULTS          run every case of a case file, write a result file
 *   runner --time CASES RESULTS   same, and print each case's guest wall time in ns (one line each)
 *
 * A case whose EFLAGS word has bit 31 set runs with SS = a 16-bit data segment (LDT entry
 * 0: base DATA_BASE, limit 0xFFFF, B=0), so its stack operations use SP (stack16.ts).
 *
 * Code is copied to CODE_BASE and data filled at DATA_BASE (fixed mappings, the same
 * addresses the emulator uses), registers and EFLAGS are loaded, the sequence runs and an
 * epilogue (jmp [exit_ptr]) comes back here to save every register and EFLAGS. Faults
 * (#DE and anything else) are caught with a signal handler on an alternate stack, so the
 * guest's stack memory is never touched by the kernel. Formats: tools/difftest/native.ts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <asm/ldt.h>
#include <sys/syscall.h>

#if !defined(__i386__)
#error "build with gcc -m32: the runner executes 32-bit x86 code natively"
#endif

#define CODE_BASE 0x00100000u
#define CODE_SIZE 0x2000u
#define DATA_BASE 0x00200000u
#define DATA_SIZE 0x2000u
#define INIT_ESP (DATA_BASE + 0x1800u)
#define CASES_MAGIC 0x31435444u
#define RESULTS_MAGIC 0x31525444u
#define USER_FLAGS 0x0cd5u
#define FIXED_FLAGS 0x0202u

/* Shared with the assembly below (plain globals: the binary is not position independent). */
uint32_t host_esp;
uint32_t init_block[9]; /* eflags, then POPAD order: edi esi ebp (esp) ebx edx ecx eax */
uint32_t init_esp;
uint32_t code_entry = CODE_BASE;
uint32_t exit_ptr;
uint32_t out_gpr[8]; /* eax ecx edx ebx esp ebp esi edi */
uint32_t out_eflags;
volatile uint32_t in_guest;
/* SS of the host, and the SS a case runs with (the host's, or the 16-bit LDT segment). */
uint32_t host_ss, guest_ss;

void enter_guest(void);
void guest_exit(void);
void fault_resume(void);

__asm__(
    ".intel_syntax noprefix\n"
    ".text\n"
    ".globl enter_guest\n"
    "enter_guest:\n"
    "  pushad\n"
    "  mov dword ptr [host_esp], esp\n"
    "  lea esp, [init_block]\n"
    "  popfd\n"
    "  popad\n"
    "  mov ss, word ptr [guest_ss]\n"
    "  mov esp, dword ptr [init_esp]\n"
    "  jmp dword ptr [code_entry]\n"
    ".globl guest_exit\n"
    "guest_exit:\n"
    "  mov dword ptr [out_gpr + 0], eax\n"
    "  mov dword ptr [out_gpr + 4], ecx\n"
    "  mov dword ptr [out_gpr + 8], edx\n"
    "  mov dword ptr [out_gpr + 12], ebx\n"
    "  mov dword ptr [out_gpr + 16], esp\n"
    "  mov dword ptr [out_gpr + 20], ebp\n"
    "  mov dword ptr [out_gpr + 24], esi\n"
    "  mov dword ptr [out_gpr + 28], edi\n"
    "  mov ss, word ptr [host_ss]\n"
    "  lea esp, [out_eflags + 4]\n"
    "  pushfd\n"
    ".globl fault_resume\n"
    "fault_resume:\n"
    "  mov esp, dword ptr [host_esp]\n"
    "  cld\n"
    "  popad\n"
    "  ret\n"
    ".att_syntax prefix\n");

static uint32_t fault_sig, fault_trap, fault_eip;

static void on_fault(int sig, siginfo_t *si, void *ucv) {
  (void)si;
  ucontext_t *uc = (ucontext_t *)ucv;
  greg_t *g = uc->uc_mcontext.gregs;
  if (!in_guest) {
    static const char msg[] = "runner: fault outside guest code\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(3);
  }
  fault_sig = (uint32_t)sig;
  fault_trap = (uint32_t)g[REG_TRAPNO];
  fault_eip = (uint32_t)g[REG_EIP];
  out_gpr[0] = (uint32_t)g[REG_EAX];
  out_gpr[1] = (uint32_t)g[REG_ECX];
  out_gpr[2] = (uint32_t)g[REG_EDX];
  out_gpr[3] = (uint32_t)g[REG_EBX];
  out_gpr[4] = (uint32_t)g[REG_UESP];
  out_gpr[5] = (uint32_t)g[REG_EBP];
  out_gpr[6] = (uint32_t)g[REG_ESI];
  out_gpr[7] = (uint32_t)g[REG_EDI];
  out_eflags = (uint32_t)g[REG_EFL];
  /* Resume in fault_resume, which restores the host's registers and returns from enter_guest. */
  g[REG_EIP] = (greg_t)(uintptr_t)fault_resume;
  g[REG_SS] = (greg_t)host_ss;
  g[REG_EFL] &= ~(greg_t)0x400; /* DF */
}

/* xorshift32 fill: must match fillData in tools/difftest/prng.ts. */
static void fill_data(uint32_t *w, uint32_t n, uint32_t seed) {
  uint32_t s = seed ^ 0x9e3779b9u;
  if (s == 0) s = 1;
  for (uint32_t i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    w[i] = s;
  }
}

static void die(const char *what) {
  fprintf(stderr, "runner: %s: %s\n", what, strerror(errno));
  exit(2);
}

static void *map_fixed(uint32_t addr, uint32_t size, int prot) {
  void *p = mmap((void *)(uintptr_t)addr, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (p == MAP_FAILED) die("mmap at a fixed address");
  if ((uint32_t)(uintptr_t)p != addr) {
    fprintf(stderr, "runner: the kernel ignored MAP_FIXED_NOREPLACE (got %p)\n", p);
    exit(2);
  }
  return p;
}

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) die(path);
  if (fseek(f, 0, SEEK_END) != 0) die("seek");
  long n = ftell(f);
  if (n < 0) die("tell");
  rewind(f);
  uint8_t *buf = malloc((size_t)n + 1);
  if (!buf) die("malloc");
  if (fread(buf, 1, (size_t)n, f) != (size_t)n) die("read");
  fclose(f);
  *len = (size_t)n;
  return buf;
}

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

int main(int argc, char **argv) {
  int timing = 0;
  if (argc == 4 && strcmp(argv[1], "--time") == 0) { timing = 1; argv++; argc--; }
  if (argc != 3) {
    fprintf(stderr, "usage: runner [--time] CASES RESULTS\n");
    return 2;
  }
  uint8_t *code = map_fixed(CODE_BASE, CODE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC);
  uint32_t *data = map_fixed(DATA_BASE, DATA_SIZE, PROT_READ | PROT_WRITE);
  static uint32_t pristine[DATA_SIZE / 4];

  static uint8_t altstack[1 << 16];
  stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0 };
  if (sigaltstack(&ss, NULL) != 0) die("sigaltstack");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  const int sigs[] = { SIGFPE, SIGSEGV, SIGILL, SIGBUS, SIGTRAP };
  for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if (sigaction(sigs[i], &sa, NULL) != 0) die("sigaction");
  exit_ptr = (uint32_t)(uintptr_t)guest_exit;
  /* LDT entry 0 (selector 7): a 16-bit data segment over the data area, for cases that ask
     for a stack segment with B=0 (EFLAGS word bit 31 in the case file). */
  struct user_desc ldt = { .entry_number = 0, .base_addr = DATA_BASE, .limit = 0xffff, .seg_32bit = 0,
    .contents = 0, .read_exec_only = 0, .limit_in_pages = 0, .seg_not_present = 0, .useable = 1 };
  if (syscall(SYS_modify_ldt, 1, &ldt, sizeof ldt) != 0) die("modify_ldt");
  { uint16_t s; __asm__ volatile("mov %%ss, %0" : "=r"(s)); host_ss = s; }

  size_t len;
  uint8_t *in = read_file(argv[1], &len);
  if (len < 8 || rd32(in) != CASES_MAGIC) { fprintf(stderr, "runner: %s is not a case file\n", argv[1]); return 2; }
  uint32_t count = rd32(in + 4);
  FILE *out = fopen(argv[2], "wb");
  if (!out) die(argv[2]);
  uint32_t hdr[2] = { RESULTS_MAGIC, count };
  fwrite(hdr, 4, 2, out);

  size_t pos = 8;
  uint32_t *changes = malloc(DATA_SIZE * sizeof(uint32_t));
  if (!changes) die("malloc");
  for (uint32_t c = 0; c < count; c++) {
    /* Case: gpr[8], eflags, data seed, code address, code length, code (padded to 4 bytes). */
    if (pos + 48 > len) { fprintf(stderr, "runner: case %u is truncated\n", c); return 2; }
    const uint8_t *p = in + pos;
    uint32_t gpr[8];
    for (int i = 0; i < 8; i++) gpr[i] = rd32(p + 4 * i);
    uint32_t eflags = rd32(p + 32), seed = rd32(p + 36), caddr = rd32(p + 40), clen = rd32(p + 44);
    if (clen > CODE_SIZE || pos + 48 + clen > len) { fprintf(stderr, "runner: case %u has a bad code length %u\n", c, clen); return 2; }
    if (caddr < CODE_BASE || caddr - CODE_BASE > CODE_SIZE - 8 - clen) { fprintf(stderr, "runner: case %u does not fit the code area\n", c); return 2; }
    uint8_t *at = code + (caddr - CODE_BASE);
    memcpy(at, p + 48, clen);
    at[clen] = 0xff; /* jmp dword [exit_ptr] */
    at[clen + 1] = 0x25;
    uint32_t ep = (uint32_t)(uintptr_t)&exit_ptr;
    memcpy(at + clen + 2, &ep, 4);
    code_entry = caddr;
    pos += 48 + ((clen + 3) & ~3u);

    fill_data(data, DATA_SIZE / 4, seed);
    memcpy(pristine, data, DATA_SIZE);
    init_block[0] = (eflags & USER_FLAGS) | FIXED_FLAGS;
    init_block[1] = gpr[7]; init_block[2] = gpr[6]; init_block[3] = gpr[5]; init_block[4] = 0;
    init_block[5] = gpr[3]; init_block[6] = gpr[2]; init_block[7] = gpr[1]; init_block[8] = gpr[0];
    init_esp = gpr[4];
    guest_ss = (eflags & 0x80000000u) ? 7 : host_ss;
    fault_sig = 0; fault_trap = 0; fault_eip = 0;

    struct timespec t0, t1;
    if (timing) clock_gettime(CLOCK_MONOTONIC, &t0);
    in_guest = 1;
    enter_guest();
    in_guest = 0;
    if (timing) {
      clock_gettime(CLOCK_MONOTONIC, &t1);
      printf("%llu\n", (unsigned long long)((uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u + (uint64_t)(t1.tv_nsec - t0.tv_nsec)));
    }

    /* Result: status (0 ok, else the signal), trap number, fault EIP, gpr[8], eflags,
       number of changed data bytes, then (offset << 8 | new byte) for each. */
    uint32_t n = 0;
    const uint8_t *now = (const uint8_t *)data, *was = (const uint8_t *)pristine;
    for (uint32_t w = 0; w < DATA_SIZE / 4; w++) {
      if (data[w] == pristine[w]) continue;
      for (uint32_t b = w * 4; b < w * 4 + 4; b++)
        if (now[b] != was[b]) changes[n++] = b << 8 | now[b];
    }
    uint32_t rec[13] = { fault_sig, fault_trap, fault_eip };
    memcpy(rec + 3, out_gpr, 32);
    rec[11] = out_eflags;
    rec[12] = n;
    fwrite(rec, 4, 13, out);
    fwrite(changes, 4, n, out);
  }
  if (fclose(out) != 0) die("write results");
  return 0;
}
