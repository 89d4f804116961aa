/*
 * nxtest: checks that the CPU enforces NX (execute disable) for user space. It places a
 * two-instruction function (mov eax, 42; ret) in
 *   mmap       a page from mmap(PROT_READ|PROT_WRITE)
 *   data       its own .data
 *   stack      its stack (linked with -z noexecstack)
 *   mprotect   a PROT_EXEC page that ran the function once and was then mprotect()ed to
 *              PROT_READ|PROT_WRITE (the translation that allowed the fetch must go)
 * and calls it in a child process each time: each must die of SIGSEGV from a page fault
 * with error code 0x15 (present, user, instruction fetch) at the function's address.
 * Then it calls the function in a PROT_EXEC page, which must return 42. Prints one
 * line, "nxtest: mmap SIGSEGV(0x15)  ...  exec 42  OK", and exits 0 when all hold.
 * Freestanding (raw i386 syscalls, no libc), built like hwwatch:
 *   gcc -m32 -static -nostdlib -ffreestanding -fno-pic -no-pie -Os -z noexecstack -o nxtest nxtest.c
 */
#define SYS_exit 1
#define SYS_fork 2
#define SYS_write 4
#define SYS_wait4 114
#define SYS_mprotect 125
#define SYS_rt_sigaction 174
#define SYS_mmap 90 /* old_mmap: one pointer to the six arguments */

#define PROT_READ 1
#define PROT_WRITE 2
#define PROT_EXEC 4
#define MAP_PRIVATE 2
#define MAP_ANONYMOUS 0x20
#define SIGSEGV 11
#define SA_SIGINFO 4

/* Exit status of a child whose SIGSEGV was the expected one (handler checked it). */
#define EXIT_NX_FAULT 77
#define EXIT_OTHER_FAULT 78

static int sys5(int n, int a, int b, int c, int d, int e) {
  int r;
  __asm__ volatile("int $0x80" : "=a"(r) : "a"(n), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e) : "memory");
  return r;
}

static int len(const char *s) { int n = 0; while (s[n]) n++; return n; }
static void put(const char *s) { sys5(SYS_write, 1, (int)s, len(s), 0, 0); }
static void puthex(unsigned v) {
  char b[11]; int i = 10; b[i] = 0;
  do { int d = v & 15; b[--i] = (char)(d < 10 ? '0' + d : 'a' + d - 10); v >>= 4; } while (v);
  b[--i] = 'x'; b[--i] = '0';
  put(b + i);
}
static void putnum(unsigned v) {
  char b[12]; int i = 11; b[i] = 0;
  do { b[--i] = (char)('0' + v % 10); v /= 10; } while (v);
  put(b + i);
}

/* mov eax, 42 ; ret */
static const unsigned char code[6] = { 0xb8, 42, 0, 0, 0, 0xc3 };
/* The same bytes in .data (writable, not executable); aligned so they do not straddle a page. */
static unsigned char data_fn[16] __attribute__((aligned(16))) = { 0xb8, 42, 0, 0, 0, 0xc3 };

typedef int (*fn_t)(void);
static unsigned expect_addr; /* where the fetch should fault (inherited by the child) */

struct kernel_sigaction { void *handler; unsigned long flags; void *restorer; unsigned long mask[2]; };
static struct kernel_sigaction sa;

/* i386 ucontext: uc_flags, uc_link, uc_stack (12 bytes), then struct sigcontext. */
#define UC_MCONTEXT 20
#define SC_TRAPNO (UC_MCONTEXT + 12 * 4)
#define SC_ERR (UC_MCONTEXT + 13 * 4)
#define SC_EIP (UC_MCONTEXT + 14 * 4)

