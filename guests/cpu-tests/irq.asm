; irq: when pending interrupts are taken. A pending interrupt (local APIC vector or NMI)
; must be recognised at the first instruction boundary after the event that makes it
; deliverable: the end of an STI shadow, an IRET or POPF that sets IF, an IRET that ends
; NMI blocking (even an IRET that faults), an EOI or TPR write that unmasks a vector, a
; self-IPI, an 8259 mask write that unmasks a requested line. Priority at one boundary: a software interrupt inside the STI shadow, then
; NMI, then the highest maskable vector the TPR and the in-service vectors allow (SDM
; Vol. 3A §6.7.1, §6.8.3, §6.9; §10.8.3.1).
;
; Every handler used here logs (vector, return EIP) when its hook runs; each test checks
; the number of handlers, their order and the exact EIP each one returns to. Uses the
; local APIC at its default base 0xFEE00000 (self-IPIs, EOI, TPR); skipped without one;
; and the 8259 with the PIT's channel 0 for one test.
%include "lib.inc"

test_name: db "irq", 0
banner:    db "pvlab cpu-tests: irq", 10, 0

APIC        equ 0xFEE00000
APIC_ID     equ APIC + 0x020
APIC_TPR    equ APIC + 0x080
APIC_EOI    equ APIC + 0x0B0
APIC_SVR    equ APIC + 0x0F0
APIC_ICR_LO equ APIC + 0x300
APIC_ICR_HI equ APIC + 0x310

EFL_IF      equ 0x200
LOG_MAX     equ 16

; SELF_IPI vector: one write to the ICR (fixed, edge, shorthand "self")
%macro SELF_IPI 1
        mov     dword [APIC_ICR_LO], 0x40000 | (%1)
%endmacro
; SEND_NMI: an NMI to this CPU (physical destination = own APIC ID; the "self" shorthand
; is valid only with fixed delivery). The NMI is sent by the last instruction. Clobbers eax.
%macro SEND_NMI 0
        mov     eax, [APIC_ID]
        mov     [APIC_ICR_HI], eax
        mov     dword [APIC_ICR_LO], 0x400
%endmacro
; CHECK_LOG index, vector, return-EIP, "test name"
%macro CHECK_LOG 4
        CHECK_EQ {%4, ": handler ", %1 + '1', " vector"}, [log_vec + (%1)*4], %2
        CHECK_EQ {%4, ": handler ", %1 + '1', " return EIP"}, [log_eip + (%1)*4], %3
%endmacro
%macro CHECK_COUNT 2
        CHECK_EQ {%2, ": handlers taken"}, [log_n], %1
%endmacro

test_main:
        mov     eax, 1
        cpuid
        test    edx, 1 << 9
        jnz     .apic
        SKIP    "irq", "no local APIC (CPUID.1:EDX.APIC = 0)"
        ret
.apic:  mov     dword [APIC_SVR], 0x1FF         ; software-enabled, spurious vector 0xFF
        mov     dword [APIC_TPR], 0
        call    t_sti_nop_iret
        call    t_sti_int
        call    t_nmi_in_nmi
        call    t_nmi_before_intr
        call    t_nmi_trap_gate
        call    t_nmi_iret_fault
        call    t_eoi
        call    t_tpr
        call    t_popf
        call    t_iret_sets_if
        call    t_self_ipi
        call    t_pic
        ret

; ---- logging ----
log_reset:
        mov     dword [log_n], 0
        mov     dword [nmi_resend], 0
        mov     dword [nmi_ipi], 0
        mov     dword [nmi_badret], 0
        mov     dword [nmi_trapgate], 0
        ret

; hooks (ebp = the frame, see lib.inc)
log_entry:
        push    eax
        push    ebx
        mov     ebx, [log_n]
        cmp     ebx, LOG_MAX
        jae     .full
        mov     eax, [ebp+F_VEC]
        mov     [log_vec + ebx*4], eax
        mov     eax, [ebp+F_EIP]
        mov     [log_eip + ebx*4], eax
        inc     dword [log_n]
.full:  pop     ebx
        pop     eax
        ret
