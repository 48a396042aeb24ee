/* Preemption by the timer: programs that never make a system call still share the CPU. A forked
   child spins, the parent sleeps, then kills and reaps it; a thread spins until the main thread,
   back from a sleep, sets a flag; an alarm's handler runs in a program that spins waiting for it. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile int flag, alarmed;
static void *spinner(void *arg) {
    (void)arg;
    while (!flag)
        ;
    return NULL;
}
static void on_alarm(int s) { (void)s; alarmed = 1; }

int main(void) {
    struct timespec nap = {0, 100000000};
    pid_t pid = fork();
    if (pid == 0) {
        for (volatile unsigned long x = 0;; x++)
            ;
    }
    nanosleep(&nap, NULL);
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    printf("a spinning child: killed by signal %d\n", WIFSIGNALED(st) ? WTERMSIG(st) : -1);

    pthread_t t;
    pthread_create(&t, NULL, spinner, NULL);
    nanosleep(&nap, NULL);          /* the spinner has the CPU meanwhile */
    flag = 1;
    pthread_join(t, NULL);
    printf("a spinning thread saw the flag the sleeping thread set\n");

    signal(SIGALRM, on_alarm);
    alarm(1);
    while (!alarmed)
        ;
    printf("SIGALRM reached a program spinning without system calls\n");
    return 0;
}
