/* unlinked: calls on a descriptor whose name is gone (ftruncate, fchmod, fstatat AT_EMPTY_PATH,
 * futimens, fchown of an unlinked file; a new file under the old name is another file) and on a
 * removed directory that is still the cwd and a dirfd (ENOENT for new names, getcwd ENOENT,
 * fchdir allowed). Once a kernel panic (ftruncate of an unlinked file: multiprocessing does it). */
#include "ut.h"
#include <fcntl.h>
#include <sys/stat.h>
int main(){ int fd = open("/tmp/unl-x", O_CREAT|O_RDWR, 0644); unlink("/tmp/unl-x");
 printf("ftruncate %d\n", ftruncate(fd, 8192)); struct stat st; fstat(fd,&st); printf("size %ld\n", (long)st.st_size);
 printf("fchmod %d\n", fchmod(fd, 0600)); fstat(fd,&st); printf("mode %o\n", st.st_mode & 0777);
 printf("fstatat %d\n", fstatat(fd, "", &st, AT_EMPTY_PATH)); printf("size %ld\n", (long)st.st_size);
 printf("futimens %d\n", futimens(fd, NULL)); printf("fchown %d\n", fchown(fd, 5, 6)); fstat(fd,&st); printf("uid %d\n", st.st_uid);
 int f2 = open("/tmp/unl-x", O_CREAT|O_RDWR, 0644); printf("fchmod2 %d\n", fchmod(fd, 0640)); fstat(f2,&st); printf("other mode %o\n", st.st_mode&0777); unlink("/tmp/unl-x");
 mkdir("/tmp/unl-d", 0755); int d = open("/tmp/unl-d", O_RDONLY); chdir("/tmp/unl-d"); rmdir("/tmp/unl-d");
 errno=0; int r = openat(d, "foo", O_CREAT|O_RDWR, 0644); printf("openat in removed dir %d %s\n", r, strerror(errno));
 errno=0; r = open("foo", O_CREAT|O_RDWR, 0644); printf("open in removed cwd %d %s\n", r, strerror(errno));
 char buf[256]; errno=0; char *c = getcwd(buf, sizeof buf); printf("getcwd %s %s\n", c ? "ok" : "NULL", strerror(errno));
 errno=0; r = fchdir(d); printf("fchdir %d\n", r); errno=0; r=mkdir("sub", 0755); printf("mkdir in removed %d %s\n", r, strerror(errno));
 return 0; }
