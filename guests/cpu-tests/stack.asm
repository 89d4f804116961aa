; stack: every PUSH/POP form with a 16-bit stack segment (SS.B=0: SP is the stack
; pointer, the upper half of ESP is left alone) and with a 32-bit one (SS.B=1: ESP),
; each with both operand sizes: general registers (including SP/ESP themselves),
; immediates, memory operands, segment registers (including CS, and POP SS switching
; to a stack of the other size), PUSHA/POPA, PUSHF/POPF, CALL/RET and ENTER/LEAVE.
;
; Each check starts from ESP = 0x00020000 on a stack segment based at SCRATCH. On the
; 16-bit stack SP is 0 there, so a push of n bytes wraps SP to 0x10000-n and leaves
; ESP = 0x0002xxxx; on the 32-bit stack ESP becomes 0x20000-n. The pushed bytes are read
; back through the flat DS at the linear address the stack pointer selects.
%include "lib.inc"

test_name: db "stack", 0
banner:    db "pvlab cpu-tests: stack", 10, 0

SS16    equ 0x30            ; GDT[6]: data, base SCRATCH, limit 1 MiB, B=0
SS32    equ 0x38            ; GDT[7]: data, base SCRATCH, limit 1 MiB, B=1
DSEG_T  equ 0x40            ; GDT[8]: flat data, a selector to pop into segment registers
ESP0    equ 0x20000
MEMV    equ SCRATCH + 0x80000   ; a memory operand (flat, outside both stacks)

; ---- the stack under test ----
; STACK 16|32 selects the stack segment; TOPLIN is the linear address the stack pointer
; points at when ESP = ESP0, ESPTOP the ESP value from which pushes count down.
%macro STACK 1
  %if %1 = 16
    %define SSSEL SS16
    %define OTHERSS SS32
    %define KN "ss16 "
    %assign KBITS 16
    %define TOPLIN (SCRATCH + 0x10000)
    %define ESPTOP 0x30000
  %else
    %define SSSEL SS32
    %define OTHERSS SS16
    %define KN "ss32 "
    %assign KBITS 32
    %define TOPLIN (SCRATCH + 0x20000)
    %define ESPTOP 0x20000
  %endif
%endmacro

; ON_STACK [esp]: switch to the stack under test (ESP = ESP0 unless given); clobbers eax
%macro ON_STACK 0-1 ESP0
        mov     [saved_esp], esp
        mov     ax, SSSEL
        mov     ss, ax
        mov     esp, %1
%endmacro
; OFF_STACK: record ESP, SS and EAX, return to the kernel stack
%macro OFF_STACK 0
        mov     [res_esp], esp
        mov     [res_eax], eax
        mov     [res_ss], ss
        mov     ax, KDATA
        mov     ss, ax
        mov     esp, [saved_esp]
%endmacro

