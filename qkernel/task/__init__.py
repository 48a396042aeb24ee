"""Tasks and processes, the kernel's spine (xv6's struct proc, split as Linux's task and
thread group): process.py holds per-process state, task.py per-thread state and `current`."""