hook_log equ log_entry                          ; log only (software INT, NMI, keep in service)
hook_log_eoi:                                   ; log, then end the vector's service
        call    log_entry
        mov     dword [APIC_EOI], 0
        ret
; NMI: log; while [nmi_resend] > 0, send another NMI (blocked until this handler's IRET),
; a self-IPI of vector [nmi_ipi] if nonzero, make vector 2 a trap gate if [nmi_trapgate],
; and make this handler's IRET fault (null CS: #GP(0)) if [nmi_badret].
hook_nmi:
        call    log_entry
        cmp     dword [nmi_resend], 0
        je      .r
        dec     dword [nmi_resend]
        mov     eax, [nmi_ipi]
        test    eax, eax
        jz      .n
        or      eax, 0x40000
        mov     [APIC_ICR_LO], eax
.n:     SEND_NMI
        cmp     dword [nmi_trapgate], 0
        je      .t
        IDT_GATE 2, isr_stub_2, KCODE, 0x8F
.t:     cmp     dword [nmi_badret], 0
        je      .r
        mov     dword [nmi_badret], 0
        mov     dword [ebp+F_CS], 0
.r:     ret
; #GP from the NMI handler's IRET: log, record the error code, repair the CS in the frame
; the IRET faulted on (just above this handler's frame) and return to that IRET.
hook_gp_fixret:
        call    log_entry
        mov     eax, [ebp+F_ERR]
        mov     [gp_err], eax
        mov     dword [ebp+F_ESP3+4], KCODE
        ret

; every vector used back to log-and-EOI (NMI: log only; vector 2 an interrupt gate again)
default_hooks:
        HOOK    2, hook_log
        IDT_DEFAULT 2
        UNHOOK  13
        mov     eax, 0x20
.h:     mov     dword [hooks + eax*4], hook_log_eoi
        inc     eax
        cmp     eax, 0x60
        jb      .h
        HOOK    0xFF, hook_log                  ; spurious: no EOI
        ret

; After the checks: end whatever a failed test left in service or pending, quietly.
drain:
        cli
        mov     ecx, 8
.e:     mov     dword [APIC_EOI], 0
        loop    .e
        mov     dword [APIC_TPR], 0
        call    default_hooks
        sti
        nop
        nop
        nop
        nop
        cli
        call    log_reset
        ret

; ---- 1. STI; NOP; CLI with two self-IPIs pending ----
; The STI shadow covers the NOP: 33 (the higher) is taken before the CLI. Its handler's
; EOI unmasks 32 and its IRET sets IF: 32 is taken at once, still before the CLI.
t_sti_nop_iret:
        cli
        call    default_hooks
        call    log_reset
        SELF_IPI 32
        SELF_IPI 33
        CHECK_COUNT 0, "sti;nop;cli, IF=0"
        sti
        nop
.cli:   cli
        CHECK_COUNT 2, "sti;nop;cli"
        CHECK_LOG 0, 33, .cli, "sti;nop;cli"
        CHECK_LOG 1, 32, .cli, "sti;nop;cli"
        call    drain
        ret

; ---- 2. STI; INT 33 with self-IPI 32 pending ----
; The software interrupt inside the shadow goes first; 32 is taken when 33's handler
; returns (its IRET sets IF), at the IRET's target.
t_sti_int:
        cli
        call    default_hooks
        call    log_reset
        HOOK    33, hook_log                    ; INT 33: nothing in service, no EOI
        SELF_IPI 32
        sti
        int     33
.after: cli
        CHECK_COUNT 2, "sti;int 33"
        CHECK_LOG 0, 33, .after, "sti;int 33"
        CHECK_LOG 1, 32, .after, "sti;int 33"
        call    drain
        ret

; ---- 3. An NMI sent from an NMI handler ----
; Blocked until the handler's IRET, then taken at the very next boundary: the second
; handler returns where the first one did.
t_nmi_in_nmi:
        cli
        call    default_hooks
        call    log_reset
        HOOK    2, hook_nmi
        mov     dword [nmi_resend], 1
        SEND_NMI
.after: nop
        CHECK_COUNT 2, "NMI from the NMI handler"
        CHECK_LOG 0, 2, .after, "NMI from the NMI handler"
        CHECK_LOG 1, 2, .after, "NMI from the NMI handler"
        call    drain
        ret

; ---- 4. NMI and a maskable interrupt both deliverable at one boundary: NMI first ----
; The first NMI handler (interrupt gate, IF=0) sends an NMI and self-IPI 32; its IRET
; returns to IF=1 code. NMI first; its handler (IF=0) returns, then 32.
t_nmi_before_intr:
        cli
        call    default_hooks
        call    log_reset
        HOOK    2, hook_nmi
        mov     dword [nmi_resend], 1
        mov     dword [nmi_ipi], 32
        sti
        SEND_NMI
.after: cli
        CHECK_COUNT 3, "NMI and INTR pending"
        CHECK_LOG 0, 2, .after, "NMI and INTR pending"
        CHECK_LOG 1, 2, .after, "NMI and INTR pending"
        CHECK_LOG 2, 32, .after, "NMI and INTR pending"
        call    drain
        ret

; ---- 5. The same with the NMI through a trap gate ----
; Delivering the NMI leaves IF=1: 32 is taken at the next boundary, the NMI handler's
; first instruction (so 32's handler runs before the second NMI's).
t_nmi_trap_gate:
        cli
        call    default_hooks
        call    log_reset
        HOOK    2, hook_nmi
        mov     dword [nmi_resend], 1
        mov     dword [nmi_ipi], 32
        mov     dword [nmi_trapgate], 1
        sti
        SEND_NMI
.after: cli
        CHECK_COUNT 3, "NMI via trap gate, INTR pending"
        CHECK_LOG 0, 2, .after, "NMI via trap gate, INTR pending"
        UNLESS_WORD "late-after-delivery", "NMI via trap gate: INTR at the handler's first instruction"
        CHECK_LOG 1, 32, isr_stub_2, "NMI via trap gate, INTR pending"
        END_UNLESS
        CHECK_LOG 2, 2, .after, "NMI via trap gate, INTR pending"
        call    drain
        ret

; ---- 6. The NMI handler's IRET faults ----
; IRET ends NMI blocking even when it faults (SDM Vol. 3A §6.7.1): the #GP is delivered,
; then the pending NMI is taken at the #GP handler's first instruction. The #GP handler
; then repairs the frame and the IRET is retried.
t_nmi_iret_fault:
        cli
        call    default_hooks
        call    log_reset
        HOOK    2, hook_nmi
        HOOK    13, hook_gp_fixret
        mov     dword [gp_err], -1
        mov     dword [nmi_resend], 1
        mov     dword [nmi_badret], 1
        SEND_NMI
.after: nop
        CHECK_COUNT 3, "faulting IRET from NMI"
        CHECK_LOG 0, 2, .after, "faulting IRET from NMI"
        UNLESS_WORD "nmi-blocked-after-faulting-iret", "faulting IRET from NMI: NMI at the #GP handler's first instruction"
        CHECK_LOG 1, 2, isr_stub_13, "faulting IRET from NMI"
        CHECK_LOG 2, 13, isr_iret, "faulting IRET from NMI"
        END_UNLESS
        CHECK_EQ "faulting IRET from NMI: #GP error code", [gp_err], 0
        call    drain
        ret

; ---- 7. EOI unmasks a lower vector ----
; 0x50 stays in service (no EOI in its handler); 0x40, sent then, waits (class 4 <= 5)
; and is taken right after the EOI.
t_eoi:
        cli
        call    default_hooks
        call    log_reset
        HOOK    0x50, hook_log
        sti
        SELF_IPI 0x50
.a:     SELF_IPI 0x40
        nop
        mov     dword [APIC_EOI], 0
.b:     cli
        CHECK_COUNT 2, "EOI unmasks"
        CHECK_LOG 0, 0x50, .a, "EOI unmasks"
        CHECK_LOG 1, 0x40, .b, "EOI unmasks"
        call    drain
        ret

; ---- 8. TPR writes ----
; 0x45 waits while TPR is 0x50 and 0x40 (class 4 <= TPR class); lowering TPR to 0x30
; unmasks it: taken right after that write.
t_tpr:
        cli
        call    default_hooks
        call    log_reset
        mov     dword [APIC_TPR], 0x50
        sti
        SELF_IPI 0x45
        nop
        mov     dword [APIC_TPR], 0x40
        nop
        mov     dword [APIC_TPR], 0x30
.b:     cli
        mov     dword [APIC_TPR], 0
        CHECK_COUNT 1, "TPR write unmasks"
        CHECK_LOG 0, 0x45, .b, "TPR write unmasks"
        call    drain
        ret

; ---- 9. POPF that sets IF (no shadow after POPF) ----
t_popf:
        cli
        call    default_hooks
        call    log_reset
        SELF_IPI 32
        pushfd
        or      dword [esp], EFL_IF
        popfd
.a:     nop
        cli
        CHECK_COUNT 1, "popf sets IF"
        CHECK_LOG 0, 32, .a, "popf sets IF"
        call    drain
        ret

; ---- 10. IRET (not from a handler) that sets IF ----
t_iret_sets_if:
        cli
        call    default_hooks
        call    log_reset
        SELF_IPI 33
        pushfd
        or      dword [esp], EFL_IF
        push    dword KCODE
        push    dword .a
        iretd
.a:     nop
        cli
        CHECK_COUNT 1, "iret sets IF"
        CHECK_LOG 0, 33, .a, "iret sets IF"
        call    drain
        ret

; ---- 11. A self-IPI with IF=1 is taken after the ICR write ----
t_self_ipi:
        cli
        call    default_hooks
        call    log_reset
        sti
        nop
        SELF_IPI 34
.a:     nop
        cli
        CHECK_COUNT 1, "self-IPI, IF=1"
        CHECK_LOG 0, 34, .a, "self-IPI, IF=1"
        call    drain
        ret

; ---- 12. An 8259 mask write that unmasks a requested line ----
; Vectors 0x30-0x37 on the master 8259 (through the local APIC's LINT0 in ExtINT mode, as
; firmware leaves it). The PIT's channel 0 in mode 0 raises IRQ0 once; the edge waits in
; the masked 8259's IRR, and unmasking it with IF=1 delivers it right after the OUT.
t_pic:
        cli
        call    default_hooks
        call    log_reset
        HOOK    0x30, hook_pic
        mov     al, 0x11                        ; ICW1: edge, cascade, ICW4 follows
        out     0x20, al
        mov     al, 0x30                        ; ICW2: vector base
        out     0x21, al
        mov     al, 0x04                        ; ICW3: slave on IRQ2
        out     0x21, al
        mov     al, 0x01                        ; ICW4: 8086 mode
        out     0x21, al
        mov     al, 0xFF                        ; OCW1: all masked
        out     0x21, al
        mov     al, 0x30                        ; PIT channel 0, low then high byte, mode 0
        out     0x43, al
        mov     al, 100
        out     0x40, al
        xor     al, al
        out     0x40, al
        mov     ecx, 10000000
.w:     mov     al, 0x0A                        ; OCW3: read IRR
        out     0x20, al
        in      al, 0x20
        test    al, 1
        jnz     .got
        loop    .w
        FAIL    "8259 mask write unmasks", "IRQ0 never reached the IRR"
        jmp     .done
.got:   sti
        nop
        mov     al, 0xFE
        out     0x21, al                        ; unmask IRQ0
.a:     cli
        CHECK_COUNT 1, "8259 mask write unmasks"
        CHECK_LOG 0, 0x30, .a, "8259 mask write unmasks"
.done:  mov     al, 0xFF
        out     0x21, al
        call    drain
        ret
hook_pic:
        call    log_entry
        mov     al, 0x20                        ; non-specific EOI to the master 8259
        out     0x20, al
        ret

%include "lib-end.inc"
log_n:          resd 1
log_vec:        resd LOG_MAX
log_eip:        resd LOG_MAX
nmi_resend:     resd 1
nmi_ipi:        resd 1
nmi_badret:     resd 1
nmi_trapgate:   resd 1
gp_err:         resd 1
bss_end:
