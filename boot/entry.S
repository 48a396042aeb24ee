# boot/entry.S: what cannot be kernel Python. Assembled by LLVM as module asm (toolchain/driver.py).
#
# _start      entry from QVisor in 64-bit mode: rdi = boot-parameter page (direct-map virtual
#             address), rsp = top of the boot stack. Calls kmain(rdi) and halts if it returns.
# isr_stubs   256 interrupt/exception stubs, ISR_STUB_SIZE (16) bytes apart: each pushes an error
#             code (0 when the CPU pushes none) and its vector, then jumps to isr_common.
# isr_common  saves the general registers as a qkernel.arch.trap.TrapFrame on the current stack,
#             calls trap_dispatch(frame), restores them and returns with iretq.

    .section .text.boot,"ax",@progbits
    .globl _start
    .type _start,@function
_start:
    xorl %ebp, %ebp
    andq $-16, %rsp
    call kmain
1:  hlt
    jmp 1b
    .size _start, .-_start

    .text
    .balign 16
    .globl isr_stubs
    .type isr_stubs,@function
isr_stubs:
    .set vec, 0
    .rept 256
    .balign 16
    .if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    .else
    pushq $0
    .endif
    .if vec < 128
    pushq $vec
    .else
    pushq $(vec - 256)
    .endif
    jmp isr_common
    .set vec, vec + 1
    .endr
    .size isr_stubs, .-isr_stubs

    .globl isr_common
    .type isr_common,@function
isr_common:
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    cld
    movq %rsp, %rdi
    call trap_dispatch
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp
    iretq
    .size isr_common, .-isr_common
