//go:build musl

package seccomp

// With musl (the Makefile's build where musl-gcc is installed), berth links
// Debian's static libseccomp, which was built against glibc with
// _FORTIFY_SOURCE: its text export (seccomp_export_pfc, which berth never
// calls) uses glibc's checked fprintf, the one symbol musl lacks. This is it.

/*
#include <stdarg.h>
#include <stdio.h>

int __fprintf_chk(FILE *f, int flag, const char *fmt, ...)
{
	va_list ap;
	int n;

	(void)flag;
	va_start(ap, fmt);
	n = vfprintf(f, fmt, ap);
	va_end(ap);
	return n;
}
*/
import "C"
