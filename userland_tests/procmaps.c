/* procmaps: /proc/self/maps in Linux's format (fs/proc/task_mmu.c show_map_vma), read the way
 * glibc and Python read it. Every line is parsed strictly ("%08lx-%08lx rwxp %08llx MM:mm INODE "
 * then, when the mapping has a name, spaces up to column 73 and the name); lines are sorted and
 * do not overlap; an anonymous page split out of a PROT_NONE region by mprotect, a private file
 * mapping at offset 4096, shared anonymous memory, a MAP_STACK region, the brk heap, the main
 * stack and the program's own text appear as what they are; 401 alternating VMAs are all listed
 * with every line whole; /proc/PID/maps is the same text; pthread_getattr_np of the main thread
 * gives a stack inside the [stack] line; an unlinked mapped file is "PATH (deleted)". Nothing about [vdso]/[vvar]/[vsyscall] is printed (the
 * sandbox has no vDSO yet), and no addresses. */
#include "ut.h"
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#define PAGE 4096UL
#define MAXLINES 2048
#define SPLIT 401

static char text[1 << 20];
static char again[1 << 20];

struct line {
    unsigned long start, end, off, ino;
    unsigned maj, min;
    char perms[5];
    const char *name;       /* "" when the mapping has none */
};
static struct line lines[MAXLINES];
static int nlines;
static int format_ok = 1;
static char bad[512];

static long read_all(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    long got = 0, r;
    /* small reads, as a stdio reader's buffer would: the snapshot must stay whole */
    while ((size_t)got < cap - 1 && (r = read(fd, buf + got, 1000 < cap - 1 - got ? 1000 : cap - 1 - got)) > 0)
        got += r;
    close(fd);
    buf[got] = 0;
    return got;
}

