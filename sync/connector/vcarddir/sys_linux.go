//go:build linux

package vcarddir

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// batchSync tells whether the folder at path gets one syncfs per round of
// writes instead of one fsync per file. Each fsync of a new file is a
// journal commit (a disk flush); a first sync of 10,000 cards made 10,000
// of them. Only on local file systems whose syncfs writes back and flushes
// like fsync does (not network or FUSE ones), and only since Linux 5.8,
// when syncfs began to report write-back errors: elsewhere the fsync per
// file stays, so a failed write is never renamed into place unnoticed.
func batchSync(path string) bool {
	var st unix.Statfs_t
	if !syncfsReportsErrors || unix.Statfs(path, &st) != nil {
		return false
	}
	switch uint32(st.Type) {
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC, unix.F2FS_SUPER_MAGIC, unix.TMPFS_MAGIC:
		return true
	}
	return false
}

var syncfsReportsErrors = kernelAtLeast(5, 8)

func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	rel := unix.ByteSliceToString(u.Release[:])
	parts := strings.SplitN(rel, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(strings.TrimLeftFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

// syncFS makes every file written so far on dir's file system durable.
func syncFS(dir *os.File) error { return unix.Syncfs(int(dir.Fd())) }

// errNoUnnamed: the file system cannot make unnamed files (O_TMPFILE).
var errNoUnnamed = errors.New("unnamed files not supported")

// unnamedFile is a file made with O_TMPFILE, used through its bare
// descriptor: os.NewFile asks a descriptor's flags (fcntl) and registers a
// cleanup, for each of a first sync's 10,000 new cards (10,000 such files
// on tmpfs: 230 ms through os.File, 180 ms bare).
type unnamedFile struct{ fd int }

// createUnnamed makes a file in dir that has no name yet (O_TMPFILE), with
// mode perm less the umask (stage corrects it when that differs): a crash
// before linkUnnamed leaves nothing behind, and naming it is one
// directory operation (a temporary name and a rename are two).
func createUnnamed(dir string, perm fs.FileMode) (*unnamedFile, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
			return nil, errNoUnnamed
		}
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return &unnamedFile{fd}, nil
}

func (f *unnamedFile) Write(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := unix.Write(f.fd, b[n:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return n, &os.PathError{Op: "write", Path: "(unnamed)", Err: err}
		}
		if m == 0 {
			return n, io.ErrUnexpectedEOF // as os.File says of a write that makes no progress
		}
		n += m
	}
	return n, nil
}

func (f *unnamedFile) Chmod(perm fs.FileMode) error {
	return ignoringEINTR(func() error { return unix.Fchmod(f.fd, uint32(perm.Perm())) })
}

func (f *unnamedFile) Sync() error {
	return ignoringEINTR(func() error { return unix.Fsync(f.fd) })
}

func (f *unnamedFile) Stat() (statInfo, error) {
	var st unix.Stat_t
	if err := ignoringEINTR(func() error { return unix.Fstat(f.fd, &st) }); err != nil {
		return statInfo{}, &os.PathError{Op: "stat", Path: "(unnamed)", Err: err}
	}
	return statInfo{st}, nil
}

func (f *unnamedFile) Close() error { return unix.Close(f.fd) }

func ignoringEINTR(call func() error) error {
	for {
		if err := call(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// statInfo is an unnamed file's fs.FileInfo (a regular file).
type statInfo struct{ st unix.Stat_t }

func (i statInfo) Name() string       { return "" }
func (i statInfo) Size() int64        { return i.st.Size }
func (i statInfo) Mode() fs.FileMode  { return fs.FileMode(i.st.Mode & 0o777) }
func (i statInfo) ModTime() time.Time { return time.Unix(i.st.Mtim.Unix()) }
func (i statInfo) IsDir() bool        { return false }
func (i statInfo) Sys() any           { return &i.st }

// withPerm is the same file after a chmod to perm (mtime and size stay).
func (i statInfo) withPerm(perm fs.FileMode) statInfo {
	i.st.Mode = i.st.Mode&^0o777 | uint32(perm.Perm())
	return i
}

// linkUnnamed gives an unnamed file the name name in the folder dir (or,
// with dir nil, the path dirPath/name); it never replaces a file
// (fs.ErrExist when the name is taken). errNoUnnamed when /proc is missing.
//
// It links the descriptor itself (AT_EMPTY_PATH) where the kernel lets
// this process (Linux 6.10 and later for a file it opened, or with
// CAP_DAC_READ_SEARCH): ~11 us a card here, against ~17 us through
// /proc/self/fd, whose path the kernel walks for every card. Elsewhere it
// links through /proc, relative to the open folder either way.
func linkUnnamed(f *unnamedFile, dir *os.File, dirPath, name string) error {
	dirfd, newPath := unix.AT_FDCWD, filepath.Join(dirPath, name)
	if dir != nil {
		dirfd, newPath = int(dir.Fd()), name
	}
	var err error
	if !flinkDenied.Load() {
		err = unix.Linkat(f.fd, "", dirfd, newPath, unix.AT_EMPTY_PATH)
		if !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EINVAL) {
			return linkErr(err, filepath.Join(dirPath, name))
		}
	}
	// not allowed (ENOENT, or EPERM/EINVAL from a sandbox): through /proc
	perr := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(f.fd), dirfd, newPath, unix.AT_SYMLINK_FOLLOW)
	if err != nil && perr == nil {
		flinkDenied.Store(true) // the folder is there: the kernel said no
	}
	if errors.Is(perr, unix.ENOENT) && !procFD() {
		return errNoUnnamed
	}
	return linkErr(perr, filepath.Join(dirPath, name))
}

// flinkDenied: this process may not link a descriptor (AT_EMPTY_PATH).
var flinkDenied atomic.Bool

func linkErr(err error, path string) error {
	if err == nil {
		return nil
	}
	return &os.LinkError{Op: "link", Old: "(unnamed)", New: path, Err: err}
}

func procFD() bool {
	_, err := os.Stat("/proc/self/fd")
	return err == nil
}

// renameNew renames a new card into place without replacing a file that
// appeared under that name meanwhile (fs.ErrExist then).
func renameNew(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		return os.Rename(from, to) // the file system cannot; as before
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}

// statIn stats name in the open folder dir (fstatat: no path to walk, ~15%
// cheaper than lstat of the full path), following a symbolic link if told.
func statIn(dir *os.File, dirPath, name string, follow bool) (size, mtime int64, regular bool, err error) {
	flags := unix.AT_SYMLINK_NOFOLLOW
	if follow {
		flags = 0
	}
	var st unix.Stat_t
	if err := unix.Fstatat(int(dir.Fd()), name, &st, flags); err != nil {
		return 0, 0, false, &os.PathError{Op: "stat", Path: name, Err: err}
	}
	return st.Size, st.Mtim.Nano(), st.Mode&unix.S_IFMT == unix.S_IFREG, nil
}

// fileInfo is what readIn tells of a file.
type fileInfo struct {
	size, mtime int64
	perm        fs.FileMode
	regular     bool
	known       bool // the file was found and stated
}

// readIn reads name in the open folder dir: openat, fstat, read, close on
// the bare descriptor. os.Open of a file costs 2 more system calls (fcntl
// for the poller) and walks the whole path; a listing of 10,000 read this
// way takes ~30% less time.
func readIn(dir *os.File, dirPath, name string) ([]byte, fileInfo, error) {
	fd, err := openToRead(dir, name)
	if err != nil {
		return nil, fileInfo{}, &os.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fileInfo{}, &os.PathError{Op: "stat", Path: name, Err: err}
	}
	fi := fileInfo{size: st.Size, mtime: st.Mtim.Nano(), perm: fs.FileMode(st.Mode & 0o777), regular: st.Mode&unix.S_IFMT == unix.S_IFREG, known: true}
	if !fi.regular {
		return nil, fi, nil
	}
	// one read call when the size is right (a short read of a regular file
	// is its end); more when the file grew since the stat
	buf := make([]byte, st.Size+1)
	n := 0
	for {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fi, &os.PathError{Op: "read", Path: name, Err: err}
		}
		n += m
		if m == 0 || n < len(buf) {
			return buf[:n], fi, nil
		}
		buf = append(buf, make([]byte, len(buf))...)
	}
}

// openToRead opens name in dir for reading without changing its access
// time where the kernel lets this process (O_NOATIME: the owner's files):
// the first read of a file written since its last read would otherwise
// update the time, which dirties the inode. After a program wrote 10,000
// cards, as the benchmark's generator does, reading them all dirtied 10,000
// inodes to write back, and a read waited on the write-back of its inode's
// block (no journal here: the flush ahead, flushEarly, writes inode blocks
// synchronously).
func openToRead(dir *os.File, name string) (int, error) {
	const flags = unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NONBLOCK // a FIFO does not block
	for {
		noatime := 0
		if !noatimeDenied.Load() {
			noatime = unix.O_NOATIME
		}
		fd, err := unix.Openat(int(dir.Fd()), name, flags|noatime, 0)
		switch {
		case err == unix.EINTR:
		case err == unix.EPERM && noatime != 0:
			noatimeDenied.Store(true) // not this process's file (or a file system that refuses it)
		default:
			return fd, err
		}
	}
}

// noatimeDenied: an O_NOATIME open failed with EPERM once; reads open
// files plainly from then on.
var noatimeDenied atomic.Bool

// dirtyLimit: syncfs is used only while the system holds less data than
// this waiting to be written back (Dirty + Writeback in /proc/meminfo):
// syncfs writes back all of it, not only our cards, and behind a big copy
// to the same disk it could take minutes where a fsync per card takes
// seconds. Not lower: another program that just wrote 20,000 small files
// leaves ~120 MB dirty (the vdirsyncer benchmark does), and below that a
// first sync of 10,000 cards fell back to a fsync per card: 2.7-3.5 s
// instead of 1.4-2.0 s with syncfs writing the other files too.
const dirtyLimit = 256 << 20

// littleDirty tells whether a syncfs now writes back little besides ours.
func littleDirty() bool {
	n, ok := dirtyBytes()
	return ok && n < dirtyLimit
}

// worthFlushingEarly tells whether enough data waits to be written back
// for a flush ahead of the rounds to pay (see flushEarly), and not so much
// that the rounds will fsync each card instead of syncfs.
func worthFlushingEarly() bool {
	n, ok := dirtyBytes()
	return ok && n >= earlyFlushMin && n < dirtyLimit
}

// earlyFlushMin: below this much dirty data a flush ahead gains nothing.
const earlyFlushMin = 4 << 20

// dirtyBytes is how much data the system holds waiting to be written back
// (ok false when /proc/meminfo cannot tell).
func dirtyBytes() (n int64, ok bool) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	return pendingWriteback(string(data))
}

