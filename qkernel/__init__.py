"""QKernel: the guest kernel, written in kernel Python (see docs/kernel-python.md)."""
