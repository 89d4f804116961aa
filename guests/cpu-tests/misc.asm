; misc: CPUID, RDTSC, RDMSR/WRMSR of the SYSENTER MSRs, SYSENTER/SYSEXIT ring 0 <-> 3,
; CMPXCHG8B, BSWAP, CMOVcc, XADD, the interrupt shadow after MOV SS for single-step,
; single-step trap order, double faults, #UD with the right EIP, and other exception
; classes (#DE, #BR, #OF, #BP).
%include "lib.inc"

test_name: db "misc", 0
banner:    db "pvlab cpu-tests: misc", 10, 0

EFL_TF  equ 0x100
EFL_ID  equ 0x200000
PD      equ SCRATCH

test_main:
        call    t_cpuid
        call    t_rdtsc
        call    t_msr
        call    t_sysenter
        call    t_cmpxchg
        call    t_bswap_cmov
        call    t_single_step
        call    t_exceptions
        call    t_ud
        call    t_double_fault
        ret

; ---- CPUID ----
t_cpuid:
        pushfd
        pop     eax
        mov     ecx, eax
        xor     eax, EFL_ID
        push    eax
        popfd
        pushfd
        pop     eax
        push    ecx
        popfd
        xor     eax, ecx
        and     eax, EFL_ID
        CHECK_EQ "EFLAGS.ID can be toggled (CPUID present)", eax, EFL_ID
        xor     eax, eax
        cpuid
        mov     [cpuid_max], eax
        mov     [vendor], ebx
        mov     [vendor + 4], edx
        mov     [vendor + 8], ecx
        mov     eax, [cpuid_max]
        cmp     eax, 1
        CHECK   ae, "CPUID 0: max basic leaf >= 1"
        mov     esi, vendor
        mov     ecx, 12
        xor     edx, edx
.v:     lodsb
        cmp     al, 0x20
        jb      .bad
        cmp     al, 0x7E
        ja      .bad
        jmp     .nx
.bad:   inc     edx
.nx:    loop    .v
        CHECK_EQ "CPUID 0: vendor string is 12 printable characters", edx, 0
        PRINT   "INFO cpuid vendor: "
        mov     esi, vendor
        call    print_str
        call    nl
        mov     eax, 1
        cpuid
        mov     [cpuid1_edx], edx
        PRINT   "INFO cpuid 1: eax "
        call    print_hex
        PRINT   " edx "
        mov     eax, edx
        call    print_hex
        call    nl
        mov     eax, [cpuid1_edx]
        and     eax, (1 << 0) | (1 << 4) | (1 << 5) | (1 << 8) | (1 << 15)
        CHECK_EQ "CPUID 1: EDX has FPU, TSC, MSR, CX8, CMOV", eax, (1 << 0) | (1 << 4) | (1 << 5) | (1 << 8) | (1 << 15)
        mov     eax, 1
        cpuid
        shr     eax, 8
        and     eax, 0xF
        cmp     eax, 6
        CHECK   ae, "CPUID 1: family >= 6 (i686 class)"
        ret

; ---- RDTSC ----
t_rdtsc:
        rdtsc
        mov     esi, eax
        mov     edi, edx
        mov     ecx, 1000
.spin:  loop    .spin
        rdtsc
        sub     eax, esi
        sbb     edx, edi
        ; the difference must be positive: high part >= 0 and not both zero
        mov     ebx, edx
        test    edx, edx
        CHECK   ns, "RDTSC: second read is not before the first"
        or      ebx, eax
        CHECK   nz, "RDTSC advances across a loop"
        RUN_USER u_rdtsc_ok
        CHECK_EQ "ring 3 RDTSC with CR4.TSD=0: allowed", [u_vec], -1
        mov     eax, cr4
        or      eax, 4
        mov     cr4, eax
        RUN_USER u_rdtsc_ok
        CHECK_EQ "ring 3 RDTSC with CR4.TSD=1: #GP", [u_vec], 13
        CHECK_EQ "ring 3 RDTSC with CR4.TSD=1: error 0", [last_err], 0
        mov     eax, cr4
        and     eax, ~4
        mov     cr4, eax
        rdtsc                                   ; still fine at ring 0
        ret
u_rdtsc_ok:
        mov     dword [last_vec], -1
        mov     dword [resume_eip], .r
        rdtsc
.r:     mov     eax, [last_vec]
        mov     [u_vec], eax
        mov     dword [resume_eip], 0
        USER_EXIT

; ---- MSRs ----
t_msr:
        mov     ecx, 0x174
        mov     eax, KCODE
        xor     edx, edx
        wrmsr
        mov     ecx, 0x175
        mov     eax, EXC_STACK_TOP - 0x100
        wrmsr
        mov     ecx, 0x176
        mov     eax, sysenter_entry
        wrmsr
        mov     ecx, 0x174
        rdmsr
        CHECK_EQ "RDMSR IA32_SYSENTER_CS", eax, KCODE
        mov     ecx, 0x175
        rdmsr
        CHECK_EQ "RDMSR IA32_SYSENTER_ESP", eax, EXC_STACK_TOP - 0x100
        mov     ecx, 0x176
        rdmsr
        CHECK_EQ "RDMSR IA32_SYSENTER_EIP", eax, sysenter_entry
        mov     ecx, 0x10
        rdmsr
        mov     esi, eax
        mov     ecx, 0x10
        rdmsr
        cmp     eax, esi
        CHECK   ae, "RDMSR IA32_TIME_STAMP_COUNTER advances"
        RUN_USER u_rdmsr
        CHECK_EQ "ring 3 RDMSR: #GP(0)", [u_vec], 13
        ret
u_rdmsr:
        mov     dword [last_vec], -1
        mov     dword [resume_eip], .r
        mov     ecx, 0x174
        rdmsr
.r:     mov     eax, [last_vec]
        mov     [u_vec], eax
        mov     dword [resume_eip], 0
        USER_EXIT

; ---- SYSENTER / SYSEXIT ----
t_sysenter:
        mov     dword [sysenter_count], 0
        RUN_USER u_sysenter, 0x3202             ; IF=1 in ring 3 (PICs masked)
        CHECK_EQ "SYSENTER ran the ring-0 entry", [sysenter_count], 1
        CHECK_EQ "SYSENTER: CS = IA32_SYSENTER_CS", [se_cs], KCODE
        CHECK_EQ "SYSENTER: SS = IA32_SYSENTER_CS + 8", [se_ss], KDATA
        CHECK_EQ "SYSENTER: ESP = IA32_SYSENTER_ESP", [se_esp], EXC_STACK_TOP - 0x100
        mov     eax, [se_eflags]
        and     eax, 0x200
        CHECK_EQ "SYSENTER clears IF", eax, 0
        CHECK_EQ "SYSEXIT: CS = IA32_SYSENTER_CS + 16 | 3", [sx_cs], UCODE
        CHECK_EQ "SYSEXIT: SS = IA32_SYSENTER_CS + 24 | 3", [sx_ss], UDATA
        CHECK_EQ "SYSEXIT: ESP = ECX", [sx_esp], USTACK_TOP - 64
        CHECK_EQ "SYSEXIT: EIP = EDX (landed at the label)", [sx_landed], 1
        CHECK_EQ "ring 3 SYSEXIT: #GP(0)", [u_vec], 13
        ; SYSENTER with IA32_SYSENTER_CS = 0
        mov     ecx, 0x174
        xor     eax, eax
        xor     edx, edx
        wrmsr
        RUN_USER u_sysenter_cs0
        CHECK_EQ "SYSENTER with SYSENTER_CS = 0: #GP(0)", [u_vec], 13
        mov     ecx, 0x174
        mov     eax, KCODE
        xor     edx, edx
        wrmsr
        ret
u_sysenter:
        mov     esi, esp
        mov     ecx, USTACK_TOP - 64
        mov     edx, .back
        sysenter
.back:  mov     dword [sx_landed], 1
        mov     [sx_esp], esp
        mov     eax, cs
        mov     [sx_cs], eax
        mov     eax, ss
        mov     [sx_ss], eax
        mov     esp, esi
        cli
        mov     dword [last_vec], -1
        mov     dword [resume_eip], .r
        sysexit
.r:     mov     eax, [last_vec]
        mov     [u_vec], eax
        mov     dword [resume_eip], 0
        USER_EXIT
u_sysenter_cs0:
        mov     dword [last_vec], -1
        mov     dword [resume_eip], .r
        sysenter
.r:     mov     eax, [last_vec]
        mov     [u_vec], eax
        mov     dword [resume_eip], 0
        USER_EXIT
sysenter_entry:
        inc     dword [ss:sysenter_count]
        mov     [ss:se_esp], esp
        mov     eax, cs
        mov     [ss:se_cs], eax
        mov     eax, ss
        mov     [ss:se_ss], eax
        pushfd
        pop     dword [ss:se_eflags]
        sysexit                                 ; to EDX with ESP = ECX

; ---- CMPXCHG8B, CMPXCHG, XADD ----
t_cmpxchg:
        mov     dword [q], 0x11111111
        mov     dword [q + 4], 0x22222222
        mov     eax, 0x11111111
        mov     edx, 0x22222222
        mov     ebx, 0xAAAAAAAA
        mov     ecx, 0xBBBBBBBB
        lock cmpxchg8b [q]
        CHECK   z, "CMPXCHG8B equal: ZF=1"
        CHECK_EQ "CMPXCHG8B equal: low stored from EBX", [q], 0xAAAAAAAA
        CHECK_EQ "CMPXCHG8B equal: high stored from ECX", [q + 4], 0xBBBBBBBB
        mov     eax, 1
        mov     edx, 2
        cmpxchg8b [q]
        CHECK   nz, "CMPXCHG8B not equal: ZF=0"
        CHECK_EQ "CMPXCHG8B not equal: EAX loaded", eax, 0xAAAAAAAA
        CHECK_EQ "CMPXCHG8B not equal: EDX loaded", edx, 0xBBBBBBBB
        CHECK_EQ "CMPXCHG8B not equal: memory unchanged", [q], 0xAAAAAAAA
        EXPECT_FAULT .r1
        db      0x0F, 0xC7, 0xC8                ; cmpxchg8b with a register operand
.r1:    CHECK_FAULT "CMPXCHG8B with a register operand: #UD", 6, 0
        mov     dword [q], 5
        mov     eax, 5
        mov     ecx, 9
        cmpxchg [q], ecx
        CHECK   z, "CMPXCHG equal: ZF=1"
        CHECK_EQ "CMPXCHG equal: stored", [q], 9
        mov     eax, 4
        cmpxchg [q], ecx
        CHECK_EQ "CMPXCHG not equal: EAX loaded", eax, 9
        mov     dword [q], 10
        mov     eax, 3
        lock xadd [q], eax
        CHECK_EQ "XADD: old value to the register", eax, 10
        CHECK_EQ "XADD: sum stored", [q], 13
        ret

; ---- BSWAP, CMOVcc ----
t_bswap_cmov:
        mov     eax, 0x12345678
        bswap   eax
        CHECK_EQ "BSWAP", eax, 0x78563412
        mov     edi, 0x00FF00AA
        bswap   edi
        CHECK_EQ "BSWAP edi", edi, 0xAA00FF00
        mov     eax, 1
        mov     ecx, 2
        cmp     eax, ecx
        cmovb   eax, ecx
        CHECK_EQ "CMOVB taken", eax, 2
        mov     eax, 1
        cmp     eax, 0
        cmovb   eax, ecx
        CHECK_EQ "CMOVB not taken", eax, 1
        mov     eax, -1
        cmp     eax, 1
        mov     edx, 7
        cmovl   edx, eax
        CHECK_EQ "CMOVL signed less taken", edx, -1
        mov     edx, 7
        cmova   edx, eax
        CHECK_EQ "CMOVA: 0xFFFFFFFF above 1 unsigned: taken", edx, -1
        mov     dword [q], 0x55
        xor     eax, eax
        cmovz   eax, [q]
        CHECK_EQ "CMOVZ from memory taken", eax, 0x55
        mov     eax, 0x12345678
        test    eax, eax
        mov     ecx, 0xFFFF
        cmovnz  ax, cx
        CHECK_EQ "CMOVNZ 16-bit keeps the upper half", eax, 0x1234FFFF
        mov     al, 3                          ; parity of 3 (two bits) is even
        test    al, al
        mov     ecx, 1
        mov     edx, 0
        cmovp   edx, ecx
        CHECK_EQ "CMOVP (even parity) taken", edx, 1
        ret

; ---- single-step and the MOV SS shadow ----
hook_db:
        mov     eax, [db_n]
        cmp     eax, 8
        jae     .x
        mov     ecx, [ebp + F_EIP]
        mov     [db_eip + eax*4], ecx
        mov     ecx, dr6
        mov     [db_dr6 + eax*4], ecx
        inc     dword [db_n]
.x:     xor     ecx, ecx
        mov     dr6, ecx
        ret

t_single_step:
        HOOK    1, hook_db
        mov     dword [db_n], 0
        mov     ax, ss
        pushfd
        or      dword [esp], EFL_TF
        popfd
.i1:    nop
.i2:    mov     ss, ax
.i3:    nop
.i4:    nop
.i5:    pushfd
        and     dword [esp], ~EFL_TF
        popfd
        UNHOOK  1
        CHECK_EQ "TF set by POPFD: first trap after the next instruction", [db_eip], .i2
        CHECK_EQ "MOV SS suppresses the trap after it: next trap after the following instruction", [db_eip + 4], .i4
        CHECK_EQ "single-step continues: third trap", [db_eip + 8], .i5
        mov     eax, [db_dr6]
        and     eax, 0x4000
        CHECK_EQ "single-step #DB sets DR6.BS", eax, 0x4000
        ; a faulting instruction under TF reports the fault, and no trap for it
        HOOK    1, hook_db
        HOOK    6, hook_ud_skip
        mov     dword [db_n], 0
        mov     dword [ud_n], 0
        pushfd
        or      dword [esp], EFL_TF
        popfd
        nop
.ud:    ud2
.after: pushfd
        and     dword [esp], ~EFL_TF
        popfd
        UNHOOK  1
        UNHOOK  6
        CHECK_EQ "TF: trap after the NOP points at the UD2", [db_eip], .ud
        CHECK_EQ "TF and a faulting instruction: the fault (#UD) is delivered once", [ud_n], 1
        CHECK_EQ "TF and a faulting instruction: #UD EIP", [ud_eip], .ud
        CHECK_EQ "no trap for the faulting instruction: next trap after the PUSHFD", [db_eip + 4], .after + 1
        ret

hook_ud_skip:
        inc     dword [ud_n]
        mov     eax, [ebp + F_EIP]
        mov     [ud_eip], eax
        add     dword [ebp + F_EIP], 2
        ret

; ---- #DE, #BR, #OF, #BP ----
t_exceptions:
        xor     ecx, ecx
        mov     eax, 1
        xor     edx, edx
        EXPECT_FAULT .r1
.div:   div     ecx
.r1:    CHECK_FAULT "DIV by zero: #DE", 0, 0
        CHECK_EQ "#DE EIP is the DIV", [last_eip], .div
        mov     ax, -128
        mov     cl, -1
        EXPECT_FAULT .r2
        idiv    cl
.r2:    CHECK_FAULT "IDIV -128 / -1 (quotient overflow): #DE", 0, 0
        mov     dword [bounds], 10
        mov     dword [bounds + 4], 20
        mov     eax, 25
        EXPECT_FAULT .r3
.bnd:   bound   eax, [bounds]
.r3:    CHECK_FAULT "BOUND out of range: #BR", 5, 0
        CHECK_EQ "#BR EIP is the BOUND (fault)", [last_eip], .bnd
        mov     eax, 15
        EXPECT_FAULT .r4
        bound   eax, [bounds]
.r4:    CHECK_NOFAULT "BOUND in range: no fault"
        mov     al, 0x7F
        add     al, 1                           ; OF=1
        EXPECT_FAULT .r5
        into
.r5:    CHECK_FAULT "INTO with OF=1: #OF", 4, 0
        CHECK_EQ "#OF is a trap: EIP after INTO", [last_eip], .r5
        EXPECT_FAULT .r6
        int3
.r6:    CHECK_FAULT "INT3: #BP", 3, 0
        CHECK_EQ "#BP is a trap: EIP after INT3", [last_eip], .r6
        ret

; ---- #UD ----
%macro UD_AT 2  ; name, bytes
        EXPECT_FAULT %%r
%%i:    %2
%%r:    CHECK_FAULT %1, 6, 0
        CHECK_EQ {%1, ": EIP at the instruction"}, [last_eip], %%i
%endmacro
t_ud:
        UD_AT   "UD2: #UD", {ud2}
        UD_AT   "0F FF (UD0): #UD", {db 0x0F, 0xFF, 0xC0}
        UD_AT   "FE /7: #UD", {db 0xFE, 0xF8}
        UD_AT   "LOCK ADD with a register destination: #UD (EIP at the prefix)", {db 0xF0, 0x01, 0xD8}
        UD_AT   "LOCK NOP: #UD", {db 0xF0, 0x90}
        UD_AT   "MOV CS, ax: #UD", {db 0x8E, 0xC8}
        UD_AT   "prefixed UD2 (66 2E): EIP at the first prefix", {db 0x66, 0x2E, 0x0F, 0x0B}
        mov     eax, cr4
        and     eax, ~0x200
        mov     cr4, eax
        mov     eax, cr0
        and     eax, ~4
        mov     cr0, eax
        UD_AT   "SSE ADDPS with CR4.OSFXSR=0: #UD", {addps xmm0, xmm1}
        ret

; ---- double faults ----
t_double_fault:
        ; #DE while the #DE gate is not present: #NP (contributory) -> #DF
        and     byte [idt + 0*8 + 5], 0x7F
        xor     ecx, ecx
        mov     eax, 1
        EXPECT_FAULT .r1
        div     ecx
.r1:    or      byte [idt + 0*8 + 5], 0x80
        CHECK_FAULT "#DE with a not-present #DE gate: #DF(0)", 8, 0
        ; #BP is benign: a not-present #BP gate gives a plain #NP
        and     byte [idt + 3*8 + 5], 0x7F
        EXPECT_FAULT .r2
        int3
.r2:    or      byte [idt + 3*8 + 5], 0x80
        CHECK_FAULT "INT3 with a not-present gate: #NP(3*8+2), no #DF", 11, 3*8 + 2
        ; #PF whose handler cannot be reached: #PF then #NP -> #DF
        mov     edi, PD
        mov     ecx, 1024
        xor     eax, eax
        rep stosd
        mov     dword [PD + 0*4], 0x000000 | 0x87
        mov     dword [PD + 1*4], 0x400000 | 0x87
        mov     eax, cr4
        or      eax, 0x10
        mov     cr4, eax
        mov     eax, PD
        mov     cr3, eax
        mov     eax, cr0
        or      eax, 0x80000000
        mov     cr0, eax
        and     byte [idt + 14*8 + 5], 0x7F
        EXPECT_FAULT .r3
        mov     eax, [0xC0000000]
.r3:    or      byte [idt + 14*8 + 5], 0x80
        CHECK_FAULT "#PF with a not-present #PF gate: #DF(0)", 8, 0
        CHECK_EQ "CR2 holds the address of the first #PF", [last_cr2], 0xC0000000
        EXPECT_FAULT .r4
        mov     eax, [0xC0000004]
.r4:    CHECK_FAULT "with the #PF gate back: plain #PF", 14, 0
        mov     eax, cr0
        and     eax, 0x7FFFFFFF
        mov     cr0, eax
        ret

%include "lib-end.inc"
                alignb 8
q:              resq 1
bounds:         resd 2
cpuid_max:      resd 1
vendor:         resb 16
cpuid1_edx:     resd 1
u_vec:          resd 1
sysenter_count: resd 1
se_cs:          resd 1
se_ss:          resd 1
se_esp:         resd 1
se_eflags:      resd 1
sx_cs:          resd 1
sx_ss:          resd 1
sx_esp:         resd 1
sx_landed:      resd 1
db_n:           resd 1
ud_n:           resd 1
ud_eip:         resd 1
db_eip:         resd 8
db_dr6:         resd 8
bss_end:
