/* exitcode STATUS [HOW]: ends with STATUS through HOW, one of
 *   return (from main, default), exit (libc exit), _exit (libc _exit),
 *   sys_exit (raw SYS_exit: one thread, so the process ends), sys_exit_group (raw SYS_exit_group).
 * The kernel keeps the low 8 bits: 256 -> 0, -1 -> 255. Buffered stdout is flushed only where
 * the way out flushes it (return/exit), which is part of what this checks. */
#include "ut.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: exitcode STATUS [return|exit|_exit|sys_exit|sys_exit_group]\n");
        return 2;
    }
    int status = (int)strtol(argv[1], NULL, 0);
    const char *how = argc > 2 ? argv[2] : "return";
    printf("exiting with %d via %s\n", status, how);
    fflush(stdout);
    printf("unflushed line\n"); /* shows only when the way out flushes stdio */
    if (!strcmp(how, "exit"))
        exit(status);
    if (!strcmp(how, "_exit"))
        _exit(status);
    if (!strcmp(how, "sys_exit"))
        syscall(SYS_exit, status);
    if (!strcmp(how, "sys_exit_group"))
        syscall(SYS_exit_group, status);
    if (!strcmp(how, "return"))
        return status;
    fprintf(stderr, "exitcode: unknown way out %s\n", how);
    return 2;
}
