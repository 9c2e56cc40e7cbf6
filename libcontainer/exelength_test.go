package libcontainer

import (
	"os"
	"path/filepath"
	"testing"
)

// The memfd copy of berth stops where ExeLength says berth ends (the image
// puller appended after it is not copied).
func TestMemfdCopyStopsAtExeLength(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(p, []byte("berth-part|appended-part"), 0o755); err != nil {
		t.Fatal(err)
	}
	defer func(old func(*os.File) int64) { ExeLength = old }(ExeLength)
	for want, fn := range map[int64]func(*os.File) int64{
		10: func(*os.File) int64 { return 10 },
		24: func(*os.File) int64 { return -1 },
	} {
		ExeLength = fn
		f, err := memfdCopy(p)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		f.Close()
		if st.Size() != want {
			t.Errorf("copied %d bytes, want %d", st.Size(), want)
		}
	}
}
