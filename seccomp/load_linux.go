package seccomp

import (
	"os"
	"unsafe"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// enosysWanted: syscalls newer than the profile must fail with ENOSYS, not
// with the profile's EPERM, so that libc falls back to an older syscall
// (glibc tries clone3, then clone; faccessat2, then faccessat). Only when the
// default refuses: with a default of ALLOW or LOG, new syscalls just work.
func enosysWanted(def libseccomp.ScmpAction) bool {
	base := def & 0xffff // the errno of ERRNO/TRACE sits in the high bits
	return base != libseccomp.ActAllow && base != libseccomp.ActLog
}

// withENOSYS prepends a check to prog (this is how runc patches its BPF):
// on the native architecture, a syscall number above the highest one the
// profile names returns ENOSYS; everything else goes on to libseccomp's
// program unchanged. (x32 syscalls carry bit 30 and so get ENOSYS too.)
func withENOSYS(prog []unix.SockFilter, maxNr uint32) []unix.SockFilter {
	const (
		offNr   = 0 // offsetof(struct seccomp_data, nr)
		offArch = 4 // offsetof(struct seccomp_data, arch)
	)
	stub := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: offArch},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 3, K: nativeAuditArch()},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: offNr},
		{Code: unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K, Jt: 0, Jf: 1, K: maxNr},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
	}
	return append(stub, prog...)
}

func nativeAuditArch() uint32 {
	return unix.AUDIT_ARCH_X86_64 // berth is built for amd64 here; see features
}

// Load installs the program on the calling thread (every thread with the
// TSYNC flag) and returns the notify fd, or -1 without NOTIFY rules. The
// caller holds CAP_SYS_ADMIN or has set no_new_privs.
func (p *Program) Load() (int, error) {
	fprog := unix.SockFprog{Len: uint16(len(p.Insns)), Filter: &p.Insns[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(p.Flags), uintptr(unsafe.Pointer(&fprog)))
	if errno != 0 {
		return -1, os.NewSyscallError("seccomp", errno)
	}
	if p.Notify {
		return int(r), nil
	}
	return -1, nil
}
