# boot/entry.S: what cannot be kernel Python. Assembled by LLVM as module asm (toolchain/driver.py).
#
# _start      entry from QVisor in 64-bit mode: rdi = boot-parameter page (direct-map virtual
#             address), rsp = top of the boot stack. Calls kmain(rdi) and halts if it returns.
# isr_stubs   256 interrupt/exception stubs, ISR_STUB_SIZE (16) bytes apart: each pushes an error
#             code (0 when the CPU pushes none) and its vector, then jumps to isr_common.
# isr_common  saves the general registers as a qkernel.arch.trap.TrapFrame on the current stack,
#             calls trap_dispatch(frame), restores them and returns with iretq.

# The general registers of a TrapFrame (qkernel/arch/trap.py), pushed rax first, r15 last.
    .macro SAVE_GPRS
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
    .endm
    .macro RESTORE_GPRS
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
    .endm

# The hardware part of a syscall's TrapFrame (the user's ss, rsp, rflags = r11, cs, rip = rcx),
# error 0 and vector SYSCALL_MARK, built on the current task's kernel stack
# (qkernel.arch.percpu.stack_top, switched with the task); the user's rsp passes through
# qkernel.arch.percpu.user_rsp (per-CPU: one vCPU).
    .macro SYSCALL_FRAME
    movq %rsp, qkernel.arch.percpu.user_rsp(%rip)
    movq qkernel.arch.percpu.stack_top(%rip), %rsp
    pushq $0x1b
    pushq qkernel.arch.percpu.user_rsp(%rip)
    pushq %r11
    pushq $0x23
    pushq %rcx
    pushq $0
    pushq $0x200
    .endm

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
    # From the program (CPL 3, rip in the user half): the frame moves from the IST stack to the
    # current task's kernel stack, so that a task may sleep in the handler (a system call
    # taken as a #PF on kvm_pvm, a fault, an interrupt) and another task's trap cannot
    # overwrite it. Kernel code (CPL 0, or flat mode's CPL 3 kernel with a kernel rip) stays.
    testb $3, 24(%rsp)
    jz isr_frame
    movq %rax, isr_scratch(%rip)
    cmpq $0, 16(%rsp)
    jge 1f                  # a user-half rip
    leaq syscall_entry(%rip), %rax
    cmpq %rax, 16(%rsp)
    je 1f                   # kvm_pvm split mode's system call: a #PF at LSTAR from CPL 3
    movq isr_scratch(%rip), %rax
    jmp isr_frame
1:  movq %rsp, %rax
    movq qkernel.arch.percpu.stack_top(%rip), %rsp
    pushq 48(%rax)
    pushq 40(%rax)
    pushq 32(%rax)
    pushq 24(%rax)
    pushq 16(%rax)
    pushq 8(%rax)
    pushq 0(%rax)
    movq isr_scratch(%rip), %rax
isr_frame:                  # the frame is where it stays (syscall_entry comes here)
    SAVE_GPRS
    cld
    movq %rsp, %rdi
    call trap_dispatch
    .globl isr_return
isr_return:                 # a forked task's first switch resumes here, rsp at its TrapFrame
    RESTORE_GPRS
    addq $16, %rsp
    iretq
    .size isr_common, .-isr_common

# syscall_entry  LSTAR target (split mode: `syscall` from ring 3 arrives here at CPL 0 with the
#                user's rsp). Switches to syscall_stack_top, builds a TrapFrame with vector
#                SYSCALL_MARK (0x200), rip = rcx, rflags = r11, the user cs/ss and rsp, calls
#                trap_dispatch like every trap, and returns with iretq (never sysretq: no
#                non-canonical-rcx hazard). On kvm_pvm a user `syscall` jumps here without
#                leaving CPL 3; the instruction fetch faults (#PF) and trap_dispatch recognises
#                rip == syscall_entry instead.
    .globl syscall_entry
    .type syscall_entry,@function
    .balign 16
syscall_entry:
    SYSCALL_FRAME
    jmp isr_frame
    .size syscall_entry, .-syscall_entry

# enter_user(rip, rsp): the first entry into ring 3: iretq to rip with the given stack, user
# selectors, interrupts enabled, every general register zero (as Linux starts a process).
    .globl enter_user
    .type enter_user,@function
