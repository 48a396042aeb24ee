"""`--platform auto`: pvm or kvm when /dev/kvm works, emu otherwise, always with the reason."""

from __future__ import annotations

import os
from pathlib import Path

from ..pagetables import BootLayout

PLATFORMS = ("pvm", "kvm", "emu")


def detect(kvm_path: str = "/dev/kvm") -> tuple[str, str]:
    """(platform name, why it was chosen)."""
    if not os.path.exists(kvm_path):
        return "emu", f"{kvm_path} does not exist"
    try:
        fd = os.open(kvm_path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return "emu", f"{kvm_path} cannot be opened: {e.strerror}"
    os.close(fd)
    if Path("/sys/module/kvm_pvm").exists():
        return "pvm", "/dev/kvm is kvm_pvm (module kvm_pvm loaded)"
    return "kvm", "/dev/kvm is hardware KVM"


def create(name: str, mem_size: int, layout: BootLayout):  # noqa: ANN201
    """An instance of the named platform, with the interrupt controller the kernel needs
    (imports unicorn only for emu)."""
    if name == "pvm":
        from .pvm import PvmPlatform
        return PvmPlatform(mem_size, layout, irqchip=True)
    if name == "kvm":
        from .kvm import KvmPlatform
        return KvmPlatform(mem_size, layout, irqchip=True)
    if name == "emu":
        from .emu import EmuPlatform
        return EmuPlatform(mem_size, layout)
    raise ValueError(f"unknown platform {name!r} (choose from {', '.join(PLATFORMS)} or auto)")
