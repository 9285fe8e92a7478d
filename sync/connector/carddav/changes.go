package carddav

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"tandem/sync/connector"
	"tandem/sync/connector/vcardtext"
)

// maxSyncPages bounds the follow-ups of a truncated sync-collection answer.
const maxSyncPages = 1000

// errBadToken reports that the server no longer accepts a sync token.
type errBadToken struct{}

func (errBadToken) Error() string { return "sync token no longer valid" }

// errNoSync reports that the server does not do sync-collection.
type errNoSync struct{}

func (errNoSync) Error() string { return "sync-collection not supported" }

// Changes lists what changed since cursor (a sync token, maybe with a ctag:
// see ctagSep); "" lists all.
func (c *conn) Changes(ctx context.Context, cursor string) (connector.Changes, error) {
	c.resetOwn()
	c.mu.Lock()
	c.ctagNew = false // only a ctag read by this call's own discovery is current
	c.mu.Unlock()
	book, err := c.addressBook(ctx)
	if err != nil {
		return connector.Changes{}, err
	}
	c.mu.Lock()
	noSync := c.syncBad
	c.mu.Unlock()
	if !noSync {
		token, was := cursorParts(cursor)
		// A long-lived connection resolved the book earlier: its ctag is
		// stale, and this call lists by token alone.
		ctag := c.discoveryCtag()
		if token != "" && was != "" && ctag == was {
			return connector.Changes{Cursor: cursor}, nil // nothing moved since the token
		}
		ch, err := c.syncCollection(ctx, book, token)
		if _, bad := err.(errBadToken); bad && token != "" {
			// The token expired or belongs to another collection: start over.
			ch, err = c.syncCollection(ctx, book, "")
			ch.Full = true
		}
		switch err.(type) {
		case nil:
			c.mu.Lock()
			c.syncOK = true
			c.mu.Unlock()
			if !ch.Full && len(ch.Items) == 0 {
				// Nothing changed from the old token to the new one, so
				// nothing did between the ctag read and the REPORT either.
				ch.Cursor = joinCursor(ch.Cursor, ctag)
			}
			return ch, nil
		case errNoSync, errBadToken:
			c.mu.Lock()
			c.syncBad = true
			c.mu.Unlock()
		default:
			return connector.Changes{}, err
		}
	}
	items, err := c.etagListing(ctx, book)
	if err != nil {
		return connector.Changes{}, err
	}
	return connector.Changes{Items: items, Full: true}, nil
}

// syncCollection runs sync-collection REPORTs from token until the server
// says it is complete (a 507 on the collection means "more to come").
func (c *conn) syncCollection(ctx context.Context, bookURL *url.URL, token string) (connector.Changes, error) {
	ch := connector.Changes{Full: token == ""}
	seen := map[string]int{}
	for page := 0; page < maxSyncPages; page++ {
		body := xmlHead + `<D:sync-collection xmlns:D="DAV:"><D:sync-token>` + xmlText(token) +
			`</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>`
		r := request{method: "REPORT", url: bookURL.String(), body: []byte(body)}
		resp, err := c.send(ctx, r)
		if err != nil {
			return ch, err
		}
		switch {
		case resp.code == http.StatusMultiStatus:
		case (resp.code == http.StatusForbidden || resp.code == http.StatusConflict) &&
			strings.Contains(string(resp.body), "valid-sync-token"):
			return ch, errBadToken{}
		case resp.code == http.StatusForbidden && strings.Contains(string(resp.body), "supported-report"),
			resp.code == http.StatusBadRequest, resp.code == http.StatusNotFound && token == "",
			resp.code == http.StatusMethodNotAllowed, resp.code == http.StatusNotImplemented,
			resp.code == http.StatusUnsupportedMediaType:
			return ch, errNoSync{}
		default:
			return ch, c.classify(resp.statusError(r))
		}
		entries, next, err := parseMultistatus(resp.body, resp.url)
		if err != nil {
			return ch, fmt.Errorf("CardDAV server for %q: %v", c.name, err)
		}
		truncated := false
		for _, e := range entries {
			id := idOf(bookURL, e.path)
			if id == "" {
				if e.code == http.StatusInsufficientStorage {
					truncated = true
				}
				continue
			}
			it := connector.Item{ID: id, Version: e.etag}
			if e.code == http.StatusNotFound {
				it = connector.Item{ID: id, Deleted: true}
			} else if e.code/100 != 2 {
				continue
			}
			if i, ok := seen[id]; ok { // a later page wins
				ch.Items[i] = it
				continue
			}
			seen[id] = len(ch.Items)
			ch.Items = append(ch.Items, it)
		}
		if next == "" {
			return ch, fmt.Errorf("CardDAV server for %q gave no sync token", c.name)
		}
		ch.Cursor = next
		if !truncated || next == token {
			return ch, nil
		}
		token = next
	}
	return ch, nil
}

