; nx: execute-disable (XD/NX) and U/S on instruction fetches, PAE paging with EFER.NXE.
; Fetches from pages made non-executable at each level that has the XD bit (a 2 MiB PDE,
; a 4 KiB PTE, a PDE above a 4 KiB page table), at CPL 0 and CPL 3, with no TLB entry
; for the page and through one made first by a read, a write or an earlier fetch: each must
; be #PF with the I/D bit (0x11 supervisor, 0x15 user), CR2 and the saved EIP the address
; of the byte fetched. Also: an instruction that crosses into an XD page, and code that
; makes its own page XD and invalidates it (INVLPG, MOV CR3, MOV CR4) faults on the very
; next fetch. U/S: CPL 3 fetches from a supervisor page (PTE or PDE without U) fault, also
; through a TLB entry made by a supervisor access. SMEP only when CPUID claims it.
; (PAE PDPTEs have no XD bit: bit 63 is reserved there.)
%include "lib.inc"

test_name: db "nx", 0
banner:    db "pvlab cpu-tests: nx", 10, 0

PDPT    equ SCRATCH                 ; 4 entries (32-byte aligned)
PD0     equ SCRATCH + 0x1000        ; 0..1 GiB
PT_A    equ SCRATCH + 0x2000        ; PD0[9]:  V_A, user PDE
PT_B    equ SCRATCH + 0x3000        ; PD0[10]: V_B, PDE without U
PT_C    equ SCRATCH + 0x4000        ; PD0[11]: V_C, PDE with XD
CODE_P  equ SCRATCH + 0x10000       ; mov eax, MAGIC ; jmp ecx
CODE_S  equ SCRATCH + 0x12000       ; two pages: an instruction across their boundary
CODE_W  equ SCRATCH + 0x14000       ; three pages of self-invalidating code (snip_*)

V_2M    equ 0x1000000               ; PD0[8]: 2 MiB page -> physical 0x200000
V_2M_CODE equ V_2M + CODE_P - 0x200000
V_A     equ 0x1200000               ; PT_A[0] -> CODE_P (user)
V_SUP   equ V_A + 0x1000            ; PT_A[1] -> CODE_P (supervisor)
V_S     equ V_A + 0x2000            ; PT_A[2], PT_A[3] -> CODE_S pages
V_W     equ V_A + 0x4000            ; PT_A[4..6] -> CODE_W pages
V_B     equ 0x1400000               ; PT_B[0] -> CODE_P (user PTE under a supervisor PDE)
V_C     equ 0x1600000               ; PT_C[0] -> CODE_P (no XD in the PTE, XD in the PDE)

MAGIC   equ 0x600DC0DE
XD      equ 0x80000000              ; bit 63 of an entry: bit 31 of its high dword

PG_P    equ 1
PG_RW   equ 2
PG_US   equ 4
PG_PS   equ 0x80
URW     equ PG_P | PG_RW | PG_US
SRW     equ PG_P | PG_RW

%define PTE(pt, va) ((pt) + (((va) >> 12) & 0x1FF) * 8)
%define PTE_A(va) PTE(PT_A, va)

; ring 3 cannot INVLPG: a DPL3 gate does it for the tests (eax = address)
INVLPG_VEC equ 0x71
SUPREAD_VEC equ 0x72                ; a DPL3 gate whose hook reads V_B at CPL 0
hook_invlpg:
        mov     eax, [ebp + F_EAX]
        invlpg  [eax]
        ret

; SETHI address-of-entry, high dword, va: set the entry's high dword (XD = bit 31), then INVLPG va
%macro SETHI 3
        mov     dword [(%1) + 4], %2
        invlpg  [%3]
%endmacro
; the same from ring 3 (through the INVLPG gate)
%macro SETHI_U 3
        mov     dword [(%1) + 4], %2
        push    eax
        mov     eax, %3
        int     INVLPG_VEC
        pop     eax
%endmacro

; XPF name, instruction(s), error code, address: the instruction(s) must raise #PF with
; this error code, CR2 = address and the saved EIP = address (a fetch fault). Should the
; MAGIC code run instead, its jmp ecx lands on the check, which then fails.
%macro XPF 4
        EXPECT_FAULT %%r
        mov     ecx, %%r
        %2
%%r:    CHECK_FAULT %1, 14, %3
        CHECK_EQ {%1, ": CR2"}, [last_cr2], %4
        CHECK_EQ {%1, ": EIP"}, [last_eip], %4
