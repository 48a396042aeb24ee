# The vDSO's code: clock_gettime, gettimeofday, time, clock_getres and getcpu in user mode.
#
# toolchain/vdso.py assembles this file (LLVM, through llvmlite) and lays the code out at
# VDSO_TEXT (0x1000) in an ELF shared object whose time page, qkernel.mm.vdso.VdsoTime, lies one
# page below the image: `vdso_text - 0x2000(%rip)` is that page, and nothing here needs a
# relocation (toolchain/vdso.py refuses one). The layout of the time page (offsets):
#     0 seq          even when stable (the kernel makes it odd while it writes)
#     8 flags        bit 0: the TSC clock below is valid; else every call is the system call
#    16 tsc_base     the TSC at the last update
#    24 mono_base    CLOCK_MONOTONIC (ns) at tsc_base
#    32 mult         ns = mono_base + ((tsc - tsc_base) * mult) >> shift, 128-bit product
#    40 shift
#    48 real_offset  CLOCK_REALTIME - CLOCK_MONOTONIC (ns, two's complement)
# The kernel's own clock (qkernel/task/clock.py) computes exactly this, so a time read here and
# one read through the system call agree to the nanosecond for the same TSC.
#
# Clocks served here: REALTIME, MONOTONIC, MONOTONIC_RAW, REALTIME_COARSE, MONOTONIC_COARSE,
# BOOTTIME (ids 0, 1, 4, 5, 6, 7: mask 0xF3); any other id (CPU-time clocks, TAI, dynamic
# clocks) is the system call, as Linux's vDSO does.

    .text

vdso_text:                          # local: a global would need a relocation

# vdso_ns: the clock in %edi (0 realtime family, else monotonic) in ns in %rax, or -1 when the
# time page has no valid clock. Clobbers %rax, %rcx, %rdx, %r8, %r9 (not %rdi, %rsi, %r10, %r11).
vdso_ns:
    leaq vdso_text-0x2000(%rip), %r8
1:  movq 0(%r8), %r9
    testq $1, %r9
    jnz 3f
    testq $1, 8(%r8)
    jz 2f
    rdtsc
    shlq $32, %rdx
    orq %rdx, %rax
    subq 16(%r8), %rax
    jae 4f
    xorl %eax, %eax               # a TSC below the base (never on one CPU): no time passed
4:  movq 40(%r8), %rcx
    mulq 32(%r8)
    shrdq %cl, %rdx, %rax
    addq 24(%r8), %rax
    cmpq 0(%r8), %r9
    jne 1b
    cmpl $0, %edi
    je 5f
    cmpl $5, %edi
    je 5f
    ret
5:  addq 48(%r8), %rax
    ret
3:  pause
    jmp 1b
2:  movq $-1, %rax
    ret

# split_ns: %rax ns -> %rax seconds, %rdx nanoseconds. Clobbers %rcx.
split_ns:
    xorl %edx, %edx
    movl $1000000000, %ecx
    divq %rcx
    ret

    .globl __vdso_clock_gettime
    .type __vdso_clock_gettime, @function
__vdso_clock_gettime:
    cmpl $7, %edi
    ja 9f
    movl $0xF3, %eax
    btl %edi, %eax
    jnc 9f
    call vdso_ns
    cmpq $-1, %rax
    je 9f
    call split_ns
    movq %rax, 0(%rsi)
    movq %rdx, 8(%rsi)
    xorl %eax, %eax
    ret
9:  movl $228, %eax               # SYS_clock_gettime
    syscall
    ret
    .size __vdso_clock_gettime, .-__vdso_clock_gettime

    .globl __vdso_gettimeofday
    .type __vdso_gettimeofday, @function
__vdso_gettimeofday:
    movq %rdi, %r10
    testq %rdi, %rdi
    jz 1f
    xorl %edi, %edi
    call vdso_ns
    cmpq $-1, %rax
    je 9f
    call split_ns
    movq %rax, 0(%r10)
    movq %rdx, %rax
    xorl %edx, %edx
    movl $1000, %ecx
    divq %rcx
    movq %rax, 8(%r10)
1:  testq %rsi, %rsi
    jz 2f
    movq $0, 0(%rsi)              # struct timezone: minuteswest 0, dsttime 0
2:  xorl %eax, %eax
    ret
9:  movq %r10, %rdi
    movl $96, %eax                # SYS_gettimeofday
    syscall
    ret
    .size __vdso_gettimeofday, .-__vdso_gettimeofday

    .globl __vdso_time
    .type __vdso_time, @function
__vdso_time:
    movq %rdi, %r10
    xorl %edi, %edi
    call vdso_ns
    cmpq $-1, %rax
    je 9f
    call split_ns
    testq %r10, %r10
    jz 1f
    movq %rax, 0(%r10)
1:  ret
9:  movq %r10, %rdi
    movl $201, %eax               # SYS_time
    syscall
    ret
    .size __vdso_time, .-__vdso_time

    .globl __vdso_clock_getres
    .type __vdso_clock_getres, @function
__vdso_clock_getres:
    cmpl $7, %edi
    ja 9f
    movl $0xF3, %eax
    btl %edi, %eax
    jnc 9f
    testq %rsi, %rsi
    jz 1f
    movq $0, 0(%rsi)              # 1 ns, as the system call reports (high-resolution clocks)
    movq $1, 8(%rsi)
1:  xorl %eax, %eax
    ret
9:  movl $229, %eax               # SYS_clock_getres
    syscall
    ret
    .size __vdso_clock_getres, .-__vdso_clock_getres

    .globl __vdso_getcpu
    .type __vdso_getcpu, @function
__vdso_getcpu:
    testq %rdi, %rdi
    jz 1f
    movl $0, 0(%rdi)              # one CPU, one node (as the system call)
1:  testq %rsi, %rsi
    jz 2f
    movl $0, 0(%rsi)
2:  xorl %eax, %eax
    ret
    .size __vdso_getcpu, .-__vdso_getcpu
