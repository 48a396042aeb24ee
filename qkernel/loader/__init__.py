"""Program loading: ELF64 executable parsing and validation (elf), the initial process stack (stack)."""