; ---- general registers ----
; PUSHR r32, r16
%macro PUSHR 2
  %defstr RN32 %1
  %defstr RN16 %2
        mov     dword [TOPLIN - 4], 0xdeadbeef
        ON_STACK
  %ifnidn %1, esp
        mov     %1, 0x12345678
  %endif
        push    %1
        OFF_STACK
  %ifidn %1, esp
        CHECK_EQ {KN, "push ", RN32, ": the value before the push"}, [TOPLIN - 4], ESP0
  %else
        CHECK_EQ {KN, "push ", RN32, ": value"}, [TOPLIN - 4], 0x12345678
  %endif
        CHECK_EQ {KN, "push ", RN32, ": esp"}, [res_esp], ESPTOP - 4

        mov     dword [TOPLIN - 4], 0xdeadbeef
        ON_STACK
  %ifnidn %1, esp
        mov     %1, 0x12345678
  %endif
        push    %2
        OFF_STACK
  %ifidn %1, esp
        CHECK_EQ {KN, "push ", RN16, ": SP before the push, 16 bits"}, [TOPLIN - 4], 0x0000beef
  %else
        CHECK_EQ {KN, "push ", RN16, ": 16 bits"}, [TOPLIN - 4], 0x5678beef
  %endif
        CHECK_EQ {KN, "push ", RN16, ": esp"}, [res_esp], ESPTOP - 2

        mov     dword [TOPLIN - 4], 0x9abcdef0
        ON_STACK ESPTOP - 4
        pop     %1
        mov     [res_v], %1
        OFF_STACK
        CHECK_EQ {KN, "pop ", RN32, ": value"}, [res_v], 0x9abcdef0
  %ifnidn %1, esp
        CHECK_EQ {KN, "pop ", RN32, ": esp"}, [res_esp], ESP0
  %endif

        mov     dword [TOPLIN - 4], 0x5a5a0000
        ON_STACK ESPTOP - 2
  %ifnidn %1, esp
        mov     %1, 0x11112222
  %endif
        pop     %2
        mov     [res_v], %1
        OFF_STACK
  %ifidn %1, esp
        CHECK_EQ {KN, "pop ", RN16, ": the popped value replaces SP"}, [res_esp], 0x25a5a
  %else
        CHECK_EQ {KN, "pop ", RN16, ": 16 bits, upper half kept"}, [res_v], 0x11115a5a
        CHECK_EQ {KN, "pop ", RN16, ": esp"}, [res_esp], ESP0
  %endif
%endmacro

; ---- segment registers ----
; PUSHSEG sreg: both operand sizes. A 32-bit push writes the selector to the low word
; (the upper word is either zeroed or left alone, SDM PUSH: not checked)
%macro PUSHSEG 1
  %defstr SN %1
        mov     dword [TOPLIN - 4], 0xdeadbeef
        ON_STACK
        mov     [res_sel], %1
        o32 push %1
        OFF_STACK
        movzx   eax, word [TOPLIN - 4]
        CHECK_EQ {KN, "o32 push ", SN, ": selector in the low word"}, eax, [res_sel]
        CHECK_EQ {KN, "o32 push ", SN, ": esp"}, [res_esp], ESPTOP - 4

        mov     dword [TOPLIN - 4], 0xdeadbeef
        ON_STACK
        mov     [res_sel], %1
        o16 push %1
        OFF_STACK
        movzx   eax, word [TOPLIN - 2]
        CHECK_EQ {KN, "o16 push ", SN, ": selector"}, eax, [res_sel]
        movzx   eax, word [TOPLIN - 4]
        CHECK_EQ {KN, "o16 push ", SN, ": the word below untouched"}, eax, 0xbeef
        CHECK_EQ {KN, "o16 push ", SN, ": esp"}, [res_esp], ESPTOP - 2
%endmacro

; POPSEG sreg, selector: both operand sizes; records the register after the pop
%macro POPSEG 2
  %defstr SN %1
        mov     dword [TOPLIN - 4], 0xffff0000 | %2
        ON_STACK ESPTOP - 4
        o32 pop %1
        mov     [res_sel], %1
        OFF_STACK
        call    restore_segs
        CHECK_EQ {KN, "o32 pop ", SN, ": selector"}, [res_sel], %2
        CHECK_EQ {KN, "o32 pop ", SN, ": esp (in the old stack's size)"}, [res_esp], ESP0

        mov     dword [TOPLIN - 4], (%2 << 16) | 0xbeef
        ON_STACK ESPTOP - 2
        o16 pop %1
        mov     [res_sel], %1
        OFF_STACK
        call    restore_segs
        CHECK_EQ {KN, "o16 pop ", SN, ": selector"}, [res_sel], %2
        CHECK_EQ {KN, "o16 pop ", SN, ": esp (in the old stack's size)"}, [res_esp], ESP0
%endmacro

restore_segs:
        push    eax
        mov     ax, KDATA
        mov     ds, ax
        mov     es, ax
        mov     fs, ax
        mov     gs, ax
        pop     eax
        ret

