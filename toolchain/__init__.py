"""qkc: the kernel-Python compiler (parse -> resolve -> check -> lower -> optimise -> emit -> link)."""
