package rootfs

import "testing"

// FuzzParseOptions: any list of mount options parses without a panic, and
// "bind" or "rbind" always make a bind mount.
func FuzzParseOptions(f *testing.F) {
	f.Add("rbind,ro,nosuid", "none")
	f.Add("mode=755,size=65536k", "tmpfs")
	f.Add("rshared,private,rro,tmpcopyup", "tmpfs")
	f.Fuzz(func(t *testing.T, opts, fsType string) {
		var list []string
		start := 0
		for i := 0; i <= len(opts); i++ {
			if i == len(opts) || opts[i] == ',' {
				list = append(list, opts[start:i])
				start = i + 1
			}
		}
		o := parseOptions(list, fsType)
		for _, opt := range list {
			if (opt == "bind" || opt == "rbind") && !o.bind {
				t.Fatalf("%q did not make a bind mount", opts)
			}
		}
		_ = o.dataString()
	})
}
