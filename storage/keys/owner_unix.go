//go:build unix

package keys

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// checkOwner refuses a key file owned by anyone but this process's
// effective user or root: another user could replace its keys.
func checkOwner(path string, info fs.FileInfo) error {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := int(st.Uid); uid != os.Geteuid() && uid != 0 {
		return fmt.Errorf("keys: key file %s is owned by uid %d: it must be owned by uid %d (this process) or root", path, uid, os.Geteuid())
	}
	return nil
}
