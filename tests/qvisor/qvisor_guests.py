"""Tiny test guests: GNU as source (AT&T, .code64) and the bytes `as --64` + `objcopy -O binary`
produced for it. The bytes are embedded so the pvm tests need no binutils; test_guest_bytes
re-assembles the sources when `as` is installed and checks they still match.

All guests are position independent and run at CPL 0 at KERNEL_BASE; port 0x10 is the test
output port, 0x20 the test input port.
"""

OUT_PORT = 0x10
IN_PORT = 0x20

GUESTS: dict[str, tuple[str, str]] = {
    # (a) "hi\n" one byte per `out`, then hlt
    "hi": ("""
    lea msg(%rip), %rsi
    mov $3, %ecx
1:  lodsb
    out %al, $0x10
    dec %ecx
    jnz 1b
    hlt
msg: .ascii "hi\\n"
""", "488d350d000000b903000000ace610ffc975f9f468690a"),
    # (b) the u64 at the boot-parameter page (rdi, a direct-map address) as two dword outs
    "boot_params": ("""
    mov (%rdi), %rax
    out %eax, $0x10
    shr $32, %rax
    out %eax, $0x10
    hlt
""", "488b07e71048c1e820e710f4"),
    # (c) null IDT, then #UD: no handler -> #DF -> triple fault
    "triple_fault": ("""
    push $0
    push $0
    lidt (%rsp)
    ud2
""", "6a006a000f011c240f0b"),
    # (d) int3 at CPL 0
    "int3": ("""
    int3
    hlt
""", "ccf4"),
    "echo_in": ("""
    in $0x20, %eax
    add $1, %eax
    out %eax, $0x10
    hlt
""", "e52083c001e710f4"),
    "rep_outsb": ("""
    lea msg(%rip), %rsi
    mov $5, %ecx
    mov $0x10, %dx
    rep outsb
    hlt
msg: .ascii "hello"
""", "488d350c000000b90500000066ba1000f36ef468656c6c6f"),
    # jump into the direct map, which is mapped NX
    "exec_direct_map": ("""
    movabs $0xffff800000200000, %rax
    jmp *%rax
""", "48b8000020000080ffffffe0"),
    # the boot stack works: push, call, read the pushed value, ret
    "stack": ("""
    push $0x2a
    call 1f
    hlt
1:  mov 8(%rsp), %rax
    out %al, $0x10
    ret
""", "6a2ae801000000f4488b442408e610c3"),
    # an SSE instruction at CPL 0
    "sse": ("""
    xorps %xmm0, %xmm0
    hlt
""", "0f57c0f4"),
    "vmcall": ("""
    vmcall
    hlt
""", "0f01c1f4"),
    # N = u64 at the boot-parameter page; N outs, then hlt
    "count_outs": ("""
    mov (%rdi), %rcx
1:  out %al, $0x10
    dec %rcx
    jnz 1b
    hlt
""", "488b0fe61048ffc975f9f4"),
}


def code(name: str) -> bytes:
    return bytes.fromhex(GUESTS[name][1])
