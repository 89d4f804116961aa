; debug: the debug registers fire. An instruction breakpoint (a fault before the
; instruction, resumed with EFLAGS.RF), data write and data read/write breakpoints of each
; length (traps after the access, also for accesses that only overlap the range), an I/O
; breakpoint with CR4.DE, single-step, DR6 status bits, DR7.GD (general detect) and
; disarming.
%include "lib.inc"

test_name: db "debug", 0
banner:    db "pvlab cpu-tests: debug", 10, 0

RF      equ 0x10000
TF      equ 0x100
DR7_ONE equ 0x400               ; bit 10 reads as 1
CR4_DE  equ 8

; #DB hook: count, record EIP, DR6, DR7; clear DR6; set RF so an instruction breakpoint
; lets its instruction run on return
db_hook:
        inc     dword [db_n]
        mov     eax, [ebp + F_EIP]
        mov     [db_eip], eax
        mov     eax, dr6
        mov     [db_dr6], eax
        mov     eax, dr7
        mov     [db_dr7], eax
        xor     eax, eax
        mov     dr6, eax
        or      dword [ebp + F_EFL], RF
        and     dword [ebp + F_EFL], ~TF
        ret

%macro ARM 1    ; DR7 value (bit 10 added)
        mov     eax, (%1) | DR7_ONE
        mov     dr7, eax
        mov     dword [db_n], 0
        mov     dword [db_eip], 0
        mov     dword [db_dr6], 0
%endmacro
%macro DISARM 0
        mov     eax, DR7_ONE
        mov     dr7, eax
%endmacro
; B bits and BD/BS of the recorded DR6
%macro DR6_BITS 0
        mov     eax, [db_dr6]
        and     eax, 0x600f
%endmacro

test_main:
        HOOK    1, db_hook
        xor     eax, eax
        mov     dr6, eax
        mov     eax, dr6
        CHECK_EQ "DR6 reads its reserved bits as 1", eax, 0xffff0ff0

        ; ---- instruction breakpoint (DR0, R/W=00, LEN=00) ----
        mov     eax, bp_insn
        mov     dr0, eax
        mov     dword [counter], 0
        ARM     1                               ; L0
        nop
bp_insn:
        inc     dword [counter]
        DISARM
        CHECK_EQ "instruction breakpoint: one #DB", [db_n], 1
        CHECK_EQ "instruction breakpoint: a fault at the instruction", [db_eip], bp_insn
        DR6_BITS
        CHECK_EQ "instruction breakpoint: DR6.B0", eax, 1
        CHECK_EQ "instruction breakpoint: resumed with RF, the instruction ran once", [counter], 1

        ; ---- data write breakpoint (DR1, R/W=01, LEN=11: 4 bytes) ----
        mov     eax, wvar
        mov     dr1, eax
        ARM     (1 << 2) | (1 << 20) | (3 << 22)
        mov     eax, [wvar]                     ; a read: no #DB
        CHECK_EQ "write breakpoint: a read does not fire", [db_n], 0
        mov     dword [wvar], 5
.w1:    CHECK_EQ "write breakpoint: a write fires once", [db_n], 1
        CHECK_EQ "write breakpoint: a trap after the writing instruction", [db_eip], .w1
        DR6_BITS
        CHECK_EQ "write breakpoint: DR6.B1", eax, 2
        CHECK_EQ "write breakpoint: the write happened", [wvar], 5
        mov     dword [db_n], 0
        mov     byte [wvar + 3], 1              ; overlaps the last byte
        CHECK_EQ "write breakpoint: a byte write inside the range fires", [db_n], 1
        mov     dword [db_n], 0
        mov     dword [wvar - 2], 0             ; overlaps the first two bytes
        CHECK_EQ "write breakpoint: a write overlapping the range fires", [db_n], 1
        mov     dword [db_n], 0
        mov     byte [wvar + 4], 1              ; just past it
        mov     byte [wvar - 1], 1              ; just before it
        CHECK_EQ "write breakpoint: writes next to the range do not fire", [db_n], 0
        mov     dword [db_n], 0
        mov     edi, wvar - 8
        mov     ecx, 4
        xor     eax, eax
