"""The emu platform: the guest kernel under unicorn (QEMU's TCG), for hosts without /dev/kvm.

Owns: one unicorn x86-64 CPU over all of GuestMemory (mapped with mem_map_ptr at guest-physical 0,
so the host's GuestMemory and the guest see the same bytes), the boot CPU state from
pagetables.build_boot_state, and what unicorn leaves out and a KVM vCPU does itself:
- exits: `out`/`in` become IoOut/IoIn (qvisor.kvm.exits, so handlers are platform-neutral),
  `hlt` becomes Hlt, a triple fault Shutdown, an emulation failure InternalError, an access to
  guest-physical memory outside RAM Mmio;
- exception and interrupt delivery through the guest IDT (unicorn only reports them): gate
  checks, IST / RSP0 stack switch from the TSS, the 64-bit frame (+ error code), CR2, IF/TF
  clearing, ring 3 -> ring 0; a fault while delivering follows the SDM's double-fault table up to
  a triple fault (Shutdown);
- a local x2APIC (MSR interface) whose timer is driven by host time, interrupts injected
  when RFLAGS.IF=1 (and no sti/mov-ss shadow); `sti; hlt` sleeps until the next tick;
- CPUID leaf 1 reports x2APIC; `syscall` enters LSTAR at CPL 0 (unicorn's own `syscall` only
  calls a hook and skips the instruction).

Modules: platform (EmuPlatform: set-up, the run loop, unicorn's hooks), delivery (exceptions,
interrupts and `syscall` as the CPU delivers them), apic (the x2APIC and its MSR hooks), kicker
(the deadline thread), cpu (unicorn internals: the CPU-context fields, a page-table walker).

Run model (no per-instruction hook anywhere): uc.emu_start runs until something stops it.
interrupt() (another thread, a signal handler) stops the slice and makes run() return
Interrupted.
Port I/O handlers are called synchronously from unicorn's `in`/`out` hooks, so the guest sees
the result of a qcall immediately, as on KVM; a handler that stops the run stops it at the end of
the current translation block (unicorn cannot stop inside one), so a few more instructions may
have run when run() returns (their port I/O is still served). Exceptions, `syscall` and #UD
stop emulation at once; the platform delivers them between two emu_start calls. Timer ticks:
a helper thread calls uc.emu_stop at the next deadline (kicker).

Unicorn 2.1.4 facts found here (see cpu for the context-field probe):
- UC_HOOK_INSN takes IN, OUT, SYSCALL, SYSENTER and CPUID only: rdmsr/wrmsr/hlt cannot be
  hooked (the x2APIC MSRs are served by code hooks, see apic);
- `hlt` just ends emu_start with RIP after it (no hook, no error): a stop with no other reason
  and 0xF4 before RIP is a hlt;
- #UD does not reach UC_HOOK_INTR: it ends emu_start with UC_ERR_INSN_INVALID unless a
  UC_HOOK_INSN_INVALID hook returns True, and then unicorn re-executes the instruction forever
  unless the hook also calls emu_stop;
- the error code QEMU computed (#PF P/W/U/I bits, #GP selector) and "software interrupt" are
  only in the CPU context: read there from the UC_HOOK_INTR hook (cpu);
- unicorn never clears QEMU's exception-in-flight latch: without a reset after each delivery
  the next contributory fault silently becomes #DF (cpu.CpuContext);
- emu_start(begin, until) must get until=0 (see platform._UNTIL);
- uc.emu_stop from a hook takes effect at the end of the translation block; writing RIP from a
  hook restarts translation and can drop a pending stop, so no hook here writes RIP;
- host writes to guest memory do not invalidate translated code: load_* flush it, and
  flush_code() is there for anyone who writes code into guest memory from the host;
- mem_unmap of a large region is slow (~13 ms per GiB): close() lets uc_close drop it.
"""

from .. import RunTimeout
from .apic import X2Apic
from .platform import EmuPlatform, features_from_cpuid

__all__ = ["EmuPlatform", "X2Apic", "RunTimeout", "features_from_cpuid"]