// etagListing lists every card with its etag (PROPFIND Depth 1).
func (c *conn) etagListing(ctx context.Context, book *url.URL) ([]connector.Item, error) {
	body := xmlHead + `<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getetag/></D:prop></D:propfind>`
	entries, err := c.multistatus(ctx, "PROPFIND", book, "1", body)
	if err != nil {
		return nil, err
	}
	items := make([]connector.Item, 0, len(entries))
	for _, e := range entries {
		id := idOf(book, e.path)
		if id == "" || e.collection || e.code/100 != 2 {
			continue
		}
		items = append(items, connector.Item{ID: id, Version: e.etag})
	}
	return items, nil
}

// Get reads cards with addressbook-multiget, BatchSize at a time. Ids that
// do not exist are left out; a card that cannot be parsed comes back with
// Err set (wrapping connector.ErrInvalidRecord).
func (c *conn) Get(ctx context.Context, ids []string) ([]connector.Record, error) {
	book, err := c.addressBook(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]connector.Record, 0, len(ids))
	for start := 0; start < len(ids); start += BatchSize {
		end := min(start+BatchSize, len(ids))
		cards, err := c.multiget(ctx, book, ids[start:end])
		if err != nil {
			return nil, err
		}
		for _, id := range ids[start:end] {
			if cd, ok := cards[id]; ok {
				out = append(out, c.record(cd))
			}
		}
	}
	return out, nil
}

// fetched is one card as read from the server.
type fetched struct {
	id   string
	etag string
	mod  entry
	card *vcardtext.Card
	err  error
}

// multiget reads up to BatchSize cards in one REPORT; the map is keyed by id.
func (c *conn) multiget(ctx context.Context, book *url.URL, ids []string) (map[string]*fetched, error) {
	var b strings.Builder
	b.WriteString(xmlHead + `<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">` +
		`<D:prop><D:getetag/><D:getlastmodified/><C:address-data/></D:prop>`)
	n := 0
	for _, id := range ids {
		if !validID(id) {
			continue
		}
		b.WriteString("<D:href>" + xmlText(hrefOf(book, id).EscapedPath()) + "</D:href>")
		n++
	}
	b.WriteString("</C:addressbook-multiget>")
	out := make(map[string]*fetched, len(ids))
	if n == 0 {
		return out, nil
	}
	entries, err := c.multistatus(ctx, "REPORT", book, "1", b.String())
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		id := idOf(book, e.path)
		if id == "" || e.code/100 != 2 {
			continue
		}
		f := &fetched{id: id, etag: e.etag, mod: e}
		if e.data == nil {
			f.err = fmt.Errorf("%w: the server sent no vCard data for %s", connector.ErrInvalidRecord, id)
		} else {
			f.card, f.err = vcardtext.Parse([]byte(*e.data))
			if f.err != nil {
				f.err = fmt.Errorf("%w: %s: %v", connector.ErrInvalidRecord, id, f.err)
			}
		}
		out[id] = f
	}
	return out, nil
}

func (c *conn) record(f *fetched) connector.Record {
	r := connector.Record{ID: f.id, Version: f.etag, Modified: f.mod.modified, Err: f.err}
	if f.err != nil {
		return r
	}
	r.Fields = f.card.Read(c.fields)
	if r.Modified.IsZero() {
		if t, err := f.card.Revision(); err == nil {
			r.Modified = t
		}
	}
	return r
}

// validID rejects ids that are not a single path segment.
func validID(id string) bool {
	return id != "" && id != "." && id != ".." && !strings.ContainsAny(id, "/\\")
}
