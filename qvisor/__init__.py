"""QVisor: the host side of pyquark (KVM, platforms, qcall handlers, CLI)."""
