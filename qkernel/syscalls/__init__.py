"""Linux system calls: the table (table.py), errno and syscall numbers, one module per family."""
