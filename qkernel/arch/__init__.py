"""x86-64 architecture support: descriptor tables, traps, the local APIC timer, CPU helpers."""
