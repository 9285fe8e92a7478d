//go:build !linux

package vcarddir

import (
	"errors"
	"os"
	"path/filepath"
)

// batchSync is Linux only (syncfs); elsewhere every file is fsynced before
// its rename.
func batchSync(path string) bool { return false }

func syncFS(dir *os.File) error { return errors.ErrUnsupported }

var errNoUnnamed = errors.New("unnamed files not supported")

func createUnnamed(dir string) (*os.File, error) { return nil, errNoUnnamed }

func linkUnnamed(f *os.File, path string) error { return errNoUnnamed }

// renameNew renames a new card into place (a name taken meanwhile is replaced,
// which the name reservation makes unlikely).
func renameNew(from, to string) error { return os.Rename(from, to) }

// statIn stats name in the folder, following a symbolic link if told.
func statIn(dir *os.File, dirPath, name string, follow bool) (size, mtime int64, regular bool, err error) {
	stat := os.Lstat
	if follow {
		stat = os.Stat
	}
	fi, err := stat(filepath.Join(dirPath, name))
	if err != nil {
		return 0, 0, false, err
	}
	return fi.Size(), fi.ModTime().UnixNano(), fi.Mode().IsRegular(), nil
}