/* In the child: the fault must be a #PF on the fetch of the function's first byte. */
static void on_segv(int sig, void *info, void *uc) {
  unsigned addr = *(unsigned *)((char *)info + 12); /* si_addr */
  unsigned trapno = *(unsigned *)((char *)uc + SC_TRAPNO);
  unsigned err = *(unsigned *)((char *)uc + SC_ERR);
  unsigned eip = *(unsigned *)((char *)uc + SC_EIP);
  (void)sig;
  if (trapno == 14 && err == 0x15 && addr == expect_addr && eip == expect_addr) sys5(SYS_exit, EXIT_NX_FAULT, 0, 0, 0, 0);
  put("(trap "); putnum(trapno); put(" err "); puthex(err); put(" addr "); puthex(addr);
  put(" eip "); puthex(eip); put(", expected #PF 0x15 at "); puthex(expect_addr); put(") ");
  sys5(SYS_exit, EXIT_OTHER_FAULT, 0, 0, 0, 0);
}

static void copy(unsigned char *d) { int i; for (i = 0; i < 6; i++) ((volatile unsigned char *)d)[i] = code[i]; }

static unsigned char *map(int prot) {
  static unsigned args[6];
  args[0] = 0; args[1] = 4096; args[2] = (unsigned)prot; args[3] = MAP_PRIVATE | MAP_ANONYMOUS;
  args[4] = (unsigned)-1; args[5] = 0;
  return (unsigned char *)sys5(SYS_mmap, (int)args, 0, 0, 0, 0);
}

/* Runs in the child: call the function at p, exit with what it returned. */
static void call_and_exit(unsigned char *p) {
  expect_addr = (unsigned)p;
  sa.handler = (void *)on_segv;
  sa.flags = SA_SIGINFO;
  sys5(SYS_rt_sigaction, SIGSEGV, (int)&sa, 0, 8, 0);
  sys5(SYS_exit, ((fn_t)p)(), 0, 0, 0, 0);
}

__attribute__((noinline)) static void on_stack(void) {
  unsigned char buf[16] __attribute__((aligned(16)));
  copy(buf);
  call_and_exit(buf);
}

/* Case numbers for run(). */
enum { MMAP_RW, DATA, STACK, MPROTECT, EXEC };

static void child(int which) {
  unsigned char *p;
  switch (which) {
  case MMAP_RW: p = map(PROT_READ | PROT_WRITE); copy(p); call_and_exit(p); break;
  case DATA: call_and_exit(data_fn); break;
  case STACK: on_stack(); break;
  case MPROTECT:
    p = map(PROT_READ | PROT_WRITE | PROT_EXEC); copy(p);
    if (((fn_t)p)() != 42) sys5(SYS_exit, 1, 0, 0, 0, 0);
    sys5(SYS_mprotect, (int)p, 4096, PROT_READ | PROT_WRITE, 0, 0);
    call_and_exit(p);
    break;
  default: p = map(PROT_READ | PROT_WRITE | PROT_EXEC); copy(p); call_and_exit(p); break;
  }
  sys5(SYS_exit, 2, 0, 0, 0, 0);
}

/* Fork a child for one case; returns its exit status (or 128 + signal). */
static int run(int which) {
  int status = 0, pid = sys5(SYS_fork, 0, 0, 0, 0, 0);
  if (pid == 0) { child(which); for (;;) {} }
  if (pid < 0) return -1;
  sys5(SYS_wait4, pid, (int)&status, 0, 0, 0);
  if ((status & 0x7f) != 0) return 128 + (status & 0x7f);
  return (status >> 8) & 0xff;
}

static int expect_nx(const char *name, int which) {
  int r = run(which);
  put(name);
  if (r == EXIT_NX_FAULT) { put(" SIGSEGV(0x15)  "); return 1; }
  if (r == EXIT_OTHER_FAULT) { put(" SIGSEGV, wrong fault  "); return 0; }
  if (r == 42) { put(" ran (returned 42)  "); return 0; }
  put(" status "); putnum((unsigned)r); put("  ");
  return 0;
}

void _start(void) {
  int ok = 1, r;
  put("nxtest: ");
  ok &= expect_nx("mmap", MMAP_RW);
  ok &= expect_nx("data", DATA);
  ok &= expect_nx("stack", STACK);
  ok &= expect_nx("mprotect", MPROTECT);
  r = run(EXEC);
  put("exec "); putnum((unsigned)r); put("  ");
  ok &= r == 42;
  put(ok ? "OK\n" : "FAILED\n");
  sys5(SYS_exit, ok ? 0 : 1, 0, 0, 0, 0);
  for (;;) {}
}
