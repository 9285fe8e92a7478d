package models

import "modernc.org/libc"

// The pure-Go SQLite allocates from modernc.org/memory, which hands out
// small blocks from 64 KiB pages per size class and unmaps a page the
// moment its last block is freed. SQLite frees and allocates the same sizes
// all the time (a statement's scratch space, a page-cache page), so a class
// with no other live block paid an mmap and a munmap per use: about a tenth
// of the time of inserting 10,000 mappings. One block per class that is
// never freed keeps each class's first page mapped.
func init() {
	tls := libc.NewTLS()
	defer tls.Close()
	for log := 4; log <= 14; log++ { // the allocator's slot sizes, 16 B to 16 KiB
		libc.Xmalloc(tls, libc.Tsize_t(1<<log-8))
	}
}