; ---- one stack: every form (expanded once per stack) ----
%macro ALL_FORMS 0
        PUSHR   eax, ax
        PUSHR   ecx, cx
        PUSHR   edx, dx
        PUSHR   ebx, bx
        PUSHR   esp, sp
        PUSHR   ebp, bp
        PUSHR   esi, si
        PUSHR   edi, di

        ; immediates: 68 id, 66 68 iw, 6A ib sign-extended to both sizes
        mov     dword [TOPLIN - 4], 0xdeadbeef
        ON_STACK
        push    dword 0x11223344
        OFF_STACK
        CHECK_EQ {KN, "push imm32"}, [TOPLIN - 4], 0x11223344
        CHECK_EQ {KN, "push imm32: esp"}, [res_esp], ESPTOP - 4
        mov     dword [TOPLIN - 4], 0xdeadbeef
        ON_STACK
        push    word 0x1122
        OFF_STACK
        CHECK_EQ {KN, "push imm16"}, [TOPLIN - 4], 0x1122beef
        CHECK_EQ {KN, "push imm16: esp"}, [res_esp], ESPTOP - 2
        mov     dword [TOPLIN - 4], 0xdeadbeef
        ON_STACK
        db      0x6a, 0x81                      ; push byte -127 (32-bit)
        OFF_STACK
        CHECK_EQ {KN, "push imm8 (o32): sign-extended"}, [TOPLIN - 4], 0xffffff81
        CHECK_EQ {KN, "push imm8 (o32): esp"}, [res_esp], ESPTOP - 4
        mov     dword [TOPLIN - 4], 0xdeadbeef
        ON_STACK
        db      0x66, 0x6a, 0x81                ; push byte -127 (16-bit)
        OFF_STACK
        CHECK_EQ {KN, "push imm8 (o16): sign-extended"}, [TOPLIN - 4], 0xff81beef
        CHECK_EQ {KN, "push imm8 (o16): esp"}, [res_esp], ESPTOP - 2

        ; memory operands: FF /6 and 8F /0, both sizes
        mov     dword [MEMV], 0x11223344
        mov     dword [TOPLIN - 4], 0xdeadbeef
        ON_STACK
        push    dword [MEMV]
        OFF_STACK
        CHECK_EQ {KN, "push dword [mem]"}, [TOPLIN - 4], 0x11223344
        CHECK_EQ {KN, "push dword [mem]: esp"}, [res_esp], ESPTOP - 4
        mov     dword [TOPLIN - 4], 0xdeadbeef
        ON_STACK
        push    word [MEMV]
        OFF_STACK
        CHECK_EQ {KN, "push word [mem]"}, [TOPLIN - 4], 0x3344beef
        CHECK_EQ {KN, "push word [mem]: esp"}, [res_esp], ESPTOP - 2
        mov     dword [TOPLIN - 4], 0xcafef00d
        ON_STACK ESPTOP - 4
        pop     dword [MEMV]
        OFF_STACK
        CHECK_EQ {KN, "pop dword [mem]"}, [MEMV], 0xcafef00d
        CHECK_EQ {KN, "pop dword [mem]: esp"}, [res_esp], ESP0
        mov     dword [TOPLIN - 4], 0xbeef0000
        ON_STACK ESPTOP - 2
        pop     word [MEMV]
        OFF_STACK
        CHECK_EQ {KN, "pop word [mem]: 16 bits"}, [MEMV], 0xcafebeef
        CHECK_EQ {KN, "pop word [mem]: esp"}, [res_esp], ESP0
        ; POP [ESP+d]: the address uses ESP after the pop (SDM POP). ESP starts at 0xFFF0
        ; so that the 16-bit stack does not wrap (SP and ESP then agree).
        mov     dword [SCRATCH + 0xfff0], 0x600df00d
        mov     dword [SCRATCH + 0xfff8], 0
        ON_STACK 0xfff0
        pop     dword [esp + 4]
        OFF_STACK
        CHECK_EQ {KN, "pop dword [esp+4]: address after the pop"}, [SCRATCH + 0xfff8], 0x600df00d
        CHECK_EQ {KN, "pop dword [esp+4]: esp"}, [res_esp], 0xfff4
        mov     word [SCRATCH + 0xfff0], 0x1234
        mov     word [SCRATCH + 0xfff6], 0
        ON_STACK 0xfff0
        pop     word [esp + 4]
        OFF_STACK
        movzx   eax, word [SCRATCH + 0xfff6]
        CHECK_EQ {KN, "pop word [esp+4]: address after the pop"}, eax, 0x1234

        ; segment registers
        PUSHSEG es
        PUSHSEG cs
        PUSHSEG ss
        PUSHSEG ds
        PUSHSEG fs
        PUSHSEG gs
        POPSEG  es, DSEG_T
        POPSEG  ds, DSEG_T
        POPSEG  fs, DSEG_T
        POPSEG  gs, DSEG_T
        ; POP SS to a stack of the other size: SP/ESP moves in the size of the old one
        POPSEG  ss, OTHERSS

        ; PUSHA/POPA
        mov     ecx, 8
        mov     edi, TOPLIN - 32
        mov     eax, 0xdeadbeef
        rep stosd
        ON_STACK
        mov     eax, 0x11111111
        mov     ecx, 0x22222222
        mov     edx, 0x33333333
        mov     ebx, 0x44444444
        mov     ebp, 0x66666666
        mov     esi, 0x77777777
        mov     edi, 0x88888888
        pushad
        OFF_STACK
        CHECK_EQ {KN, "pushad: eax"}, [TOPLIN - 4], 0x11111111
        CHECK_EQ {KN, "pushad: ecx"}, [TOPLIN - 8], 0x22222222
        CHECK_EQ {KN, "pushad: edx"}, [TOPLIN - 12], 0x33333333
        CHECK_EQ {KN, "pushad: ebx"}, [TOPLIN - 16], 0x44444444
        CHECK_EQ {KN, "pushad: esp before"}, [TOPLIN - 20], ESP0
        CHECK_EQ {KN, "pushad: ebp"}, [TOPLIN - 24], 0x66666666
        CHECK_EQ {KN, "pushad: esi"}, [TOPLIN - 28], 0x77777777
        CHECK_EQ {KN, "pushad: edi"}, [TOPLIN - 32], 0x88888888
        CHECK_EQ {KN, "pushad: esp"}, [res_esp], ESPTOP - 32

        mov     ecx, 8
        mov     edi, TOPLIN - 32
        mov     eax, 0xdeadbeef
        rep stosd
        ON_STACK
        mov     eax, 0x11111111
        mov     ecx, 0x22222222
        mov     edx, 0x33333333
        mov     ebx, 0x44444444
        mov     ebp, 0x66666666
        mov     esi, 0x77777777
        mov     edi, 0x88888888
        o16 pusha
        OFF_STACK
        CHECK_EQ {KN, "pusha (o16): ax cx"}, [TOPLIN - 4], 0x11112222
        CHECK_EQ {KN, "pusha (o16): dx bx"}, [TOPLIN - 8], 0x33334444
        CHECK_EQ {KN, "pusha (o16): sp before, bp"}, [TOPLIN - 12], 0x00006666
        CHECK_EQ {KN, "pusha (o16): si di"}, [TOPLIN - 16], 0x77778888
        CHECK_EQ {KN, "pusha (o16): below untouched"}, [TOPLIN - 20], 0xdeadbeef
        CHECK_EQ {KN, "pusha (o16): esp"}, [res_esp], ESPTOP - 16

        ; popad: the ESP slot is skipped
        mov     dword [TOPLIN - 4], 0xa1a1a1a1
        mov     dword [TOPLIN - 8], 0xc1c1c1c1
        mov     dword [TOPLIN - 12], 0xd1d1d1d1
        mov     dword [TOPLIN - 16], 0xb1b1b1b1
        mov     dword [TOPLIN - 20], 0xdeadbeef
        mov     dword [TOPLIN - 24], 0xb2b2b2b2
        mov     dword [TOPLIN - 28], 0x51515151
        mov     dword [TOPLIN - 32], 0xd2d2d2d2
        ON_STACK ESPTOP - 32
        popad
        mov     [res_regs], eax
        mov     [res_regs + 4], ecx
        mov     [res_regs + 8], edx
        mov     [res_regs + 12], ebx
        mov     [res_regs + 20], ebp
        mov     [res_regs + 24], esi
        mov     [res_regs + 28], edi
        OFF_STACK
        CHECK_EQ {KN, "popad: eax"}, [res_regs], 0xa1a1a1a1
        CHECK_EQ {KN, "popad: ecx"}, [res_regs + 4], 0xc1c1c1c1
        CHECK_EQ {KN, "popad: edx"}, [res_regs + 8], 0xd1d1d1d1
        CHECK_EQ {KN, "popad: ebx"}, [res_regs + 12], 0xb1b1b1b1
        CHECK_EQ {KN, "popad: ebp"}, [res_regs + 20], 0xb2b2b2b2
        CHECK_EQ {KN, "popad: esi"}, [res_regs + 24], 0x51515151
        CHECK_EQ {KN, "popad: edi"}, [res_regs + 28], 0xd2d2d2d2
        CHECK_EQ {KN, "popad: esp (slot skipped)"}, [res_esp], ESP0

        ON_STACK ESPTOP - 16
        mov     eax, 0x11111111
        mov     ecx, 0x22222222
        mov     edx, 0x33333333
        mov     ebx, 0x44444444
        mov     ebp, 0x66666666
        mov     esi, 0x77777777
        mov     edi, 0x88888888
        o16 popa
        mov     [res_regs], eax
        mov     [res_regs + 4], ecx
        mov     [res_regs + 8], edx
        mov     [res_regs + 12], ebx
        mov     [res_regs + 20], ebp
        mov     [res_regs + 24], esi
        mov     [res_regs + 28], edi
        OFF_STACK
        ; the 16 bytes below TOPLIN hold, as words from the top: a1a1 a1a1 c1c1 c1c1 d1d1 d1d1 b1b1 b1b1
        CHECK_EQ {KN, "popa (o16): ax, upper half kept"}, [res_regs], 0x1111a1a1
        CHECK_EQ {KN, "popa (o16): cx"}, [res_regs + 4], 0x2222a1a1
        CHECK_EQ {KN, "popa (o16): dx"}, [res_regs + 8], 0x3333c1c1
        CHECK_EQ {KN, "popa (o16): bx"}, [res_regs + 12], 0x4444c1c1
        CHECK_EQ {KN, "popa (o16): bp"}, [res_regs + 20], 0x6666d1d1
        CHECK_EQ {KN, "popa (o16): si"}, [res_regs + 24], 0x7777b1b1
        CHECK_EQ {KN, "popa (o16): di"}, [res_regs + 28], 0x8888b1b1
        CHECK_EQ {KN, "popa (o16): esp"}, [res_esp], ESP0

        ; PUSHF/POPF
        push    dword 0x8d7
        popfd
        mov     dword [TOPLIN - 4], 0xdeadbeef
        ON_STACK
        pushfd
        OFF_STACK
        CHECK_EQ {KN, "pushfd"}, [TOPLIN - 4], 0x8d7
        CHECK_EQ {KN, "pushfd: esp"}, [res_esp], ESPTOP - 4
        push    dword 0x8d7
        popfd
        mov     dword [TOPLIN - 4], 0xdeadbeef
        ON_STACK
        pushfw
        OFF_STACK
        CHECK_EQ {KN, "pushf (o16)"}, [TOPLIN - 4], 0x08d7beef
        CHECK_EQ {KN, "pushf (o16): esp"}, [res_esp], ESPTOP - 2
        mov     dword [TOPLIN - 4], 0xcd5
        ON_STACK ESPTOP - 4
        popfd
        mov     [res_esp2], esp
        pushfd
        pop     dword [res_v]
        cld
        OFF_STACK
        push    dword 2
        popfd
        CHECK_EQ {KN, "popfd"}, [res_v], 0xcd7
        CHECK_EQ {KN, "popfd: esp"}, [res_esp2], ESP0
        mov     dword [TOPLIN - 4], 0x08c1beef
        ON_STACK ESPTOP - 2
        popfw
        mov     [res_esp2], esp
        pushfd
        pop     dword [res_v]
        OFF_STACK
        push    dword 2
        popfd
        CHECK_EQ {KN, "popf (o16)"}, [res_v], 0x8c3
        CHECK_EQ {KN, "popf (o16): esp"}, [res_esp2], ESP0

        ; CALL/RET (near, 32-bit operands)
        mov     dword [TOPLIN - 4], 0xdeadbeef
        ON_STACK
        call    %%callee
