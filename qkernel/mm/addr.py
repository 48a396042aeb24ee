"""Kernel address conversions between the direct map, the kernel image window and physical."""

from __future__ import annotations

from qkernel.abi import DIRECT_MAP_BASE, KERNEL_BASE, KERNEL_PHYS
from qkernel.dialect import u64


def pa(va: u64) -> u64:
    """Guest-physical address of a kernel virtual address (image window or direct map)."""
    if va >= KERNEL_BASE:
        return va - KERNEL_BASE + KERNEL_PHYS
    return va - DIRECT_MAP_BASE


def va(phys: u64) -> u64:
    """Direct-map virtual address of a guest-physical address."""
    return phys + DIRECT_MAP_BASE