// pendingWriteback sums Dirty and Writeback of a /proc/meminfo text, in
// bytes; ok is false when either is missing or unreadable.
func pendingWriteback(meminfo string) (n int64, ok bool) {
	seen := 0
	for _, line := range strings.Split(meminfo, "\n") {
		name, rest, found := strings.Cut(line, ":")
		if !found || name != "Dirty" && name != "Writeback" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, false
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, false
		}
		n += kb << 10
		seen++
	}
	return n, seen == 2
}

// roundSize is applyRound: 1,000, or a quarter of the open-file limit when
// that is lower.
func roundSize() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 256
	}
	return int(min(max(rl.Cur/4, 64), 1000))
}

// listDir reads a folder's entries with getdents64 into one large buffer,
// the names as substrings of one string per call. os.File.ReadDir reads
// 8 KiB a call and allocates an entry per file: twice the CPU for 10,000
// files (~9 ms against ~4.5 ms here), on every run.
//
// The entries come in inode order: a listing's cards are read in its order,
// and a first sync read 10,000 cards ~5% faster in it than in the folder's own
// (hash) order.
func listDir(dir *os.File) ([]dirEntry, error) {
	out, err := readDirents(dir)
	slices.SortFunc(out, func(a, b dirEntry) int { return cmp.Compare(a.ino, b.ino) })
	return out, err
}

