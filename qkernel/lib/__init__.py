"""Freestanding helpers for kernel code (formatting, strings)."""