enter_user:
    pushq $0x1b
    pushq %rsi
    pushq $0x202
    pushq $0x23
    pushq %rdi
    xorl %eax, %eax
    xorl %ebx, %ebx
    xorl %ecx, %ecx
    xorl %edx, %edx
    xorl %esi, %esi
    xorl %edi, %edi
    xorl %ebp, %ebp
    xorl %r8d, %r8d
    xorl %r9d, %r9d
    xorl %r10d, %r10d
    xorl %r11d, %r11d
    xorl %r12d, %r12d
    xorl %r13d, %r13d
    xorl %r14d, %r14d
    xorl %r15d, %r15d
    iretq
    .size enter_user, .-enter_user


# syscall_entry_flat  LSTAR target in flat mode: kvm_pvm runs a ring-3 `syscall` here at CPL 3
#                     (the kernel image and direct map are user-accessible then). Same TrapFrame
#                     as syscall_entry; returns without a privilege change: popfq, the user's
#                     stack, jmp to the return rip.
    .text
    .globl syscall_entry_flat
    .type syscall_entry_flat,@function
    .balign 16
syscall_entry_flat:
    SYSCALL_FRAME
    jmp flat_common
    .size syscall_entry_flat, .-syscall_entry_flat

# pf_stub_flat  flat mode's #PF gate (CPL 0, on IST1). A fault in the program is bounced to
#               pf_entry_flat at CPL 3, where the kernel serves it natively: the user's rip,
#               rflags, rsp, the error code and CR2 are stashed, the iret frame is pointed at
#               pf_entry_flat on the syscall stack, and iretq. Anything else (a fault in kernel
#               code) takes the ordinary stub, isr_stubs + 14 * 16.
    .globl pf_stub_flat
    .type pf_stub_flat,@function
    .balign 16
pf_stub_flat:
    testb $3, 16(%rsp)
    jz 1f
    pushq %rax
    movq 16(%rsp), %rax
    shrq $47, %rax
    jnz 2f
    movq %cr2, %rax
    movq %rax, pf_cr2(%rip)
    movq 8(%rsp), %rax
    movq %rax, pf_error(%rip)
    movq 16(%rsp), %rax
    movq %rax, pf_rip(%rip)
    movq 32(%rsp), %rax
    movq %rax, pf_rflags(%rip)
    movq 40(%rsp), %rax
    movq %rax, pf_rsp(%rip)
    leaq pf_entry_flat(%rip), %rax
    movq %rax, 16(%rsp)
    movq qkernel.arch.percpu.stack_top(%rip), %rax  # the current task's kernel stack
    movq %rax, 40(%rsp)
    popq %rax
    addq $8, %rsp
    iretq
2:  popq %rax
1:  jmp isr_stubs + 14 * 16
    .size pf_stub_flat, .-pf_stub_flat

# bp_stub_flat  flat mode's #BP gate (CPL 0, on IST1). The CPL 3 kernel's doorbell
#               (qkernel/arch/priv.py: int3 with pending_op set) is served here in a dozen
#               emulated instructions: the CR3 load or invlpg, then iretq. Anything else (a
#               program's int3) takes the ordinary stub, isr_stubs + 3 * 16. Going through
#               trap_dispatch instead cost ~200 us per address-space switch on kvm_pvm.
    .globl bp_stub_flat
    .type bp_stub_flat,@function
    .balign 16
bp_stub_flat:
    testb $3, 8(%rsp)
    jz 3f
    cmpq $0, (%rsp)
    jge 3f                  # a user-half rip: the program's own int3
    pushq %rax
    movq qkernel.arch.priv.pending_op(%rip), %rax
    cmpq $2, %rax           # OP_WRITE_CR3
    jne 1f
    movq $0, qkernel.arch.priv.pending_op(%rip)
    movq qkernel.arch.priv.pending_arg(%rip), %rax
    movq %rax, %cr3
    popq %rax
    iretq
1:  cmpq $1, %rax           # OP_INVLPG
    jne 2f
    movq $0, qkernel.arch.priv.pending_op(%rip)
    movq qkernel.arch.priv.pending_arg(%rip), %rax
    invlpg (%rax)
    popq %rax
    iretq
2:  popq %rax
3:  jmp isr_stubs + 3 * 16
    .size bp_stub_flat, .-bp_stub_flat

