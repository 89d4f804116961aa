/*
 * hwwatch: sets hardware breakpoints on itself through perf_event_open
 * (PERF_TYPE_BREAKPOINT: Linux programs DR0-DR3/DR7 for this task) and checks that they
 * fire: a write watchpoint, a read/write watchpoint and an execute breakpoint, each
 * counted by the kernel's #DB handler. Prints "hwwatch: ... OK" and exits 0 when every
 * count is what the program did. Freestanding (raw i386 syscalls, no libc) so that it
 * adds a few KiB to the initramfs:
 *   gcc -m32 -static -nostdlib -ffreestanding -fno-pic -no-pie -Os -o hwwatch hwwatch.c
 */
#define SYS_exit 1
#define SYS_read 3
#define SYS_write 4
#define SYS_close 6
#define SYS_perf_event_open 336

#define PERF_TYPE_BREAKPOINT 5
#define HW_BREAKPOINT_W 2
#define HW_BREAKPOINT_RW 3
#define HW_BREAKPOINT_X 4

/* struct perf_event_attr up to bp_len (PERF_ATTR_SIZE_VER1 = 72 bytes). */
struct attr {
  unsigned int type, size;
  unsigned long long config, sample_period, sample_type, read_format, flags;
  unsigned int wakeup_events, bp_type;
  unsigned long long bp_addr, bp_len;
};
#define FLAG_EXCLUDE_KERNEL (1ull << 5)
#define FLAG_EXCLUDE_HV (1ull << 6)

static int sys5(int n, int a, int b, int c, int d, int e) {
  int r;
  __asm__ volatile("int $0x80" : "=a"(r) : "a"(n), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e) : "memory");
  return r;
}

static volatile int watched[4];
static struct attr at;

__attribute__((noinline)) static int target(int x) { __asm__ volatile(""); return x + 1; }

static int len(const char *s) { int n = 0; while (s[n]) n++; return n; }
static void put(const char *s) { sys5(SYS_write, 1, (int)s, len(s), 0, 0); }
static void putnum(unsigned v) {
  char b[12]; int i = 11; b[i] = 0;
  do { b[--i] = (char)('0' + v % 10); v /= 10; } while (v);
  put(b + i);
}

/** Open a breakpoint counter on this task; returns the fd or a negative errno. */
static int breakpoint(unsigned type, unsigned long addr, unsigned length) {
  at.type = PERF_TYPE_BREAKPOINT;
  at.size = sizeof(at);
  at.config = 0;
  at.sample_period = 0;
  at.flags = FLAG_EXCLUDE_KERNEL | FLAG_EXCLUDE_HV;
  at.bp_type = type;
  at.bp_addr = addr;
  at.bp_len = length;
  return sys5(SYS_perf_event_open, (int)&at, 0 /* this task */, -1 /* any cpu */, -1, 0);
}

static unsigned count(int fd) {
  unsigned long long v = 0;
  if (sys5(SYS_read, fd, (int)&v, 8, 0, 0) != 8) return 0xffffffffu;
  return (unsigned)v;
}

/** One check: prints "name got/want", returns 1 when they agree. */
static int report(const char *name, int fd, unsigned want) {
  if (fd < 0) { put(name); put(" perf_event_open failed, errno "); putnum((unsigned)-fd); put("\n"); return 0; }
  unsigned got = count(fd);
  sys5(SYS_close, fd, 0, 0, 0, 0);
  put(name); put(" "); putnum(got); put("/"); putnum(want); put("  ");
  return got == want;
}

void _start(void) {
  int ok = 1, fd, i, sum = 0;
  put("hwwatch: ");

  fd = breakpoint(HW_BREAKPOINT_W, (unsigned long)&watched[1], 4);
  for (i = 0; i < 3; i++) watched[1] = i;  /* 3 writes */
  sum += watched[1] + watched[0] + watched[2]; /* reads: not counted */
  watched[2] = 7;                            /* next to it: not counted */
  ok &= report("write", fd, 3);

  fd = breakpoint(HW_BREAKPOINT_RW, (unsigned long)&watched[1], 4);
  sum += watched[1];                         /* 1 read */
  watched[1] = sum;                          /* 1 write */
  sum += watched[3];                         /* elsewhere: not counted */
  ok &= report("read/write", fd, 2);

  /* The length must be the kernel's sizeof(long): 4 on i386, 8 under a 64-bit kernel. */
  fd = breakpoint(HW_BREAKPOINT_X, (unsigned long)&target, 4);
  if (fd == -22) fd = breakpoint(HW_BREAKPOINT_X, (unsigned long)&target, 8);
  for (i = 0; i < 4; i++) sum = target(sum); /* 4 calls */
  ok &= report("exec", fd, 4);

  put(ok ? "OK\n" : "FAILED\n");
  sys5(SYS_exit, ok ? 0 : 1, 0, 0, 0, 0);
  for (;;) {}
}
