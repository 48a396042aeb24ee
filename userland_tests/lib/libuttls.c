/* libuttls.so: a shared library with thread-local storage, for dynload.c to dlopen. */
__thread int ut_counter = 5;

int ut_bump(void) { return ++ut_counter; }