func readDirents(dir *os.File) ([]dirEntry, error) {
	buf := make([]byte, 256<<10)
	fd := int(dir.Fd())
	var out []dirEntry
	for {
		n, err := unix.Getdents(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "readdirent", Path: dir.Name(), Err: err}
		}
		if n <= 0 {
			return out, nil
		}
		names := string(buf[:n])
		// struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name (NUL-terminated)
		for off := 0; off < n; {
			reclen := 0
			if off+19 <= n {
				reclen = int(binary.NativeEndian.Uint16(buf[off+16:]))
			}
			if reclen < 20 || off+reclen > n {
				return nil, &os.PathError{Op: "readdirent", Path: dir.Name(), Err: errors.New("malformed directory entry")}
			}
			end := bytes.IndexByte(buf[off+19:off+reclen], 0)
			if end < 0 {
				end = reclen - 19
			}
			ino, typ, name := binary.NativeEndian.Uint64(buf[off:]), buf[off+18], names[off+19:off+19+end]
			off += reclen
			if ino == 0 || name == "." || name == ".." || name == "" {
				continue
			}
			kind := kindUnknown
			switch typ {
			case unix.DT_REG:
				kind = kindFile
			case unix.DT_DIR:
				kind = kindDir
			case unix.DT_LNK:
				kind = kindLink
			case unix.DT_FIFO, unix.DT_SOCK, unix.DT_CHR, unix.DT_BLK:
				kind = kindOther
			}
			out = append(out, dirEntry{name, kind, ino})
		}
	}
}

// holdInode opens path as a reference only (O_PATH: no read, no write),
// -1 when it cannot; see heldInodes.
func holdInode(path string) int {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}

func releaseInodes(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