.rep:   rep stosd
        CHECK_EQ "write breakpoint: REP STOSD over the range fires once", [db_n], 1
        CHECK_EQ "write breakpoint: REP STOSD traps between iterations (EIP at the instruction)", [db_eip], .rep
        CHECK_EQ "write breakpoint: REP STOSD then finishes", ecx, 0
        DR6_BITS
        CHECK_EQ "write breakpoint: REP STOSD sets DR6.B1", eax, 2
        DISARM
        mov     dword [db_n], 0
        mov     dword [wvar], 7
        CHECK_EQ "disarmed: a write does not fire", [db_n], 0

        ; ---- data read/write breakpoint (DR2, R/W=11, LEN=01: 2 bytes) ----
        mov     eax, rvar
        mov     dr2, eax
        ARM     (1 << 4) | (3 << 24) | (1 << 26)
        mov     eax, [rvar]
.r1:    CHECK_EQ "access breakpoint: a read fires", [db_n], 1
        CHECK_EQ "access breakpoint: a trap after the reading instruction", [db_eip], .r1
        DR6_BITS
        CHECK_EQ "access breakpoint: DR6.B2", eax, 4
        mov     dword [db_n], 0
        mov     al, [rvar + 2]
        CHECK_EQ "access breakpoint: a read after the 2-byte range does not fire", [db_n], 0
        mov     dword [db_n], 0
        add     word [rvar + 1], 1              ; read-modify-write overlapping the second byte
        CHECK_EQ "access breakpoint: a read-modify-write fires once", [db_n], 1
        mov     dword [db_n], 0
        push    dword [rvar]                    ; a memory operand of PUSH
        pop     eax
        CHECK_EQ "access breakpoint: PUSH [mem] fires", [db_n], 1
        DISARM

        ; ---- two breakpoints hit by one instruction ----
        mov     eax, wvar
        mov     dr1, eax
        mov     eax, wvar + 4
        mov     dr2, eax
        ARM     (1 << 2) | (1 << 20) | (3 << 22) | (1 << 4) | (1 << 24) | (3 << 26)
        mov     dword [db_n], 0
        fldz
        fstp    qword [wvar]                    ; one 8-byte write
        CHECK_EQ "an 8-byte write over two breakpoints: one #DB", [db_n], 1
        UNLESS_WORD "one-db-bit", "an 8-byte write over two breakpoints: DR6.B1 and B2"
        DR6_BITS
        CHECK_EQ "an 8-byte write over two breakpoints: DR6.B1 and B2", eax, 6
        END_UNLESS
        DISARM

        ; ---- I/O breakpoint (DR3, R/W=10, LEN=00) needs CR4.DE ----
        mov     eax, 0x80
        mov     dr3, eax
        mov     eax, cr4
        or      eax, CR4_DE
        mov     cr4, eax
        ARM     (1 << 6) | (2 << 28)
        mov     al, 0x55
        out     0x80, al
.io1:   CHECK_EQ "I/O breakpoint: OUT to the port fires", [db_n], 1
        CHECK_EQ "I/O breakpoint: a trap after the OUT", [db_eip], .io1
        DR6_BITS
        CHECK_EQ "I/O breakpoint: DR6.B3", eax, 8
        mov     dword [db_n], 0
        mov     dx, 0x84
        out     dx, al
        CHECK_EQ "I/O breakpoint: another port does not fire", [db_n], 0
        DISARM
        mov     eax, cr4
        and     eax, ~CR4_DE
        mov     cr4, eax

        ; ---- single step ----
        mov     dword [db_n], 0
        pushfd
        or      dword [esp], TF
        popfd
        nop                                     ; the trap comes after this one
.ss1:   CHECK_EQ "single step: one #DB", [db_n], 1
        CHECK_EQ "single step: after the next instruction", [db_eip], .ss1
        DR6_BITS
        CHECK_EQ "single step: DR6.BS", eax, 0x4000

        ; ---- general detect: DR7.GD makes MOV DRn a #DB fault ----
        UNLESS_WORD "no-dr7-gd", "general detect"
        mov     dword [db_n], 0
        mov     eax, DR7_ONE | 0x2000
        mov     dr7, eax
.gd:    mov     eax, dr0
        CHECK_EQ "general detect: one #DB", [db_n], 1
        CHECK_EQ "general detect: a fault at the MOV", [db_eip], .gd
        DR6_BITS
        CHECK_EQ "general detect: DR6.BD", eax, 0x2000
        mov     eax, [db_dr7]
        and     eax, 0x2000
        CHECK_EQ "general detect: GD is clear in the handler", eax, 0
        END_UNLESS
        DISARM
        UNHOOK  1
        ret

%include "lib-end.inc"
                alignb 16
                resd 4
wvar:           resd 1
                resd 4
rvar:           resd 1
                resd 4
counter:        resd 1
db_n:           resd 1
db_eip:         resd 1
db_dr6:         resd 1
db_dr7:         resd 1
bss_end:
