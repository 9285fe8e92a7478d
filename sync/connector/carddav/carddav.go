// Package carddav is the "carddav" connector: one address book on a CardDAV
// server (Nextcloud, iCloud, Fastmail, Radicale, Baikal, Google where it
// allows Basic auth), reached with HTTP Basic auth.
//
// Settings: "url" is the address book's URL, or any URL of the server from
// which the principal, its address book home set and its address books are
// discovered (RFC 6764 /.well-known/carddav is tried too); when several
// address books are found, the one whose path is the URL's path is taken,
// else the first. "username" is the account; the password is the
// connection's secret.
//
// Record ids are the card's href relative to the address book, that is its
// last path segment unescaped (e.g. "3f2a....vcf"); versions are etags in
// their quoted form. Fields are named as in package vcardfields. Cards are
// read and edited with package vcardtext: an update rewrites only the lines
// of the properties it changes and PUTs the card with every other byte as
// the server served it.
//
// Changes uses sync-collection (RFC 6578) with the sync token as the cursor;
// an empty cursor or a token the server no longer accepts gives a full
// listing (Changes.Full). Servers without sync-collection are listed by etag
// (PROPFIND Depth 1) on every run. Listings carry ids and versions only; Get
// reads cards with addressbook-multiget in batches of 100. The cursor may
// also carry the address book's getctag: an unchanged ctag means nothing to
// list, and the REPORT is skipped. AdvanceCursor moves a cursor past the
// run's own writes, so the next run does not list them again.
//
// Writes are conditional: creates PUT a new "<uuid>.vcf" with
// If-None-Match: *, updates read the current card, change only the given
// fields and PUT it back with If-Match, deletes send If-Match. A 412 comes
// back wrapping connector.ErrVersionMismatch.
package carddav

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-webdav/carddav"

	"tandem/sync/connector"
	"tandem/sync/connector/httpx"
)

// Kind is the connector kind's name.
const Kind = "carddav"

// BatchSize is the number of cards read with one addressbook-multiget.
const BatchSize = 100

// DefaultFields are read when the pair maps no field list.
var DefaultFields = []string{"UID", "FN", "N.family", "N.given", "N.middle", "N.prefix", "N.suffix",
	"EMAIL", "TEL", "BDAY", "NOTE", "ORG", "TITLE",
	"ADR.street", "ADR.locality", "ADR.region", "ADR.postal_code", "ADR.country"}

func init() {
	connector.Register(connector.Kind{
		Name:  Kind,
		Label: "CardDAV address book",
		Settings: []connector.Setting{
			{Key: "url", Label: "Server or address book URL", Required: true,
				Hint: "e.g. https://cloud.example.com/remote.php/dav/ or the address book's own URL"},
			{Key: "username", Label: "Username", Required: true},
		},
		NeedsSecret: true,
		SecretLabel: "Password",
		Open:        Open,
	})
}

type conn struct {
	name   string
	base   *url.URL
	user   string
	pass   string
	fields []string
	http   doer

	mu      sync.Mutex
	book    *url.URL // resolved address book collection (path ends in "/")
	syncOK  bool     // the server advertises or accepted sync-collection
	syncBad bool     // the server refused sync-collection: list by etag
	ctag    string   // getctag read when the book was resolved
	ctagNew bool     // ctag not yet used by a Changes call

	ownMu sync.Mutex
	own   map[string]string // this run's successful writes: id -> etag ("" = deleted)
}

// Open opens a connection; nothing is sent before the first call.
func Open(cfg connector.Config) (connector.Connector, error) {
	hc := newHTTPClient()
	hc.Timeout = 0 // httpx bounds each attempt
	return open(cfg, httpx.New(httpx.Options{
		HTTPClient:  hc,
		Timeout:     2 * time.Minute,
		MaxRetries:  2,
		BaseBackoff: 300 * time.Millisecond,
		MaxBackoff:  3 * time.Second,
	}))
}

func open(cfg connector.Config, d doer) (*conn, error) {
	raw := strings.TrimSpace(cfg.Settings["url"])
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("connection %q: %q is not an http(s) URL", cfg.Name, raw)
	}
	user := strings.TrimSpace(cfg.Settings["username"])
	if u.User != nil { // credentials never stay in the URL
		if user == "" {
			user = u.User.Username()
		}
		u.User = nil
	}
	if u.Path == "" {
		u.Path = "/"
	}
	u.RawQuery, u.Fragment, u.RawPath = "", "", ""
	fields := cfg.Fields
	if len(fields) == 0 {
		fields = DefaultFields
	}
	return &conn{name: cfg.Name, base: u, user: user, pass: cfg.Secret, fields: fields, http: d}, nil
}

func (c *conn) Capabilities() connector.Capabilities {
	return connector.Capabilities{Incremental: true, Conditional: true, MaxBatch: BatchSize}
}

func (c *conn) Close() error {
	if hc, ok := c.http.(interface{ CloseIdleConnections() }); ok {
		hc.CloseIdleConnections()
	}
	return nil
}

// Test checks that the server answers, accepts the credentials and has an
// address book, with a plain message when not.
func (c *conn) Test(ctx context.Context) error {
	c.mu.Lock()
	c.book = nil
	c.mu.Unlock()
	book, err := c.addressBook(ctx)
	if err != nil {
		switch {
		case errors.Is(err, connector.ErrAuth), errors.Is(err, connector.ErrUnreachable):
			return err
		}
		return fmt.Errorf("CardDAV server at %s answered, but no address book was found for %q: %v", c.base.Host, c.name, err)
	}
	// One cheap read proves the address book is readable.
	if _, err := c.expect(ctx, request{method: "PROPFIND", url: book.String(),
		header: map[string]string{"Depth": "0"}, body: []byte(propfindBody)}, http.StatusMultiStatus); err != nil {
		return err
	}
	return nil
}

