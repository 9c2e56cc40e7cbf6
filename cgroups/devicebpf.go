package cgroups

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cgroup v2 has no device files: an eBPF program attached to the cgroup
// (BPF_PROG_TYPE_CGROUP_DEVICE) decides each open and mknod. berth writes
// the program's instructions itself, from the same deviceState that v1
// would hold, so both versions decide alike.

// bpfInsn is struct bpf_insn.
type bpfInsn struct {
	code uint8
	regs uint8 // dst in the low nibble, src in the high one
	off  int16
	imm  int32
}

const (
	opLdxW   = unix.BPF_LDX | unix.BPF_MEM | unix.BPF_W
	opMovX   = unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_X
	opMovK   = unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_K
	opAndK   = unix.BPF_ALU64 | unix.BPF_AND | unix.BPF_K
	opRshK   = unix.BPF_ALU64 | unix.BPF_RSH | unix.BPF_K
	opJne32K = unix.BPF_JMP32 | unix.BPF_JNE | unix.BPF_K
	opJneK   = unix.BPF_JMP | unix.BPF_JNE | unix.BPF_K
	opJeqK   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	opExit   = unix.BPF_JMP | unix.BPF_EXIT
)

func insn(code uint8, dst, src uint8, off int16, imm int32) bpfInsn {
	return bpfInsn{code: code, regs: dst | src<<4, off: off, imm: imm}
}

// Registers of the program: r1 is the context (struct bpf_cgroup_dev_ctx:
// access_type, major, minor, each a u32; access_type is access << 16 | type).
const (
	rRet, rCtx, rAccess, rType, rMajor, rMinor, rTmp = 0, 1, 2, 3, 4, 5, 6
)

// deviceProgram returns the program that allows an access exactly when s
// does: in a default-deny cgroup when one exception covers the device and
// every permission asked for; in a default-allow one unless an exception
// covers the device and any permission asked for (as the kernel decides v1).
func deviceProgram(s *deviceState) []bpfInsn {
	prog := []bpfInsn{
		insn(opLdxW, rAccess, rCtx, 0, 0),
		insn(opMovX, rType, rAccess, 0, 0),
		insn(opAndK, rType, 0, 0, 0xffff),
		insn(opRshK, rAccess, 0, 0, 16),
		insn(opLdxW, rMajor, rCtx, 4, 0),
		insn(opLdxW, rMinor, rCtx, 8, 0),
	}
	verdict := func(allow bool) []bpfInsn {
		v := int32(0)
		if allow {
			v = 1
		}
		return []bpfInsn{insn(opMovK, rRet, 0, 0, v), insn(opExit, 0, 0, 0, 0)}
	}
	for _, e := range s.exceptions {
		typ := int32(unix.BPF_DEVCG_DEV_CHAR)
		if e.typ == 'b' {
			typ = unix.BPF_DEVCG_DEV_BLOCK
		}
		acc := accessBits(e.perms)
		// Each jump with off -1 goes past this exception's block; the
		// offsets are filled in once the block's length is known.
		block := []bpfInsn{insn(opJne32K, rType, 0, -1, typ), insn(opMovX, rTmp, rAccess, 0, 0)}
		if s.defaultAllow { // the exception denies if any asked-for bit is in it
			block = append(block, insn(opAndK, rTmp, 0, 0, acc), insn(opJeqK, rTmp, 0, -1, 0))
		} else { // it allows if every asked-for bit is in it
			block = append(block, insn(opAndK, rTmp, 0, 0, ^acc), insn(opJneK, rTmp, 0, -1, 0))
		}
		if e.major != wildcard {
			block = append(block, insn(opJne32K, rMajor, 0, -1, int32(e.major)))
		}
		if e.minor != wildcard {
			block = append(block, insn(opJne32K, rMinor, 0, -1, int32(e.minor)))
		}
		block = append(block, verdict(!s.defaultAllow)...)
		for i := range block {
			if block[i].off == -1 {
				block[i].off = int16(len(block) - i - 1)
			}
		}
		prog = append(prog, block...)
	}
	return append(prog, verdict(s.defaultAllow)...)
}

func accessBits(perms string) int32 {
	var acc int32
	for _, c := range perms {
		switch c {
		case 'r':
			acc |= unix.BPF_DEVCG_ACC_READ
		case 'w':
			acc |= unix.BPF_DEVCG_ACC_WRITE
		case 'm':
			acc |= unix.BPF_DEVCG_ACC_MKNOD
		}
	}
	return acc
}

