//go:build !linux

package vcarddir

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// batchSync is Linux only (syncfs); elsewhere every file is fsynced before
// its rename.
func batchSync(path string) bool { return false }

func syncFS(dir *os.File) error { return errors.ErrUnsupported }

var errNoUnnamed = errors.New("unnamed files not supported")

// unnamedFile: O_TMPFILE is Linux only; createUnnamed never makes one here.
type unnamedFile struct{}

func createUnnamed(dir string, perm fs.FileMode) (*unnamedFile, error) { return nil, errNoUnnamed }

func (f *unnamedFile) Write(b []byte) (int, error)  { return 0, errNoUnnamed }
func (f *unnamedFile) Chmod(perm fs.FileMode) error { return errNoUnnamed }
func (f *unnamedFile) Sync() error                  { return errNoUnnamed }
func (f *unnamedFile) Stat() (statInfo, error)      { return statInfo{}, errNoUnnamed }
func (f *unnamedFile) Close() error                 { return nil }
func linkUnnamed(f *unnamedFile, dir *os.File, dirPath, name string) error {
	return errNoUnnamed
}
func (i statInfo) withPerm(perm fs.FileMode) statInfo { panic("unreachable: no unnamed files here") }

type statInfo struct{ fs.FileInfo }

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

// fileInfo is what readIn tells of a file.
type fileInfo struct {
	size, mtime int64
	perm        fs.FileMode
	regular     bool
	known       bool // the file was found and stated
}

// readIn reads name in the folder.
func readIn(dir *os.File, dirPath, name string) ([]byte, fileInfo, error) {
	f, err := os.Open(filepath.Join(dirPath, name))
	if err != nil {
		return nil, fileInfo{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fileInfo{}, err
	}
	fi := fileInfo{size: st.Size(), mtime: st.ModTime().UnixNano(), perm: st.Mode().Perm(), regular: st.Mode().IsRegular(), known: true}
	if !fi.regular {
		return nil, fi, nil
	}
	data, err := readAll(f, st.Size())
	return data, fi, err
}

// readAll reads a file of the given size, in one read call when the size
// is right (a short read of a regular file is its end).
func readAll(f *os.File, size int64) ([]byte, error) {
	buf := make([]byte, size+1)
	n, err := f.Read(buf)
	if err == io.EOF {
		return buf[:0], nil
	}
	if err != nil {
		return nil, err
	}
	if n < len(buf) {
		return buf[:n], nil
	}
	rest, err := io.ReadAll(f) // the file grew since the stat
	return append(buf[:n], rest...), err
}

func littleDirty() bool { return false }

func worthFlushingEarly() bool { return false }

// roundSize is applyRound; elsewhere a staged file is closed until renamed.
func roundSize() int { return 1000 }

// listDir reads a folder's entries.
func listDir(dir *os.File) ([]dirEntry, error) {
	ents, err := dir.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	out := make([]dirEntry, len(ents))
	for i, e := range ents {
		out[i] = dirEntry{name: e.Name(), kind: kindOf(e)}
	}
	return out, nil
}

// holdInode: elsewhere a replaced file is freed in the rename (-1: not held).
func holdInode(path string) int { return -1 }

func releaseInodes(fds []int) {}