const propfindBody = xmlHead + `<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop>` +
	`<D:resourcetype/><D:supported-report-set/></D:prop></D:propfind>`

// addressBook returns the address book's URL, discovering it once.
func (c *conn) addressBook(ctx context.Context) (*url.URL, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.book != nil {
		return c.book, nil
	}
	// The URL may be the address book itself.
	if e, err := c.propfind0(ctx, c.base); err == nil && e.addressBook {
		c.setBook(c.base, e)
		return c.book, nil
	} else if err != nil && (errors.Is(err, connector.ErrAuth) || errors.Is(err, connector.ErrUnreachable) || ctx.Err() != nil) {
		return nil, err
	}
	books, err := c.discover(ctx, c.base)
	if err != nil && !errors.Is(err, connector.ErrAuth) && !errors.Is(err, connector.ErrUnreachable) && ctx.Err() == nil {
		// RFC 6764: the well-known URL redirects to the context path.
		wk := c.base.ResolveReference(&url.URL{Path: "/.well-known/carddav"})
		resp, werr := c.send(ctx, request{method: "PROPFIND", url: wk.String(), header: map[string]string{"Depth": "0"},
			body: []byte(propfindBody)})
		if werr == nil && resp.url != nil && resp.url.Path != wk.Path {
			ctxURL := *resp.url
			ctxURL.RawQuery = ""
			if books2, err2 := c.discover(ctx, &ctxURL); err2 == nil {
				books, err = books2, nil
			}
		}
	}
	if err != nil {
		return nil, err
	}
	if len(books) == 0 {
		return nil, fmt.Errorf("the account has no address book")
	}
	chosen := books[0]
	want := strings.TrimSuffix(c.base.Path, "/")
	for _, b := range books {
		if strings.TrimSuffix(b.Path, "/") == want {
			chosen = b
			break
		}
	}
	u := c.base.ResolveReference(&url.URL{Path: chosen.Path})
	e, err := c.propfind0(ctx, u)
	if err != nil {
		return nil, err
	}
	c.setBook(u, e)
	return c.book, nil
}

func (c *conn) setBook(u *url.URL, e entry) {
	b := *u
	if !strings.HasSuffix(b.Path, "/") {
		b.Path += "/"
	}
	c.book = &b
	c.ctag, c.ctagNew = e.ctag, true
	if e.reports != nil {
		c.syncOK = e.reports["sync-collection"]
		c.syncBad = !c.syncOK
	}
}

// discover finds the address books from a server URL with go-webdav:
// current-user-principal, then addressbook-home-set, then the books.
func (c *conn) discover(ctx context.Context, endpoint *url.URL) ([]carddav.AddressBook, error) {
	cl, err := carddav.NewClient(authDoer{c}, endpoint.String())
	if err != nil {
		return nil, err
	}
	principal, err := cl.FindCurrentUserPrincipal(ctx)
	if err != nil {
		return nil, fmt.Errorf("finding the account's principal: %w", err)
	}
	home, err := cl.FindAddressBookHomeSet(ctx, principal)
	if err != nil {
		return nil, fmt.Errorf("finding the address book home: %w", err)
	}
	books, err := cl.FindAddressBooks(ctx, home)
	if err != nil {
		return nil, fmt.Errorf("listing address books: %w", err)
	}
	return books, nil
}

// propfindBookBody also asks for getctag, which Changes compares with the
// cursor's: the same request, no extra round trip.
const propfindBookBody = xmlHead + `<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/"><D:prop>` +
	`<D:resourcetype/><D:supported-report-set/><CS:getctag/></D:prop></D:propfind>`

// propfind0 reads a collection's resource type, supported reports and ctag.
func (c *conn) propfind0(ctx context.Context, u *url.URL) (entry, error) {
	resp, err := c.expect(ctx, request{method: "PROPFIND", url: u.String(), header: map[string]string{"Depth": "0"},
		body: []byte(propfindBookBody)}, http.StatusMultiStatus)
	if err != nil {
		return entry{}, err
	}
	es, _, err := parseMultistatus(resp.body, resp.url)
	if err != nil {
		return entry{}, err
	}
	for _, e := range es {
		if strings.TrimSuffix(e.path, "/") == strings.TrimSuffix(resp.url.Path, "/") {
			return e, nil
		}
	}
	if len(es) == 1 {
		return es[0], nil
	}
	return entry{}, fmt.Errorf("PROPFIND %s: no answer for the collection", u.Path)
}

// idOf returns the record id of a member path, or "" when the path is not
// a card of the address book (the book itself, a sub-collection, elsewhere).
func idOf(book *url.URL, p string) string {
	dir := book.Path
	if !strings.HasPrefix(p, dir) {
		return ""
	}
	rest := p[len(dir):]
	if rest == "" || strings.Contains(strings.TrimSuffix(rest, "/"), "/") || strings.HasSuffix(rest, "/") {
		return ""
	}
	return rest
}

// hrefOf returns the URL of a record id.
func hrefOf(book *url.URL, id string) *url.URL {
	u := *book
	u.Path = path.Join(book.Path, id)
	u.RawPath = ""
	return &u
}
