; pvlab's first guest: a 16-bit real-mode flat binary loaded at 0x7C00.
; It sets up a stack, programs COM1 (115200 8N1, FIFO, receive interrupt) and the 8259 PIC,
; prints a greeting, then sleeps in HLT and echoes every character the UART interrupt
; delivers. Ctrl-D (0x04) prints a goodbye and halts with interrupts off (machine stops).
;
; Build: nasm -f bin -o public/guests/hello.bin guests/hello/hello.asm   (npm run guests)

bits 16
org 0x7c00

COM1    equ 0x3f8
IRQ4_VEC equ 0x0c               ; master PIC base 0x08 + IRQ 4

start:
        cli
        xor ax, ax
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov sp, 0x7c00
        cld

        ; --- COM1: divisor 1 (115200 baud), 8N1, FIFO on, DTR+RTS+OUT2, receive interrupt
        mov dx, COM1 + 3
        mov al, 0x80            ; LCR.DLAB
        out dx, al
        mov dx, COM1
        mov al, 1
        out dx, al              ; DLL
        inc dx
        xor al, al
        out dx, al              ; DLM
        mov dx, COM1 + 3
        mov al, 0x03            ; 8 data bits, no parity, 1 stop bit
        out dx, al
        mov dx, COM1 + 2
        mov al, 0x07            ; FCR: enable and clear both FIFOs, trigger level 1
        out dx, al
        mov dx, COM1 + 4
        mov al, 0x0b            ; MCR: DTR, RTS, OUT2 (gates the IRQ line on a PC)
        out dx, al
        mov dx, COM1 + 1
        mov al, 0x01            ; IER: received data available
        out dx, al

        ; --- 8259 PICs: master vectors 0x08-0x0F, slave 0x70-0x77, only IRQ 4 unmasked
        mov al, 0x11
        out 0x20, al            ; ICW1: edge, cascade, ICW4 follows
        out 0xa0, al
        mov al, 0x08
        out 0x21, al            ; ICW2 master
        mov al, 0x70
        out 0xa1, al            ; ICW2 slave
        mov al, 0x04
        out 0x21, al            ; ICW3 master: slave on IRQ 2
        mov al, 0x02
        out 0xa1, al            ; ICW3 slave: cascade identity 2
        mov al, 0x01
        out 0x21, al            ; ICW4: 8086 mode
        out 0xa1, al
        mov al, 0xef
        out 0x21, al            ; OCW1: mask everything but IRQ 4
        mov al, 0xff
        out 0xa1, al

        mov word [IRQ4_VEC * 4], com1_isr
        mov word [IRQ4_VEC * 4 + 2], 0

        mov si, greeting
        call puts

.idle:  sti
        hlt                     ; sleep until the UART interrupts (STI's shadow covers HLT)
        cli
        cmp byte [done], 0
        je .idle

        mov si, goodbye
        call puts
        cli
        hlt                     ; halted with interrupts off: the machine stops
        jmp $

; IRQ 4: drain the receive FIFO, echoing each character.
com1_isr:
        push ax
        push dx
.next:  mov dx, COM1 + 5
        in al, dx               ; LSR
        test al, 0x01           ; data ready?
        jz .eoi
        mov dx, COM1
        in al, dx               ; RBR
        cmp al, 0x04            ; Ctrl-D
        je .quit
        cmp al, 0x0d            ; Enter: echo CR LF
        jne .echo
        call putc
        mov al, 0x0a
.echo:  call putc
        jmp .next
.quit:  mov byte [done], 1
        jmp .next
.eoi:   mov al, 0x20
        out 0x20, al            ; non-specific EOI to the master PIC
        pop dx
        pop ax
        iret

; Print the NUL-terminated string at DS:SI.
puts:   lodsb
        test al, al
        jz .done
        call putc
        jmp puts
.done:  ret

; Transmit AL once the holding register is empty.
putc:   push dx
        push ax
        mov dx, COM1 + 5
.wait:  in al, dx
        test al, 0x20           ; LSR.THRE
        jz .wait
        pop ax
        mov dx, COM1
        out dx, al
        pop dx
        ret

greeting db "Hello from pvlab", 13, 10
         db "Type and I echo; Ctrl-D halts.", 13, 10, 0
goodbye  db 13, 10, "Goodbye.", 13, 10, 0
done     db 0