/* A hex field of at least 8 (or 2) lowercase digits, zero-padded; advances *p. */
static int hexfield(char **p, int width, unsigned long *out) {
    char *s = *p;
    int n = 0;
    unsigned long v = 0;
    while ((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')) {
        v = v * 16 + (unsigned long)(s[n] <= '9' ? s[n] - '0' : s[n] - 'a' + 10);
        n++;
    }
    if (n < width || (n > width && s[0] == '0'))
        return 0;
    *p = s + n;
    *out = v;
    return 1;
}

static void fail_line(const char *why, const char *ln) {
    if (format_ok)
        snprintf(bad, sizeof bad, "%s: %.200s", why, ln);
    format_ok = 0;
}

static void parse(char *buf) {
    nlines = 0;
    char *ln = buf;
    while (*ln && nlines < MAXLINES) {
        char *nl = strchr(ln, '\n');
        if (!nl) {
            fail_line("last line without a newline", ln);
            return;
        }
        *nl = 0;
        struct line *l = &lines[nlines];
        char *p = ln;
        unsigned long maj, min;
        if (!hexfield(&p, 8, &l->start) || *p++ != '-' || !hexfield(&p, 8, &l->end) || *p++ != ' ') {
            fail_line("bad range", ln);
            return;
        }
        for (int k = 0; k < 4; k++)
            l->perms[k] = *p++;
        l->perms[4] = 0;
        if (!strchr("r-", l->perms[0]) || !strchr("w-", l->perms[1]) || !strchr("x-", l->perms[2]) ||
            !strchr("ps", l->perms[3]) || *p++ != ' ') {
            fail_line("bad perms", ln);
            return;
        }
        if (!hexfield(&p, 8, &l->off) || *p++ != ' ' || !hexfield(&p, 2, &maj) || *p++ != ':' ||
            !hexfield(&p, 2, &min) || *p++ != ' ') {
            fail_line("bad offset or device", ln);
            return;
        }
        l->maj = (unsigned)maj;
        l->min = (unsigned)min;
        char *e;
        l->ino = strtoul(p, &e, 10);
        if (e == p || (*p == '0' && e - p > 1) || *e != ' ') {
            fail_line("bad inode", ln);
            return;
        }
        p = e + 1;                      /* the prefix ends with one space */
        long col = p - ln;
        if (*p == 0) {
            l->name = "";               /* no name: the line ends with that space */
        } else {
            long want = col < 72 ? 73 : col + 1;
            for (long k = col; k < want; k++) {
                if (ln[k] != ' ') {
                    fail_line("the name is not padded to column 73", ln);
                    return;
                }
            }
            l->name = ln + want;
            if (*l->name == ' ' || *l->name == 0) {
                fail_line("the name starts after column 73", ln);
                return;
            }
        }
        if (l->start >= l->end || l->start % PAGE || l->end % PAGE) {
            fail_line("empty or unaligned range", ln);
            return;
        }
        if (nlines > 0 && lines[nlines - 1].end > l->start) {
            fail_line("not sorted or overlapping", ln);
            return;
        }
        nlines++;
        ln = nl + 1;
    }
}

static struct line *containing(unsigned long a) {
    for (int i = 0; i < nlines; i++)
        if (lines[i].start <= a && a < lines[i].end)
            return &lines[i];
    return NULL;
}

static int special(const char *name) {
    return !strcmp(name, "[vdso]") || !strcmp(name, "[vvar]") || !strcmp(name, "[vsyscall]") ||
           !strcmp(name, "[vvar_vclock]");
}

int main(void) {
    char exe[4096];
    ssize_t en = readlink("/proc/self/exe", exe, sizeof exe - 1);
    CHECK(en > 0, "readlink(/proc/self/exe)");
    exe[en > 0 ? en : 0] = 0;

    /* the heap: the break moved up a page */
    unsigned long brk0 = (unsigned long)syscall(SYS_brk, 0);
    unsigned long brk1 = (unsigned long)syscall(SYS_brk, brk0 + 2 * PAGE);
    CHECK(brk1 == brk0 + 2 * PAGE, "brk up two pages");
    *(volatile char *)(brk1 - 1) = 1;

    /* an anonymous page between two PROT_NONE ones */
    char *three = mmap(NULL, 3 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(three != MAP_FAILED, "mmap 3 PROT_NONE pages");
    CHECK(mprotect(three + PAGE, PAGE, PROT_READ | PROT_WRITE) == 0, "mprotect the middle one RW");

    /* a file of 3 pages mapped from offset 4096 */
    char path[64];
    snprintf(path, sizeof path, "/tmp/pq-procmaps-%d", (int)getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0, "create a file in /tmp");
    static char page[PAGE];
    for (int k = 0; k < 3; k++) {
        memset(page, 'a' + k, sizeof page);
        if (write(fd, page, sizeof page) != (ssize_t)sizeof page)
            CHECK(0, "write page %d", k);
    }
    struct stat st;
    CHECK(fstat(fd, &st) == 0, "fstat it");
    char *fm = mmap(NULL, 2 * PAGE, PROT_READ, MAP_PRIVATE, fd, PAGE);
    CHECK(fm != MAP_FAILED && fm[0] == 'b', "mmap 2 pages of it at offset 4096");
    close(fd);

    /* shared anonymous memory and a MAP_STACK region (a thread stack's kind) */
    char *shm = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(shm != MAP_FAILED, "mmap shared anonymous memory");
    char *tstack = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE | PROT_EXEC,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    CHECK(tstack != MAP_FAILED, "mmap a MAP_STACK region");

    long n = read_all("/proc/self/maps", text, sizeof text);
    CHECK(n > 0, "read /proc/self/maps");
    char pidpath[64];
    snprintf(pidpath, sizeof pidpath, "/proc/%d/maps", (int)getpid());
    long n2 = read_all(pidpath, again, sizeof again);
    CHECK(n2 == n && !memcmp(text, again, (size_t)n), "/proc/PID/maps is the same text");
    parse(text);
    CHECK(format_ok, "every line in Linux's format, sorted, non-overlapping%s%s", format_ok ? "" : ": ", bad);

    int heaps = 0, stacks = 0, named_files = 0;
    struct line *stack = NULL;
    for (int i = 0; i < nlines; i++) {
        struct line *l = &lines[i];
        if (!strcmp(l->name, "[heap]"))
            heaps++;
        if (!strcmp(l->name, "[stack]")) {
            stacks++;
            stack = l;
        }
        if (l->name[0] == '/')
            named_files++;
        if (l->name[0] == 0 && (l->off || l->maj || l->min || l->ino))
            CHECK(0, "an anonymous line has offset 0 and device 00:00 0");
        if (l->name[0] != 0 && l->name[0] != '/' && l->name[0] != '[')
            CHECK(0, "a name is a path or a [marker]: %s", l->name);
        if (l->name[0] == '[' && strcmp(l->name, "[heap]") && strcmp(l->name, "[stack]") && !special(l->name))
            CHECK(0, "a known [marker]: %s", l->name);
    }
    CHECK(heaps == 1, "one [heap] line");
    CHECK(stacks == 1, "one [stack] line");

    struct line *h = containing(brk1 - 1);
    CHECK(h && !strcmp(h->name, "[heap]") && !strcmp(h->perms, "rw-p") && h->end == ((brk1 + PAGE - 1) & ~(PAGE - 1)),
          "the break's last page is in [heap], rw-p, ending at the break");

    int local = 0;
    struct line *s = containing((unsigned long)&local);
    CHECK(s && s == stack && !strcmp(s->perms, "rw-p"), "a local variable lies in [stack], rw-p");

    struct line *t = containing((unsigned long)&main);
    CHECK(t && t->perms[0] == 'r' && t->perms[2] == 'x' && t->perms[3] == 'p', "main's code is r-xp");
    CHECK(t && !strcmp(t->name, exe), "and its line names the program (/proc/self/exe)");
    CHECK(named_files >= 1, "file lines have absolute paths");

    struct line *a = containing((unsigned long)three + PAGE);
    CHECK(a && a->start == (unsigned long)three + PAGE && a->end == (unsigned long)three + 2 * PAGE &&
          !strcmp(a->perms, "rw-p") && a->name[0] == 0, "the RW page is a line of its own, rw-p, no name");
    struct line *b = containing((unsigned long)three);
    CHECK(b && b->end == (unsigned long)three + PAGE && !strcmp(b->perms, "---p"), "the page below is ---p");
    struct line *c = containing((unsigned long)three + 2 * PAGE);
    CHECK(c && c->start == (unsigned long)three + 2 * PAGE && !strcmp(c->perms, "---p"), "the page above is ---p");

    struct line *f = containing((unsigned long)fm);
    CHECK(f && f->start == (unsigned long)fm && f->end == (unsigned long)fm + 2 * PAGE && !strcmp(f->perms, "r--p"),
          "the file mapping is its own line, r--p");
    CHECK(f && f->off == PAGE, "with offset 00001000");
    CHECK(f && f->maj == major(st.st_dev) && f->min == minor(st.st_dev) && f->ino == st.st_ino,
          "with the file's device and inode");
    CHECK(f && !strcmp(f->name, path), "and its path");

    struct line *m = containing((unsigned long)shm);
    CHECK(m && !strcmp(m->perms, "rw-s"), "shared anonymous memory is rw-s");
    CHECK(m && !strcmp(m->name, "/dev/zero (deleted)"), "named /dev/zero (deleted)");

    struct line *k = containing((unsigned long)tstack);
    CHECK(k && !strcmp(k->perms, "rwxp") && k->name[0] == 0, "a MAP_STACK region is rwxp, not [stack]");

    /* pthread_getattr_np reads /proc/self/maps (glibc) for the main thread's stack */
    pthread_attr_t at;
    void *saddr = NULL;
    size_t ssize = 0;
    int pr = pthread_getattr_np(pthread_self(), &at);
    CHECK(pr == 0, "pthread_getattr_np(main thread)");
    if (pr == 0) {
        CHECK(pthread_attr_getstack(&at, &saddr, &ssize) == 0, "pthread_attr_getstack");
        pthread_attr_destroy(&at);
        unsigned long lo = (unsigned long)saddr, hi = lo + ssize;
        CHECK(ssize >= 16 * 1024 && ssize <= 64UL << 20, "its size is sensible (16 KiB .. 64 MiB)");
        CHECK(lo <= (unsigned long)&local && (unsigned long)&local < hi, "it holds a local variable");
        CHECK(stack && hi > stack->start && hi <= stack->end, "its top lies in the [stack] line");
        int below_free = 1;
        for (int i = 0; i < nlines; i++)
            if (&lines[i] != stack && lines[i].end > lo && lines[i].start < hi)
                below_free = 0;
        CHECK(below_free, "and it overlaps no other mapping");
    }

    /* many VMAs: every other page of 401 made readable */
    char *many = mmap(NULL, SPLIT * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(many != MAP_FAILED, "mmap %d pages", SPLIT);
    for (int i = 0; i < SPLIT; i += 2)
        mprotect(many + (unsigned long)i * PAGE, PAGE, PROT_READ);
    n = read_all("/proc/self/maps", text, sizeof text);
    format_ok = 1;
    parse(text);
    CHECK(format_ok, "with %d more VMAs: still whole lines in Linux's format%s%s", SPLIT, format_ok ? "" : ": ", bad);
    int in = 0;
    for (int i = 0; i < nlines; i++)
        if (lines[i].start >= (unsigned long)many && lines[i].end <= (unsigned long)many + SPLIT * PAGE)
            in++;
    CHECK(in == SPLIT, "all %d of them listed (%d)", SPLIT, in);
    CHECK(containing((unsigned long)&local) && !strcmp(containing((unsigned long)&local)->name, "[stack]"),
          "and the [stack] line after them");
    /* the file unlinked: its mapping stays, named "PATH (deleted)" */
    CHECK(unlink(path) == 0, "unlink the mapped file");
    read_all("/proc/self/maps", text, sizeof text);
    format_ok = 1;
    parse(text);
    char deleted[96];
    snprintf(deleted, sizeof deleted, "%s (deleted)", path);
    f = containing((unsigned long)fm);
    CHECK(f && !strcmp(f->name, deleted), "its line now names it \"PATH (deleted)\"");
    return ut_exit(0);
}
