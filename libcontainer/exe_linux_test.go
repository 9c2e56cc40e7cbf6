package libcontainer

import (
	"errors"
	"os"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// copyOfSelf is a copy of the test binary that nothing runs, so that a
// failed write is the seal's doing, not ETXTBSY's.
func copyOfSelf(t testing.TB) string {
	data, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/bin"
	if err := os.WriteFile(path, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// Both ways of sealing the binary give a handle through which the binary
// cannot be written, and that names the binary.
func TestSealedExeIsReadOnly(t *testing.T) {
	bin := copyOfSelf(t)
	for name, sealer := range map[string]func(string) (*os.File, error){"open_tree": seal, "memfd": memfdCopy} {
		f, err := sealer(bin)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		w, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), os.O_WRONLY, 0)
		if err == nil {
			_, err = w.Write([]byte("x"))
			w.Close()
		}
		if err == nil {
			t.Errorf("%s: wrote to the sealed binary", name)
		} else if !errors.Is(err, syscall.EROFS) && !errors.Is(err, syscall.EPERM) {
			t.Errorf("%s: write refused with %v, want EROFS or EPERM", name, err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil || st.Size < 1<<20 {
			t.Errorf("%s: not the binary (size %d, %v)", name, st.Size, err)
		}
		f.Close()
	}
}

// The cost of each protection per container:
// go test -run X -bench Sealed ./libcontainer/
func BenchmarkSealedExeOpenTree(b *testing.B) {
	bin := copyOfSelf(b)
	for i := 0; i < b.N; i++ {
		f, err := seal(bin)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

func BenchmarkSealedExeMemfdCopy(b *testing.B) {
	bin := copyOfSelf(b)
	for i := 0; i < b.N; i++ {
		f, err := memfdCopy(bin)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}
