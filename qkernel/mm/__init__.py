"""Memory management: address conversions, physical frames (later: page tables, VMAs)."""