// setDevicesV2 attaches the program for r's rules to the cgroup at dir and
// then detaches the ones it had: while both are attached a device needs
// both to allow it, so nothing is ever allowed that neither the old nor the
// new rules allow.
func setDevicesV2(dir string, rules []*deviceRule) error {
	s, err := newDeviceState(rules)
	if err != nil {
		return err
	}
	prog, err := loadDeviceProgram(deviceProgram(s))
	if err != nil {
		return err
	}
	defer unix.Close(prog)
	cg, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(cg)
	old, err := attachedDevicePrograms(cg)
	if err != nil {
		return err
	}
	if err := bpfAttach(unix.BPF_PROG_ATTACH, cg, prog); err != nil {
		return err
	}
	for _, id := range old {
		attr := struct{ id, next, flags uint32 }{id: id}
		fd, err := bpf(unix.BPF_PROG_GET_FD_BY_ID, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
		if err == unix.ENOENT {
			continue // gone meanwhile
		} else if err != nil {
			return fmt.Errorf("device program %d of %s: %w", id, dir, err)
		}
		err = bpfAttach(unix.BPF_PROG_DETACH, cg, int(fd))
		unix.Close(int(fd))
		if err != nil && err != unix.ENOENT {
			return fmt.Errorf("detach device program %d of %s: %w", id, dir, err)
		}
	}
	return nil
}

func bpf(cmd int, attr unsafe.Pointer, size uintptr) (uintptr, error) {
	r, _, errno := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
	if errno != 0 {
		return 0, errno
	}
	return r, nil
}

// loadDeviceProgram loads insns; a program the verifier refuses is
// loaded again with its log, for the error.
func loadDeviceProgram(insns []bpfInsn) (int, error) {
	code := make([]byte, 0, 8*len(insns))
	for _, in := range insns {
		code = append(code, in.code, in.regs)
		code = binary.LittleEndian.AppendUint16(code, uint16(in.off))
		code = binary.LittleEndian.AppendUint32(code, uint32(in.imm))
	}
	license := []byte("Apache-2.0\x00")
	attr := struct {
		progType, insnCnt uint32
		insns, license    uint64
		logLevel, logSize uint32
		logBuf            uint64
	}{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE, insnCnt: uint32(len(insns)),
		insns: uint64(uintptr(unsafe.Pointer(&code[0]))), license: uint64(uintptr(unsafe.Pointer(&license[0]))),
	}
	defer runtime.KeepAlive(code) // the kernel reads them through attr's integers
	defer runtime.KeepAlive(license)
	fd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err == nil {
		return int(fd), nil
	}
	log := make([]byte, 1<<16)
	attr.logLevel, attr.logSize, attr.logBuf = 1, uint32(len(log)), uint64(uintptr(unsafe.Pointer(&log[0])))
	fd, err2 := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(log)
	if err2 == nil {
		return int(fd), nil
	}
	return -1, fmt.Errorf("load the device cgroup program: %w: %s", err, unix.ByteSliceToString(log))
}

func bpfAttach(cmd, cgroup, prog int) error {
	attr := struct{ target, prog, attachType, flags uint32 }{
		target: uint32(cgroup), prog: uint32(prog), attachType: unix.BPF_CGROUP_DEVICE,
	}
	if cmd == unix.BPF_PROG_ATTACH {
		attr.flags = unix.BPF_F_ALLOW_MULTI
	}
	if _, err := bpf(cmd, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err != nil {
		if cmd == unix.BPF_PROG_ATTACH {
			return fmt.Errorf("attach the device cgroup program: %w", err)
		}
		return err
	}
	return nil
}

// attachedDevicePrograms lists the IDs of the device programs attached to
// the cgroup itself (not those inherited from its parents).
func attachedDevicePrograms(cgroup int) ([]uint32, error) {
	ids := make([]uint32, 64)
	attr := struct {
		target, attachType, queryFlags, attachFlags uint32
		ids                                         uint64
		count                                       uint32
		_                                           uint32
	}{target: uint32(cgroup), attachType: unix.BPF_CGROUP_DEVICE, ids: uint64(uintptr(unsafe.Pointer(&ids[0]))), count: uint32(len(ids))}
	if _, err := bpf(unix.BPF_PROG_QUERY, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err != nil {
		return nil, fmt.Errorf("list the device cgroup programs: %w", err)
	}
	runtime.KeepAlive(ids)
	return ids[:attr.count], nil
}
