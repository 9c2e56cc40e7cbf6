package libcontainer

import (
	"encoding/binary"
	"encoding/hex"
	"os"
)

// exeBuildID identifies the build of the running binary: the GNU build id
// note of /proc/self/exe (the linker derives it from the Go build id, a hash
// of every input), or the Go build id note where there is no GNU one. Both
// sit in the first page of the file. "" when neither is found.
func exeBuildID() string {
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		return ""
	}
	defer f.Close()
	head := make([]byte, 8192)
	n, _ := f.ReadAt(head, 0)
	return buildIDFromELF(head[:n])
}

// buildIDFromELF reads the build id notes of a 64-bit little-endian ELF
// file's PT_NOTE segments, as far as they lie inside head.
func buildIDFromELF(head []byte) string {
	le := binary.LittleEndian
	if len(head) < 64 || string(head[:4]) != "\x7fELF" || head[4] != 2 || head[5] != 1 {
		return ""
	}
	phoff, phentsize, phnum := le.Uint64(head[0x20:]), uint64(le.Uint16(head[0x36:])), uint64(le.Uint16(head[0x38:]))
	goID := ""
	for i := uint64(0); i < phnum; i++ {
		ph := phoff + i*phentsize
		if phentsize < 56 || ph+56 > uint64(len(head)) {
			break
		}
		if le.Uint32(head[ph:]) != 4 { // PT_NOTE
			continue
		}
		off, size := le.Uint64(head[ph+8:]), le.Uint64(head[ph+32:])
		if off > uint64(len(head)) || size > uint64(len(head))-off {
			continue
		}
		for notes := head[off : off+size]; len(notes) >= 12; {
			namesz, descsz, typ := uint64(le.Uint32(notes)), uint64(le.Uint32(notes[4:])), le.Uint32(notes[8:])
			nameEnd := 12 + (namesz+3)&^3
			descEnd := nameEnd + (descsz+3)&^3
			if descEnd > uint64(len(notes)) {
				break
			}
			name, desc := string(notes[12:12+namesz]), notes[nameEnd:nameEnd+descsz]
			switch {
			case name == "GNU\x00" && typ == 3: // NT_GNU_BUILD_ID
				return "gnu:" + hex.EncodeToString(desc)
			case name == "Go\x00\x00" && typ == 4: // the Go build id
				goID = "go:" + string(desc)
			}
			notes = notes[descEnd:]
		}
	}
	return goID
}