# timer_stub_flat  flat mode's timer gate (CPL 0, on IST1): EOI and the tick counted here in a
#                  dozen emulated instructions. A tick that interrupted the program is bounced
#                  to irq_entry_flat at CPL 3 (as pf_stub_flat bounces faults), where the
#                  scheduler may switch tasks; one that interrupted the kernel (CPL 0, or the
#                  CPL 3 kernel in the upper half) is only counted: that kernel is not
#                  reentrant, and its next preemption point looks at the time.
    .globl timer_stub_flat
    .type timer_stub_flat,@function
    .balign 16
timer_stub_flat:
    pushq %rax
    pushq %rcx
    pushq %rdx
    movl $0x80B, %ecx          # MSR_X2APIC_EOI
    xorl %eax, %eax
    xorl %edx, %edx
    wrmsr
    incq qkernel.arch.trap.ticks(%rip)
    testb $3, 32(%rsp)         # the interrupted cs (rdx, rcx, rax, then rip, cs, rflags, rsp, ss)
    jz 1f
    movq 24(%rsp), %rax
    shrq $47, %rax
    jnz 1f
    movq 24(%rsp), %rax
    movq %rax, irq_rip(%rip)
    movq 40(%rsp), %rax
    movq %rax, irq_rflags(%rip)
    movq 48(%rsp), %rax
    movq %rax, irq_rsp(%rip)
    leaq irq_entry_flat(%rip), %rax
    movq %rax, 24(%rsp)
    movq qkernel.arch.percpu.stack_top(%rip), %rax  # the current task's kernel stack
    movq %rax, 48(%rsp)
1:  popq %rdx
    popq %rcx
    popq %rax
    iretq
    .size timer_stub_flat, .-timer_stub_flat

# irq_entry_flat  (CPL 3, on the current task's kernel stack) builds a TrapFrame with vector
#                 IRQ_MARK (0x400) from timer_stub_flat's stash and goes the way of a fault.
    .globl irq_entry_flat
    .type irq_entry_flat,@function
irq_entry_flat:
    pushq $0x1b
    pushq irq_rsp(%rip)
    pushq irq_rflags(%rip)
    pushq $0x23
    pushq irq_rip(%rip)
    pushq $0
    pushq $0x400
    jmp flat_common
    .size irq_entry_flat, .-irq_entry_flat

# pf_entry_flat  (CPL 3, on the syscall stack, every register the program's) builds a TrapFrame
#                with vector PF_MARK (0x300) from the stash, calls trap_dispatch, and returns to
#                the program with every register restored (rip through memory: no scratch).
#                The stash is per-CPU, not per task: it is copied onto the current task's
#                kernel stack here and pf_cr2 is read by user_fault before anything can switch
#                tasks (a second vCPU needs its own stash, reached through GS).
    .globl pf_entry_flat
    .type pf_entry_flat,@function
pf_entry_flat:
    pushq $0x1b
    pushq pf_rsp(%rip)
    pushq pf_rflags(%rip)
    pushq $0x23
    pushq pf_rip(%rip)
    pushq pf_error(%rip)
    pushq $0x300
    jmp flat_common
    .size pf_entry_flat, .-pf_entry_flat

# flat_common  (CPL 3, a TrapFrame's hardware part and vector pushed) saves the general registers,
#              calls trap_dispatch, restores every register and returns to the program without a
#              privilege change: rflags by popfq, the user's stack, rip through memory (no scratch).
    .type flat_common,@function
flat_common:
    SAVE_GPRS
    cld
    movq %rsp, %rdi
    call trap_dispatch
    .globl flat_return
flat_return:                # a forked task's first switch resumes here in flat mode
    RESTORE_GPRS
    addq $16, %rsp
    popq flat_return_rip(%rip)
    addq $8, %rsp
    popfq
    popq %rsp
    jmp *flat_return_rip(%rip)
    .size flat_common, .-flat_common

    .data
    .balign 8
    .globl pf_cr2
pf_cr2:
    .quad 0
pf_error:
    .quad 0
pf_rip:
    .quad 0
pf_rflags:
    .quad 0
pf_rsp:
    .quad 0
irq_rip:
    .quad 0
irq_rflags:
    .quad 0
irq_rsp:
    .quad 0
flat_return_rip:
    .quad 0
isr_scratch:                # isr_common's rax while it moves a frame (per-CPU: one vCPU)
    .quad 0