%%after_call:
        mov     [res_esp2], esp
        OFF_STACK
        CHECK_EQ {KN, "call rel32: return address"}, [res_v], %%after_call
        CHECK_EQ {KN, "call rel32: esp in the callee"}, [res_v2], ESPTOP - 4
        CHECK_EQ {KN, "ret: esp"}, [res_esp2], ESP0
        ON_STACK
        mov     dword [res_ptr], %%callee8
        call    [res_ptr]
%%after_call8:
        OFF_STACK
        CHECK_EQ {KN, "call [mem]: return address"}, [TOPLIN - 4], %%after_call8
        CHECK_EQ {KN, "ret 8: esp (stack-size arithmetic)"}, [res_esp], ESP0 + 8

        ; ENTER/LEAVE in the operand size that matches the stack
        ON_STACK
  %if KBITS = 32
        mov     ebp, 0x12345678
        enter   8, 0
        mov     [res_v], ebp
        mov     [res_v2], esp
        leave
  %else
        mov     ebp, 0x12345678
        o16 enter 8, 0
        mov     [res_v], ebp
        mov     [res_v2], esp
        o16 leave
  %endif
        mov     [res_esp2], ebp
        OFF_STACK
  %if KBITS = 32
        CHECK_EQ {KN, "enter 8,0: saved ebp"}, [TOPLIN - 4], 0x12345678
        CHECK_EQ {KN, "enter 8,0: ebp = frame"}, [res_v], ESPTOP - 4
        CHECK_EQ {KN, "enter 8,0: esp"}, [res_v2], ESPTOP - 12
  %else
        movzx   eax, word [TOPLIN - 2]
        CHECK_EQ {KN, "o16 enter 8,0: saved bp"}, eax, 0x5678
        CHECK_EQ {KN, "o16 enter 8,0: bp = frame, upper half kept"}, [res_v], 0x1234fffe
        CHECK_EQ {KN, "o16 enter 8,0: esp"}, [res_v2], ESPTOP - 10
  %endif
        CHECK_EQ {KN, "leave: ebp restored"}, [res_esp2], 0x12345678
        CHECK_EQ {KN, "leave: esp"}, [res_esp], ESP0
        ret

%%callee:
        mov     eax, [TOPLIN - 4]
        mov     [res_v], eax
        mov     [res_v2], esp
        ret
%%callee8:
        ret     8
%endmacro

; ---- the tests ----
test_main:
        DESC    6, SCRATCH, 0xFFFFF, 0x92, 0
        DESC    7, SCRATCH, 0xFFFFF, 0x92, 4
        DESC    8, 0, 0xFFFFF, 0x92, 0xC
        call    forms16
        call    forms32
        ret

forms16:
        STACK   16
        ALL_FORMS
forms32:
        STACK   32
        ALL_FORMS

%include "lib-end.inc"
saved_esp:      resd 1
res_esp:        resd 1
res_esp2:       resd 1
res_eax:        resd 1
res_ss:         resd 1
res_sel:        resd 1
res_v:          resd 1
res_v2:         resd 1
res_ptr:        resd 1
res_regs:       resd 8
bss_end:
