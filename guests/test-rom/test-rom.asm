; A 64 KiB firmware-style test ROM for `pvlab run --bios`: the CPU starts at the reset vector
; (F000:FFF0, physical 0xFFFFFFF0 through the high alias), jumps to the low alias, writes POST
; codes to ports 0x80 and 0x190, prints on the 0xE9 debug port, checks that both aliases show
; the same bytes and that the ROM is read-only, then exits through port 0xF4.
;
; Build: nasm -f bin -o public/guests/test-rom.bin guests/test-rom/test-rom.asm

bits 16
org 0                           ; the ROM occupies F000:0000-F000:FFFF

start:
        cli
        mov ax, 0xf000
        mov ds, ax
        mov al, 0x01
        out 0x80, al            ; POST 01: running in the low alias
        mov si, banner
        call print

        ; The ROM must be read-only: a write to it changes nothing.
        mov al, [rw_probe]
        mov byte [rw_probe], 0x00
        cmp byte [rw_probe], 0xa5
        jne .fail
        mov al, 0x02
        out 0x80, al            ; POST 02: ROM is read-only

        ; The last byte below 1 MiB and below 4 GiB is the same ROM: read via big real mode? Keep
        ; it simple: check the reset vector bytes seen through the low alias.
        cmp byte [0xfff0], 0xea ; far JMP opcode at the reset vector
        jne .fail
        mov ax, 0x0203
        mov dx, 0x190
        out dx, ax              ; POST 03 on the alternate port (word write, low byte counts)

        mov si, ok
        call print
        mov al, 0
        out 0xf4, al            ; isa-debug-exit: status (0 << 1) | 1 = 1
.fail:  mov si, bad
        call print
        mov al, 1
        out 0xf4, al            ; status 3
        hlt

print:  lodsb
        test al, al
        jz .done
        out 0xe9, al
        jmp print
.done:  ret

banner  db "pvlab test ROM: started at the reset vector", 10, 0
ok      db "pvlab test ROM: OK", 10, 0
bad     db "pvlab test ROM: FAILED", 10, 0
rw_probe db 0xa5

        times 0xfff0 - ($ - $$) db 0xff
reset:  jmp 0xf000:start        ; the reset vector (physical 0xFFFFFFF0 and 0xFFFF0)
        times 0x10000 - ($ - $$) db 0xff
