package carddav

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"tandem/sync/trace"
)

// A cursor is the sync token, optionally followed by ctagSep and the
// address book's getctag as read at the token's state. A cursor with a
// ctag lets Changes skip the sync-collection REPORT when the ctag has not
// moved: on file-backed servers (Radicale) that REPORT reads every card and
// its history, about twice the work of computing the ctag.
//
// A ctag is attached only when it is known to describe the token's state:
// it was read before the REPORT that gave the token and that REPORT listed
// nothing changed (so nothing changed in between either). An equal ctag
// later then means the same contents as at the token (a server's ctag
// changes with every member change), and nothing needs listing.
const ctagSep = " ctag="

// cursorParts splits a cursor; a plain token (older cursors) has no ctag.
// Sync tokens are URIs, which hold no space, so the first ctagSep splits.
func cursorParts(cursor string) (token, ctag string) {
	token, ctag, _ = strings.Cut(cursor, ctagSep)
	return token, ctag
}

func joinCursor(token, ctag string) string {
	if token == "" || ctag == "" {
		return token
	}
	return token + ctagSep + ctag
}

const ctagBody = xmlHead + `<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/"><D:prop>` +
	`<CS:getctag/></D:prop></D:propfind>`

// discoveryCtag returns the ctag read while the address book was resolved,
// once: only the Changes call that resolved it may trust it as current
// ("" after that, and when the server has none).
func (c *conn) discoveryCtag() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ctagNew {
		return ""
	}
	c.ctagNew = false
	return c.ctag
}

// readCtag reads the address book's ctag; "" when the server has none or
// the read failed.
func (c *conn) readCtag(ctx context.Context, book *url.URL) string {
	resp, err := c.expect(ctx, request{method: "PROPFIND", url: book.String(),
		header: map[string]string{"Depth": "0"}, body: []byte(ctagBody)}, http.StatusMultiStatus)
	if err != nil {
		return ""
	}
	es, _, err := parseMultistatus(resp.body, resp.url)
	if err != nil {
		return ""
	}
	for _, e := range es {
		if strings.TrimSuffix(e.path, "/") == strings.TrimSuffix(book.Path, "/") {
			return e.ctag
		}
	}
	return ""
}

// resetOwn forgets the writes of an earlier run (a new listing starts one).
func (c *conn) resetOwn() {
	c.ownMu.Lock()
	c.own = nil
	c.ownMu.Unlock()
}

// noteOwn remembers a write the server accepted: the card's new etag, or
// "" when it was deleted.
func (c *conn) noteOwn(id, etag string) {
	c.ownMu.Lock()
	if c.own == nil {
		c.own = map[string]string{}
	}
	c.own[id] = etag
	c.ownMu.Unlock()
}

// AdvanceCursor returns a cursor past this connection's own writes since
// cursor (the one its Changes returned in this run), or cursor itself when
// it wrote nothing or anything else changed meanwhile. Without it, the next
// run's REPORT would list every card this run wrote, only for the engine to
// skip them as echoes.
//
// It reads the ctag, then asks for the changes since cursor's token; it
// advances only when every change listed is one of ours: a card with the
// etag our PUT got back, or a card we deleted. Those are exactly the items
// the next run would skip as our own writes (their listed version is the
// one stored from our write), so no other client's change is passed over:
// one made before the REPORT is listed and stops the advance; one made
// after it moves the ctag and the token.
//
// The engine must call it only after this run's write results are
// committed and only when it is about to store cursor (not when it keeps
// an older one to retry a failed record).
func (c *conn) AdvanceCursor(ctx context.Context, cursor string) string {
	c.ownMu.Lock()
	own := c.own
	c.own = nil
	c.ownMu.Unlock()
	token, _ := cursorParts(cursor)
	if len(own) == 0 || token == "" {
		return cursor
	}
	book, err := c.addressBook(ctx)
	if err != nil {
		return cursor
	}
	ctag := c.readCtag(ctx, book) // after our writes, before the REPORT
	ch, err := c.syncCollection(ctx, book, token)
	if err != nil || ch.Cursor == "" {
		return cursor
	}
	for _, it := range ch.Items {
		etag, ok := own[it.ID]
		if !ok || it.Deleted != (etag == "") || (!it.Deleted && it.Version != etag) {
			trace.Mark("carddav: cursor kept: %s changed by another client", it.ID)
			return cursor
		}
	}
	trace.Mark("carddav: cursor advanced past %d own writes", len(ch.Items))
	return joinCursor(ch.Cursor, ctag)
}