%endmacro

; RUNS name, address: jumping to the MAGIC code at address runs it and comes back
%macro RUNS 2
        EXPECT_FAULT %%r
        mov     ecx, %%r
        xor     eax, eax
        mov     edx, %2
        jmp     edx
%%r:    mov     dword [resume_eip], 0
        CHECK_EQ {%1, ": no fault"}, [last_vec], -1
        CHECK_EQ {%1, ": the code ran"}, eax, MAGIC
%endmacro

test_main:
        ; the code pages
        mov     byte [CODE_P], 0xB8
        mov     dword [CODE_P + 1], MAGIC
        mov     word [CODE_P + 5], 0xE1FF               ; jmp ecx
        ; CODE_S: B8 DE | C0 0D 60 FF E1 across the two pages
        mov     byte [CODE_S + 0xFFE], 0xB8
        mov     byte [CODE_S + 0xFFF], MAGIC & 0xFF
        mov     dword [CODE_S + 0x1000], MAGIC >> 8 | 0xFF000000
        mov     byte [CODE_S + 0x1003], 0xFF
        mov     byte [CODE_S + 0x1004], 0xE1
        mov     esi, snip_invlpg
        mov     edi, CODE_W
        mov     ecx, snip_invlpg_end - snip_invlpg
        rep movsb
        mov     esi, snip_cr3
        mov     edi, CODE_W + 0x1000
        mov     ecx, snip_cr3_end - snip_cr3
        rep movsb
        mov     esi, snip_cr4
        mov     edi, CODE_W + 0x2000
        mov     ecx, snip_cr4_end - snip_cr4
        rep movsb
        HOOK    INVLPG_VEC, hook_invlpg
        IDT_GATE INVLPG_VEC, [isr_table + INVLPG_VEC*4], KCODE, 0xEE
        HOOK    SUPREAD_VEC, hook_supread
        IDT_GATE SUPREAD_VEC, [isr_table + SUPREAD_VEC*4], KCODE, 0xEE

        mov     eax, 0x80000000
        cpuid
        cmp     eax, 0x80000001
        jb      .nonx
        mov     eax, 0x80000001
        cpuid
        test    edx, 1 << 20
        jz      .nonx
        call    build_tables
        mov     eax, cr4
        or      eax, 0x20                               ; PAE
        mov     cr4, eax
        mov     eax, PDPT
        mov     cr3, eax
        mov     ecx, 0xC0000080
        rdmsr
        or      eax, 1 << 11                            ; EFER.NXE
        wrmsr
        mov     eax, cr0
        or      eax, 0x80000000
        mov     cr0, eax
        jmp     .on
.on:    CHECK_EQ "PAE paging with NXE on", [CODE_P + 1], MAGIC
        call    t_supervisor
        call    t_fetch_window
        call    t_us
        call    t_smep
        RUN_USER u_nx
        RUN_USER u_us
        ret
.nonx:  FAIL    "CPUID 0x80000001 EDX bit 20 (NX)", "not reported: nothing to test"
        ret

build_tables:
        mov     edi, PDPT
        mov     ecx, 0x5000 / 4
        xor     eax, eax
        rep stosd
        mov     dword [PDPT], PD0 | PG_P
        ; 0..8 MiB identity, 2 MiB user pages (the image, stacks and scratch)
        mov     edi, PD0
        mov     eax, URW | PG_PS
        mov     ecx, 4
.l:     mov     [edi], eax
        add     edi, 8
        add     eax, 0x200000
        loop    .l
        mov     dword [PD0 + 8*8], 0x200000 | URW | PG_PS
        mov     dword [PD0 + 9*8], PT_A | URW
        mov     dword [PD0 + 10*8], PT_B | SRW          ; no U in the PDE
        mov     dword [PD0 + 11*8], PT_C | URW
        mov     dword [PD0 + 11*8 + 4], XD              ; XD in the PDE
        mov     dword [PTE_A(V_A)], CODE_P | URW
        mov     dword [PTE_A(V_SUP)], CODE_P | SRW
        mov     dword [PTE_A(V_S)], CODE_S | URW
        mov     dword [PTE_A(V_S + 0x1000)], (CODE_S + 0x1000) | URW
        mov     dword [PTE_A(V_S + 0x1000) + 4], XD
        mov     dword [PTE_A(V_W)], CODE_W | SRW
        mov     dword [PTE_A(V_W + 0x1000)], (CODE_W + 0x1000) | SRW
        mov     dword [PTE_A(V_W + 0x2000)], (CODE_W + 0x2000) | SRW
        mov     dword [PTE(PT_B, V_B)], CODE_P | URW
        mov     dword [PTE(PT_C, V_C)], CODE_P | URW
        ret

; ---- CPL 0 ----
t_supervisor:
        ; 4 KiB page, XD in the PTE
        RUNS    "PTE without XD: supervisor fetch runs", V_A
        SETHI   PTE_A(V_A), XD, V_A
        mov     eax, V_A
        XPF     "PTE XD, no TLB entry: #PF(0x11)", {jmp eax}, 0x11, V_A
        mov     eax, [V_A]
        mov     eax, V_A
        XPF     "PTE XD, TLB entry from a read: #PF(0x11)", {jmp eax}, 0x11, V_A
        mov     [V_A + 0x800], eax
        mov     eax, V_A
        XPF     "PTE XD, TLB entry from a write: #PF(0x11)", {jmp eax}, 0x11, V_A
        mov     eax, [V_A]
        mov     eax, V_A
        mov     ebp, esp
        XPF     "PTE XD, CALL through a read-made TLB entry: #PF(0x11)", {call eax}, 0x11, V_A
        lea     eax, [ebp - 4]                          ; the CALL completed: the fault is at the target
        mov     edx, esp
        CHECK_EQ "PTE XD, CALL: the return address was pushed", edx, eax
        mov     esp, ebp
        SETHI   PTE_A(V_A), 0, V_A
        RUNS    "PTE XD cleared + INVLPG: runs again", V_A
        ; the page just ran (its translation allowed fetches): XD + INVLPG must stop the next one
        SETHI   PTE_A(V_A), XD, V_A
        mov     eax, V_A
        XPF     "PTE XD set after the page ran, INVLPG: #PF(0x11)", {jmp eax}, 0x11, V_A
        SETHI   PTE_A(V_A), 0, V_A
        ; 2 MiB page, XD in the PDE
        RUNS    "2 MiB PDE without XD: supervisor fetch runs", V_2M_CODE
        SETHI   PD0 + 8*8, XD, V_2M_CODE
        mov     eax, V_2M_CODE
        XPF     "2 MiB PDE XD, no TLB entry: #PF(0x11)", {jmp eax}, 0x11, V_2M_CODE
        mov     eax, [V_2M_CODE]
        mov     eax, V_2M_CODE
        XPF     "2 MiB PDE XD, TLB entry from a read: #PF(0x11)", {jmp eax}, 0x11, V_2M_CODE
        mov     eax, [V_2M + 0x1000]                    ; another 4 KiB of the same 2 MiB page
        mov     eax, V_2M + 0x1000
        XPF     "2 MiB PDE XD, another 4 KiB of it: #PF(0x11)", {jmp eax}, 0x11, V_2M + 0x1000
        SETHI   PD0 + 8*8, 0, V_2M_CODE
        invlpg  [V_2M + 0x1000]
        ; INVLPG of any address in a 2 MiB page drops the translation of all of it
        ; (the same for a data access: a remapped 2 MiB page is seen after INVLPG of another 4 KiB)
        mov     eax, [V_2M_CODE + 1]                    ; a TLB entry for this 4 KiB
        mov     dword [PD0 + 8*8], 0x400000 | URW | PG_PS
        invlpg  [V_2M]
        mov     eax, [V_2M_CODE + 1]                    ; now physical 0x400000 + ...: not MAGIC
        mov     dword [PD0 + 8*8], 0x200000 | URW | PG_PS
        invlpg  [V_2M]
        mov     edx, [V_2M_CODE + 1]
        cmp     eax, edx
        CHECK   ne, "2 MiB page remapped, INVLPG of another 4 KiB of it: a read sees the new frame"
        ; (QEMU TCG may run a cached translated block instead: see run-qemu.sh)
        UNLESS_WORD "no-large-invlpg", "2 MiB PDE XD set after it ran, INVLPG of another 4 KiB of it"
        RUNS    "2 MiB PDE XD cleared: runs", V_2M_CODE
        SETHI   PD0 + 8*8, XD, V_2M                     ; INVLPG of the page's first 4 KiB only
        mov     eax, V_2M_CODE
        XPF     "2 MiB PDE XD set after it ran, INVLPG of another 4 KiB of it: #PF(0x11)", {jmp eax}, 0x11, V_2M_CODE
        SETHI   PD0 + 8*8, 0, V_2M
        invlpg  [V_2M_CODE]
        END_UNLESS
        ; XD in a PDE that points to a page table (the PTE has no XD)
        mov     eax, V_C
        XPF     "PDE XD above a 4 KiB table, no TLB entry: #PF(0x11)", {jmp eax}, 0x11, V_C
        mov     eax, [V_C]
        mov     eax, V_C
        XPF     "PDE XD above a 4 KiB table, TLB entry from a read: #PF(0x11)", {jmp eax}, 0x11, V_C
        mov     dword [PD0 + 11*8 + 4], 0
        invlpg  [V_C]
        RUNS    "PDE XD cleared + INVLPG: runs", V_C
        mov     dword [PD0 + 11*8 + 4], XD
        invlpg  [V_C]
        ; an instruction that starts on an executable page and ends on an XD page
        mov     eax, [V_S + 0x1000]
        mov     eax, V_S + 0xFFE
        EXPECT_FAULT .r1
        jmp     eax
.r1:    CHECK_FAULT "instruction crossing into an XD page: #PF(0x11)", 14, 0x11
        CHECK_EQ "instruction crossing into an XD page: CR2 = first byte on the XD page", [last_cr2], V_S + 0x1000
        CHECK_EQ "instruction crossing into an XD page: EIP = its first byte", [last_eip], V_S + 0xFFE
        SETHI   PTE_A(V_S + 0x1000), 0, V_S + 0x1000
        RUNS    "instruction crossing into an executable page runs", V_S + 0xFFE
        ret

; Self-invalidating code (copied to CODE_W, run at V_W): ebx = the high dword of its own
; PTE, esi = its own page, edi = PDPT. It makes its own page XD and invalidates the
; translation: the next instruction fetch (at snip_*_fault) must fault.
snip_invlpg:
        mov     dword [ebx], XD
        invlpg  [esi]
snip_invlpg_fault:
        nop
        jmp     ecx
snip_invlpg_end:
snip_cr3:
        mov     dword [ebx], XD
        mov     cr3, edi
snip_cr3_fault:
        nop
        jmp     ecx
snip_cr3_end:
snip_cr4:
        mov     dword [ebx], XD
        mov     eax, cr4
        xor     eax, 0x80                               ; PGE toggled: every translation goes
        mov     cr4, eax
snip_cr4_fault:
        nop
        jmp     ecx
snip_cr4_end:

; SELF name, page, snippet: run the snippet in its page; #PF(0x11) on the fetch after it
%macro SELF 3
        mov     ebx, PTE_A(%2) + 4
        mov     esi, %2
        mov     edi, PDPT
        mov     ecx, %%r
        mov     eax, %2
        EXPECT_FAULT %%r
        jmp     eax
%%r:    CHECK_FAULT %1, 14, 0x11
        CHECK_EQ {%1, ": CR2 = the next instruction"}, [last_cr2], %2 + %3_fault - %3
        CHECK_EQ {%1, ": EIP = the next instruction"}, [last_eip], %2 + %3_fault - %3
        SETHI   PTE_A(%2), 0, %2
%endmacro

t_fetch_window:
        SELF    "code makes its own page XD, INVLPG: the next fetch faults", V_W, snip_invlpg
        SELF    "code makes its own page XD, MOV CR3: the next fetch faults", V_W + 0x1000, snip_cr3
        SELF    "code makes its own page XD, MOV CR4 (PGE): the next fetch faults", V_W + 0x2000, snip_cr4
        mov     eax, cr4
        and     eax, ~0x80
        mov     cr4, eax
        ret

; ---- U/S at CPL 0 (setup for the ring-3 checks) ----
t_us:
        RUNS    "supervisor fetch from a supervisor page runs", V_SUP
        RUNS    "supervisor fetch from a user page runs (no SMEP)", V_A
        ret

; SMEP (CR4 bit 20) only where CPUID.(EAX=7,ECX=0):EBX bit 7 claims it
t_smep:
        xor     eax, eax
        cpuid
        cmp     eax, 7
        jb      .none
        mov     eax, 7
        xor     ecx, ecx
        cpuid
        test    ebx, 1 << 7
        jz      .none
        ; this code runs from a user page (0..2 MiB): make that page supervisor-only first
        and     dword [PD0], ~PG_US
        invlpg  [image_start]
        mov     eax, cr4
        or      eax, 1 << 20
        mov     cr4, eax
        mov     eax, V_A
        XPF     "SMEP: supervisor fetch from a user page: #PF(0x11)", {jmp eax}, 0x11, V_A
        mov     eax, cr4
        and     eax, ~(1 << 20)
        mov     cr4, eax
        or      dword [PD0], PG_US
        invlpg  [image_start]
        RUNS    "SMEP off: supervisor fetch from a user page runs", V_A
        ret
.none:  ; not claimed: CR4.SMEP is a reserved bit (QEMU TCG takes the write: see run-qemu.sh)
        UNLESS_WORD "no-cr4-smep-gp", "CPUID claims no SMEP: setting CR4 bit 20 is #GP(0)"
        mov     eax, cr4
        or      eax, 1 << 20
        EXPECT_FAULT .r
        mov     cr4, eax
.r:     CHECK_FAULT "CPUID claims no SMEP: setting CR4 bit 20 is #GP(0)", 13, 0
        END_UNLESS
        ret

; ---- CPL 3 ----
u_nx:
        RUNS    "user fetch from a user page without XD runs", V_A
        SETHI_U PTE_A(V_A), XD, V_A
        mov     eax, V_A
        XPF     "user: PTE XD, no TLB entry: #PF(0x15)", {jmp eax}, 0x15, V_A
        mov     eax, [V_A]
        mov     eax, V_A
        XPF     "user: PTE XD, TLB entry from a read: #PF(0x15)", {jmp eax}, 0x15, V_A
        mov     [V_A + 0x800], eax
        mov     eax, V_A
        XPF     "user: PTE XD, TLB entry from a write: #PF(0x15)", {jmp eax}, 0x15, V_A
        SETHI_U PTE_A(V_A), 0, V_A
        RUNS    "user: PTE XD cleared: runs", V_A
        SETHI_U PTE_A(V_A), XD, V_A
        mov     eax, V_A
        XPF     "user: PTE XD set after the page ran: #PF(0x15)", {jmp eax}, 0x15, V_A
        SETHI_U PTE_A(V_A), 0, V_A
        SETHI_U PD0 + 8*8, XD, V_2M_CODE
        mov     eax, V_2M_CODE
        XPF     "user: 2 MiB PDE XD, no TLB entry: #PF(0x15)", {jmp eax}, 0x15, V_2M_CODE
        mov     eax, [V_2M_CODE]
        mov     eax, V_2M_CODE
        XPF     "user: 2 MiB PDE XD, TLB entry from a read: #PF(0x15)", {jmp eax}, 0x15, V_2M_CODE
        SETHI_U PD0 + 8*8, 0, V_2M_CODE
        RUNS    "user: 2 MiB PDE XD cleared: runs", V_2M_CODE
        mov     eax, V_C
        int     INVLPG_VEC
        XPF     "user: PDE XD above a 4 KiB table, no TLB entry: #PF(0x15)", {jmp eax}, 0x15, V_C
        mov     eax, [V_C]
        mov     eax, V_C
        XPF     "user: PDE XD above a 4 KiB table, TLB entry from a read: #PF(0x15)", {jmp eax}, 0x15, V_C
        USER_EXIT

u_us:
        ; V_SUP and V_B were last touched at CPL 0 (t_us, a supervisor fetch left V_SUP
        ; in the TLB): a ring-3 fetch must not use that translation
        mov     eax, V_SUP
        XPF     "user fetch from a supervisor PTE, TLB entry from a supervisor fetch: #PF(0x15)", {jmp eax}, 0x15, V_SUP
        mov     eax, V_SUP
        int     INVLPG_VEC
        XPF     "user fetch from a supervisor PTE, no TLB entry: #PF(0x15)", {jmp eax}, 0x15, V_SUP
        mov     eax, V_B
        int     INVLPG_VEC
        XPF     "user fetch under a supervisor PDE, no TLB entry: #PF(0x15)", {jmp eax}, 0x15, V_B
        int     SUPREAD_VEC                             ; a supervisor read of V_B fills the TLB
        mov     eax, V_B
        XPF     "user fetch under a supervisor PDE, TLB entry from a supervisor read: #PF(0x15)", {jmp eax}, 0x15, V_B
        USER_EXIT

hook_supread:
        mov     eax, [V_B]
        ret

%include "lib-end.inc"
bss_end:
