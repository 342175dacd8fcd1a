package broker

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// The data directory carries a .lock file held with flock while a broker
// runs, as Kafka's log directories do, so two processes never write the same
// logs.
var dirLocks = struct {
	sync.Mutex
	files map[string]*os.File
}{files: map[string]*os.File{}}

func lockDataDir(dir string) error {
	path := filepath.Join(dir, ".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("data directory %s is in use by another process: %w", dir, err)
	}
	dirLocks.Lock()
	dirLocks.files[dir] = f
	dirLocks.Unlock()
	return nil
}

func unlockDataDir(dir string) {
	dirLocks.Lock()
	f := dirLocks.files[dir]
	delete(dirLocks.files, dir)
	dirLocks.Unlock()
	if f != nil {
		f.Close() // closing releases the flock
	}
}
